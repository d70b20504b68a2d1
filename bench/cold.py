"""``cold_init_*``: wall time of a fresh ``python -S`` process importing a handler, Lambda-style.

The Lambda-like tree (``.bench/lambda``), rebuilt from the working tree on every run:
- ``python/``: the layer's requirements + boto3 (the pin in ``requirements-dev.txt``), installed once
  with the 3.13 base interpreter (``pip install --target``), reinstalled when a hash of those files
  changes; the ``seedream`` package is copied next to them on every run;
- ``functions/<name>/``: a copy of the handler's folder (``naive/`` holds the baseline file);
- ``compileall`` over all of it, so every import finds its ``.pyc``.
The child is ``python -S -c "import app"`` with the function's folder first on ``sys.path`` (cwd and
``PYTHONPATH``), then ``python/``; its environment is only the function's own variables resolved from
``template.yaml`` (dummy names for the resources) plus Lambda's runtime variables and dummy
credentials. Timed from the parent, spawn → exit, nothing subtracted. One untimed run per side
first warms the page cache and checks, with an audit hook, that the import touches no network
(no connect, no name lookup, nothing sent).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from local.template import ACCOUNT, REGION, Resolver, load_template

from .common import CACHE, LAYER, ROOT, Measure, N, paired_order, say, wanted

LAMBDA = CACHE / "lambda"
DEPS = LAMBDA / "python"
FUNCTIONS = LAMBDA / "functions"
STAMP = DEPS / ".bench-installed"

NAIVE = '''"""Naive handler (written by bench/cold.py): everything imported and built at the top, and the AWS and
HTTP clients the wiring built before this project's rewiring: a DynamoDB *resource*, four clients
and two httpx clients (one for providers, one for downloads)."""
import boto3
import httpx
import pydantic
from aws_lambda_powertools import Logger, Metrics, Tracer  # Tracer() itself needs aws_xray_sdk, not in the layer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

logger = Logger()
metrics = Metrics()
dynamodb = boto3.resource("dynamodb")
s3 = boto3.client("s3")
sqs = boto3.client("sqs")
events = boto3.client("events")
secretsmanager = boto3.client("secretsmanager")
provider_http = httpx.Client()
download_http = httpx.Client()


def lambda_handler(event, context):
    return {"statusCode": 200}
'''

# Run once per side before timing: fails if importing the handler resolved a name or sent anything.
# (urllib3 binds a socket to ::1 at import to learn whether IPv6 works: local, not network.)
AUDITED = """
import sys
seen = []
NET = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto",
       "socket.sendmsg")
sys.addaudithook(lambda event, args: seen.append(f"{event} {args!r:.160}") if event in NET else None)
import {module}
if seen:
    sys.stderr.write("the import used the network:\\n" + "\\n".join(seen))
    sys.exit(3)
