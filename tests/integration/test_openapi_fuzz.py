"""schemathesis against the local stack: the API keeps the contract its OpenAPI document states.

``schemathesis run`` (in a subprocess, so its global hooks and settings stay out of this process) loads the
document the stack serves at ``GET /v1/openapi.json`` and sends SigV4-signed requests to every operation
(``schemathesis_hooks.py``): the examples phase (the document's example request), the coverage phase
(boundary and schema-violating values of every parameter and body field), the fuzzing phase (generated
cases, positive and negative), and the stateful phase (sequences along the document's links and the ones
schemathesis infers: createJob → getJob / cancelJob, cancelJob → getJob, listJobs → its next page, job ids
reused from earlier responses). The public webhook is fuzzed too: nothing the fuzzer sends it may be
anything but a 4xx.

Checks: all of schemathesis's, except
- ``positive_data_acceptance``: the door has rules a JSON schema cannot state (a source must be a public
  https host or an object in this stack's bucket; each provider's pixel and count limits), so a body that fits
  the schema is rightly refused with 422;
- ``missing_required_header``: the only required header is the SigV4 ``Authorization``, and this check wants
  401 without it; API Gateway (IAM auth) answers 403, which the document states (``ignored_auth`` still
  checks that every IAM route refuses a request without a signature, or with a made-up one);
- ``unsupported_method`` and ``allow_header_conformance``: API Gateway HTTP APIs answer an unrouted method with
  404 ``{"message":"Not Found"}``, not 405 with ``Allow`` (the local gateway does the same, on purpose);
- ``object_level_authorization``: needs identities from a Web Fuzzing Commons auth file; that a job is 404 to
  every caller but its owner is tested in ``test_refused_at_the_door.py``.

The run must end with no failure: no 5xx, no response that breaks its schema, status code, content type or
headers, no schema-violating request accepted, no IAM route that answers without a signature. Its summary is
printed with a table of the status codes each operation answered (``pytest -s`` shows them, and a failure shows
them in the assertion message); the table must show jobs created (202), read and listed (200) and cancelled (200,
then 409), so a run that only ever met the gateway's 403 cannot pass. ``FUZZ_MAX_EXAMPLES``
(default 200 per operation, about 40 s) and ``FUZZ_SEED`` (default fixed, so ``make test`` is reproducible; ``random``
explores anew) tune a run; ``FUZZ_KEEP=DIR`` keeps schemathesis's NDJSON report and crash cache there.

Before the fuzz, one job of the fuzz's caller succeeds and one fails (an output that is not an image), so
listJobs and getJob show the fuzzer finished jobs with outputs, attempts and errors. While it runs the submit
queue is held, so no fuzzed job reaches the provider simulator; afterwards every job it left open is
cancelled and the queue released: the shared stack goes on as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest

from local.client import JobsClient

from .conftest import wait_status

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CALLER = "schemathesis"
"""The access key id the fuzz signs with: on the local gateway, the caller that owns every job it creates."""
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "200"))
SEED = os.environ.get("FUZZ_SEED", "20261121")
EXCLUDED_CHECKS = ["positive_data_acceptance", "missing_required_header", "unsupported_method",
                   "allow_header_conformance", "object_level_authorization"]


def fuzz_client(stack) -> JobsClient:
    """A client that signs as the fuzz's caller."""
    session = boto3.session.Session(aws_access_key_id=CALLER, aws_secret_access_key="local",
                                    region_name=stack.session.region_name)
    return JobsClient(stack.api_url, session)


def open_jobs(client: JobsClient) -> list[str]:
    """The fuzz caller's jobs that are still open (queued or submitted), every page."""
    found: list[str] = []
    for status in ("queued", "submitted"):
        cursor = ""
        while True:
            page = client.request("GET", f"/v1/jobs?status={status}&limit=100" + (f"&cursor={cursor}" if cursor else ""))
            assert page.status_code == 200, page.text
            found += [job["job_id"] for job in page.json()["jobs"]]
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
    return found


def finished_jobs(stack, client: JobsClient, source_image: str) -> None:
    """One succeeded job (two outputs) and one failed one (``output_not_image``), owned by the fuzz's caller."""
    body = {"provider": "wavespeed", "model": "seedream-v4", "images": [source_image], "max_images": 2,
            "size": "1024*1024", "prompt": "Generate a series of 2 images of this astronaut"}
    succeeded = client.create_job(body).json()["job_id"]
    assert wait_status(stack, succeeded, "succeeded", "failed")["status"] == "succeeded"
    stack.simulator.set_faults(outputs="not_image", not_image_content_type="image/png")
    try:
        failed = client.create_job(body).json()["job_id"]
        assert wait_status(stack, failed, "succeeded", "failed")["status"] == "failed"
    finally:
        stack.simulator.reset_faults()


