"""``seedream listen``: the local Standard Webhooks receiver gets a job's message from the local stack, verifies it
with the key the API gives, prints it, and refuses what it cannot verify. Run as a user runs it (its own process)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.support.waits import wait_until

from .conftest import PROMPT, ROOT, final_json

pytestmark = pytest.mark.integration


@pytest.fixture
def listening(stack):
    """``seedream listen --port 0 --count 1`` in a process of its own; yields ``(process, url)``."""
    process = subprocess.Popen([sys.executable, "-m", "seedream_cli", "--api-url", stack.api_url, "listen", "--port", "0",
                                "--count", "1", "--timeout", "60"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        first = process.stderr.readline()  # "listening on http://127.0.0.1:PORT/ (...)"
        assert first.startswith("listening on http://127.0.0.1:"), first + process.stderr.read()
        yield process, first.split()[2]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_listen_prints_the_verified_job_succeeded_of_a_job_submitted_with_webhook(seedream, source, listening, tmp_path):
    process, url = listening
    forged = httpx.post(url, content=b'{"type": "job.succeeded"}', headers={
        "webhook-id": "msg_forged", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"})
    assert forged.status_code == 401  # not counted, not printed

    submitted = seedream("submit", source, "--prompt", PROMPT, "--provider", "wavespeed", "--count", "2",
                         "--webhook", url, "--wait", "--poll-interval", "0.1", "--out", str(tmp_path / "{job_id}"))
    job = final_json(submitted)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    [printed] = out.splitlines()
    assert printed.startswith(f"job.succeeded  {job['job_id']}  succeeded  2 outputs  webhook-id=msg_")
    assert "refused an unverified request" in err
    recorded = wait_until(lambda: final_json(seedream("get", job["job_id"]))["webhook_deliveries"])
    assert printed.endswith(f"webhook-id={recorded[0]['id']}") and recorded[0]["status_code"] == 204


def test_listen_with_json_prints_the_payload(stack, seedream, source):
    process = subprocess.Popen([sys.executable, "-m", "seedream_cli", "--api-url", stack.api_url, "listen", "--port", "0",
                                "--count", "1", "--timeout", "60", "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    url = process.stderr.readline().split()[2]
    submitted = seedream("submit", source, "--prompt", PROMPT, "--provider", "wavespeed", "--count", "1",
                         "--webhook", url, "--webhook-event", "job.submitted")
    job_id = submitted.stdout.strip()
    out, _ = process.communicate(timeout=60)
    payload = json.loads(out)
    assert payload["type"] == "job.submitted" and payload["data"]["job_id"] == job_id