"""


def base_python() -> str:
    """The 3.13 interpreter the venv was made from (Lambda's runtime is python3.13)."""
    python = getattr(sys, "_base_executable", None) or sys.executable
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if version != "True":
        raise SystemExit(f"bench: cold_init needs a python3.13 base interpreter, {python} is not one")
    return python


def boto3_pin() -> str:
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        if re.match(r"^boto3==", line.strip()):
            return line.strip()
    raise SystemExit("bench: no boto3== pin in requirements-dev.txt")


def install_deps(python: str) -> None:
    """``pip install --target python/`` the layer's requirements + boto3, unless the same set is there."""
    requirements = LAYER / "requirements.txt"
    pin = boto3_pin()
    key = hashlib.sha256(requirements.read_bytes() + pin.encode() + python.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == key:
        return
    say(f"cold: installing the layer's requirements + {pin} into {DEPS.relative_to(ROOT)} (once per requirements hash)")
    shutil.rmtree(DEPS, ignore_errors=True)
    DEPS.mkdir(parents=True)
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-warn-script-location", "--root-user-action=ignore", "--target", str(DEPS),
                           "-r", str(requirements), pin], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench: pip install failed:\n{done.stdout}\n{done.stderr}")
    compile_tree(python, DEPS)
    STAMP.write_text(key)


def compile_tree(python: str, path: Path) -> None:
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", str(path)], check=True, stdout=subprocess.DEVNULL)


def dummy_names(template: dict) -> tuple[dict, dict]:
    """What ``!Ref``/``!GetAtt`` give for each resource, with made-up names of the right shape."""
    names: dict[str, str] = {}
    attrs: dict[tuple[str, str], str] = {}
    for logical_id, resource in template["Resources"].items():
        kind, name = resource["Type"], f"seedream-bench-{logical_id.lower()}"
        if kind == "AWS::SQS::Queue":
            names[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            attrs[(logical_id, "QueueName")] = name
        elif kind == "AWS::SecretsManager::Secret":
            names[logical_id] = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
        elif kind == "AWS::DynamoDB::Table":
            names[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        elif kind == "AWS::S3::Bucket":
            names[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
        else:
            names[logical_id] = logical_id.lower()
    resolver = Resolver(template, names, attrs, {})
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Events::EventBus":
            names[logical_id] = str(resolver.value(resource["Properties"]["Name"]))
    return names, attrs


def function_specs(template: dict) -> dict[str, dict]:
    """Folder name (``api``...) → handler module, Lambda-like environment (without PYTHONPATH)."""
    names, attrs = dummy_names(template)
    resolver = Resolver(template, names, attrs, {})
    globals_ = template.get("Globals", {}).get("Function", {})
    specs = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        variables = {**globals_.get("Environment", {}).get("Variables", {}),
                     **props.get("Environment", {}).get("Variables", {})}
        env = {k: str(resolver.value(v)) for k, v in variables.items()}
        folder = Path(props["CodeUri"]).name
        handler = props["Handler"]
        env.update({
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
            "AWS_LAMBDA_FUNCTION_NAME": f"seedream-bench-{logical_id}", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", globals_.get("MemorySize", 128))),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "_HANDLER": handler,
        })
        specs[folder] = {"module": handler.rsplit(".", 1)[0], "env": env, "source": ROOT / props["CodeUri"]}
    return specs


def refresh_tree(python: str, specs: dict[str, dict]) -> None:
    """Copy ``seedream`` next to the dependencies and each handler folder (and the naive file) into place."""
    shutil.rmtree(DEPS / "seedream", ignore_errors=True)
    shutil.copytree(LAYER / "seedream", DEPS / "seedream", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.rmtree(FUNCTIONS, ignore_errors=True)
    for folder, spec in specs.items():
        shutil.copytree(spec["source"], FUNCTIONS / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (FUNCTIONS / "naive").mkdir(parents=True)
    (FUNCTIONS / "naive" / "app.py").write_text(NAIVE)
    compile_tree(python, DEPS / "seedream")
    compile_tree(python, FUNCTIONS)


def spawn(python: str, folder: Path, module: str, env: dict[str, str], code: str | None = None) -> float:
    env = env | {"PYTHONPATH": f"{folder}:{DEPS}"}
    started = time.perf_counter()
    done = subprocess.run([python, "-S", "-c", code or f"import {module}"], cwd=folder, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"bench: importing {folder / module}.py failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")
    return seconds


def run() -> list[Measure]:
    python = base_python()
    specs = function_specs(load_template())
    chosen = {f: s for f, s in specs.items() if wanted(f"cold_init_{f}")}
    if not chosen:
        return []
    install_deps(python)
    refresh_tree(python, specs)
    measures = {f: Measure(f"cold_init_{f}", "s") for f in chosen}
    naive = FUNCTIONS / "naive"
    for folder, spec in chosen.items():  # untimed: warm the page cache, prove the import touches no network
        spawn(python, FUNCTIONS / folder, spec["module"], spec["env"], AUDITED.replace("{module}", spec["module"]))
        spawn(python, naive, "app", spec["env"], AUDITED.replace("{module}", "app"))
    say(f"cold: {len(chosen)} handlers × {N} pairs of fresh processes (ours/baseline alternating)")
    for index in range(N):
        for folder, spec in chosen.items():
            taken = {}
            for side in paired_order(index):
                where, module = (FUNCTIONS / folder, spec["module"]) if side == "ours" else (naive, "app")
                taken[side] = spawn(python, where, module, spec["env"])
            measures[folder].add(taken["ours"], taken["baseline"])
        say(f"cold: pair {index + 1}/{N}: " + ", ".join(f"{f} {m.ours[-1]:.3f}/{m.baseline[-1]:.3f} s"
                                                       for f, m in measures.items()))
    return list(measures.values())


if __name__ == "__main__":
    for measure in run():
        print(json.dumps(measure.as_json()))