def statuses(report_dir: Path) -> Counter:
    """``(operation, status code)`` → how many responses, from schemathesis's NDJSON report of the run."""
    counts: Counter = Counter()
    for report in report_dir.glob("*.ndjson"):
        for line in report.read_text().splitlines():
            finished = json.loads(line).get("ScenarioFinished")
            if not finished:
                continue
            cases = finished["recorder"].get("cases", {})
            for case_id, interaction in finished["recorder"].get("interactions", {}).items():
                case = cases.get(case_id, {}).get("value", {})
                status = (interaction.get("response") or {}).get("status_code")
                counts[(f"{case.get('method')} {case.get('path')}", status)] += 1
    return counts


def table(counts: Counter, document: dict) -> str:
    """The status codes of each documented operation; the coverage phase's other methods summed on one line."""
    documented = [f"{method.upper()} {path}" for path, operations in document["paths"].items() for method in operations]
    lines = [f"  {operation:<38} " + "  ".join(f"{status}×{n}" for (o, status), n in sorted(
        counts.items(), key=lambda item: str(item[0][1])) if o == operation) for operation in documented]
    others = Counter()
    for (operation, status), n in counts.items():
        if operation not in documented:
            others[status] += n
    lines.append(f"  {'any other method':<38} " + "  ".join(f"{status}×{n}" for status, n in sorted(others.items())))
    return "\n".join(lines)


def schemathesis_run(stack, schema: Path, source_image: str, workdir: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "schemathesis.cli", "run", str(schema), "--url", stack.api_url,
               "--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS),
               "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(MAX_EXAMPLES),
               # the signature is the auth hook's to add: not a generated (or removed) header
               "--generation-with-security-parameters", "false",
               "--workers", "1", "--generation-database", "none", "--request-timeout", "10", "--no-color",
               "--report", "ndjson", "--report-dir", str(workdir / "report")]
    if SEED != "random":
        command += ["--seed", SEED]
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks",
                        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)]),
                        "FUZZ_ACCESS_KEY_ID": CALLER, "FUZZ_SECRET_ACCESS_KEY": "local",
                        "FUZZ_SOURCE_IMAGE": source_image, "FUZZ_REGION": stack.session.region_name or "us-east-1",
                        "COLUMNS": "120"}
    # run in workdir: schemathesis keeps its crash cache (.schemathesis/) in the working directory
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_schemathesis_finds_no_server_error_and_no_broken_response(stack, source_image, tmp_path):
    client = fuzz_client(stack)
    served = client.request("GET", "/v1/openapi.json")
    assert served.status_code == 200
    workdir = Path(os.environ.get("FUZZ_KEEP") or tmp_path)
    workdir.mkdir(parents=True, exist_ok=True)
    schema = workdir / "openapi.json"
    schema.write_text(served.text)
    finished_jobs(stack, client, source_image)

    submit = stack.pump("SubmitFunction")
    submit.pause()  # fuzzed jobs wait on the queue: none reaches the provider simulator
    started = time.monotonic()
    try:
        run = schemathesis_run(stack, schema, source_image, workdir)
    finally:
        try:
            for job_id in open_jobs(client):
                client.request("POST", f"/v1/jobs/{job_id}/cancel")
            assert open_jobs(client) == []
        finally:
            submit.resume()
    counts = statuses(workdir / "report")
    report = run.stdout + (f"\n--- stderr ---\n{run.stderr}" if run.stderr.strip() else "") + (
        f"\nResponses (operation: status×count):\n{table(counts, served.json())}"
        f"\nschemathesis and the clean-up took {time.monotonic() - started:.1f} s")
    print(f"\n{report}")
    assert run.returncode == 0, report
    # the run reached the API, not only the gateway's 403: jobs were created, read, listed and cancelled
    for operation, status in [("POST /v1/jobs", 202), ("GET /v1/jobs/{job_id}", 200), ("GET /v1/jobs", 200),
                              ("POST /v1/jobs/{job_id}/cancel", 200), ("POST /v1/jobs/{job_id}/cancel", 409)]:
        assert counts[(operation, status)], f"no {status} from {operation}\n{report}"
    # nothing the fuzzer sends the public provider callback route is accepted
    assert not any(isinstance(status, int) and status < 300 for (operation, status) in counts
                   if operation == "POST /v1/webhooks/{provider}/{job_id}"), report
