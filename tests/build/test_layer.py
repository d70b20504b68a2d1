"""The layer `sam build` ships (layers/core/Makefile, BuildMethod makefile): its modules come with
.pyc that Lambda's Python uses as they are, whatever timestamps the deployment zip carries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if sys.version_info[:2] != (3, 13):
        pytest.skip("the layer is built with CPython 3.13, the Lambda runtime")
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    out = tmp_path_factory.mktemp("layer")
    subprocess.run(["make", "-s", "-C", str(ROOT / "layers" / "core"), "build-CoreLayer", f"ARTIFACTS_DIR={out}",
                    f"PYTHON={sys.executable}", "PLATFORM="], check=True, capture_output=True, timeout=600)
    return out / "python"


def test_every_module_of_the_layer_has_unchecked_hash_bytecode(built):
    sources = [p for p in built.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 100 and (built / "seedream" / "wiring.py") in sources
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
