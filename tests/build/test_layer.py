"""The layer `sam build` ships (layers/core/Makefile, BuildMethod makefile): built for Lambda's platform
(python3.13 on arm64: every native extension an aarch64 ELF, every requirement present at its pinned
version), and its modules come with .pyc that Lambda's Python uses as they are, whatever timestamps the
deployment zip carries.

Two builds: one exactly as ``sam build`` makes it (Lambda's wheels, from the package registry), one for this
machine (``PLATFORM=``) so that its bytecode can be run here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "core"
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked
EM_AARCH64 = 183  # ELF e_machine of arm64 (the Linux ABI's elf.h)
LAMBDA_GLIBC = (2, 34)  # Amazon Linux 2023, the python3.13 runtime (layers/core/Makefile says why)
NATIVE = {"pydantic-core": "pydantic_core", "cryptography": "cryptography", "pillow": "PIL"}
"""Distributions whose native extensions the functions import → the package directory that holds them."""


def build(out: Path, *platform: str) -> Path:
    """``make build-CoreLayer`` as ``sam build`` runs it (``platform`` = ``"PLATFORM=..."`` to override); the layer's root."""
    if sys.version_info[:2] != (3, 13):
        pytest.skip("the layer is built with CPython 3.13, the Lambda runtime")
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-s", "-C", str(LAYER), "build-CoreLayer", f"ARTIFACTS_DIR={out}",
                           f"PYTHON={sys.executable}", *platform], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "python"


@pytest.fixture(scope="module")
def lambda_layer(tmp_path_factory) -> Path:
    """The layer exactly as ``make build`` makes it: Lambda's (arm64) wheels."""
    return build(tmp_path_factory.mktemp("lambda-layer"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The same layer with this machine's wheels, so that its code can run here."""
    return build(tmp_path_factory.mktemp("layer"), "PLATFORM=")


def elf_machine(path: Path) -> int | None:
    """``e_machine`` of a little-endian 64-bit ELF file, or None when ``path`` is not one."""
    head = path.read_bytes()[:20]
    if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:  # ELFCLASS64, ELFDATA2LSB
        return None
    return int.from_bytes(head[18:20], "little")


def shared_objects(root: Path) -> list[Path]:
    """Every ``*.so`` and versioned ``*.so.N`` (the libraries wheels vendor, e.g. ``pillow.libs``) under ``root``."""
    return sorted(p for p in root.rglob("*") if p.is_file() and (p.suffix == ".so" or ".so." in p.name))


def test_every_native_extension_of_the_lambda_layer_is_an_aarch64_elf(lambda_layer):
    objects = shared_objects(lambda_layer)
    assert {path.relative_to(lambda_layer).parts[0] for path in objects} >= set(NATIVE.values())
    wrong = {str(path.relative_to(lambda_layer)): elf_machine(path) for path in objects
             if elf_machine(path) != EM_AARCH64}
    assert wrong == {}, f"not aarch64 ELF (e_machine): {wrong}"
    print(f"{len(objects)} shared objects, all aarch64 ELF")  # the figure the closing note quotes (pytest -s)


def test_every_wheel_of_the_lambda_layer_fits_lambdas_glibc(lambda_layer):
    tags = {dist.name: line.split(":", 1)[1].strip()
            for dist in lambda_layer.glob("*.dist-info") for line in (dist / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")}
    too_new = {name: tag for name, tag in tags.items() if "manylinux_" in tag
               and tuple(map(int, tag.split("manylinux_")[1].split("_")[:2])) > LAMBDA_GLIBC}
    assert too_new == {}
    assert not [tag for tag in tags.values() if "x86_64" in tag or "macosx" in tag or "win" in tag]


def test_every_requirement_is_in_the_lambda_layer_at_its_pinned_version(lambda_layer):
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=[str(lambda_layer)])}
    wanted = [Requirement(line.split("#")[0].strip()) for line in (LAYER / "requirements.txt").read_text().splitlines()
              if line.split("#")[0].strip()]
    assert len(wanted) >= 5
    wrong = {str(r): installed.get(canonicalize_name(r.name)) for r in wanted
             if installed.get(canonicalize_name(r.name)) not in r.specifier}
    assert wrong == {}
    extras = {canonicalize_name(r.name) for r in wanted if r.extras}  # aws-lambda-powertools[parser] needs pydantic
    assert extras and "pydantic" in installed
    assert (lambda_layer / "seedream" / "wiring.py").exists()


@pytest.mark.parametrize("layer", ["lambda_layer", "built"])
def test_every_module_of_the_layer_has_unchecked_hash_bytecode(layer, request):
    root = request.getfixturevalue(layer)
    sources = [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 100 and (root / "seedream" / "wiring.py") in sources
    missing, checked = [], []
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        if not cached.exists():
            missing.append(source)
        elif int.from_bytes(cached.read_bytes()[4:8], "little") != UNCHECKED_HASH:
            checked.append(source)
    assert missing == [] and checked == []


def test_the_bytecode_is_what_runs_even_when_the_zip_changes_every_timestamp(built):
    # SAM writes zip entries dated 1980; an unchecked-hash .pyc does not look at the source at all.
    settings = built / "seedream" / "settings.py"
    settings.write_text("this is not python\n")
    os.utime(settings, (315532800, 315532800))  # 1980-01-01
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(built)!r}); "
                             "from seedream.settings import Settings; print(Settings().presign_seconds)"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3600"
