"""The CLI follows jobs over the stack's WebSocket API: ``submit --wait`` and ``wait`` read the job once, at the end
(requests counted at the local gateway), two ``seedream events`` readers both see every event, and a stack without
the API is polled with a line that says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.waits import wait_until

from .conftest import PROMPT, final_json

pytestmark = pytest.mark.integration

JOB_GET = "GET /v1/jobs/{job_id}"


def test_submit_wait_makes_no_job_get_before_the_end(seedream, stack, source, tmp_path):
    gets, subscriptions = stack.gateway.requests[JOB_GET], stack.websocket.requests["message subscribe"]

    # a polling --wait would GET the job every 0.05 s
    result = seedream("submit", source, "--prompt", PROMPT, "--provider", "wavespeed", "--count", "1", "--wait",
                      "--out", str(tmp_path / "{job_id}"), "--poll-interval", "0.05")

    assert result.exit_code == 0, result.output
    assert final_json(result)["status"] == "succeeded"
    assert stack.gateway.requests[JOB_GET] - gets == 1  # the document, read once the job had ended
    assert stack.websocket.requests["message subscribe"] - subscriptions == 1  # every job of the caller, before POST
    assert "polling" not in result.stderr


def test_wait_reads_the_job_once_at_the_end(seedream, stack, source):
    job_id = seedream("submit", source, "--prompt", PROMPT, "--provider", "evolink", "--count", "1").stdout.strip()
    gets = stack.gateway.requests[JOB_GET]

    result = seedream("wait", job_id, "--poll-interval", "0.05")

    assert result.exit_code == 0, result.output
    assert final_json(result)["job_id"] == job_id and final_json(result)["status"] == "succeeded"
    assert stack.gateway.requests[JOB_GET] - gets == 1


def test_wait_on_another_callers_job_is_not_found(seedream, stack, source):
    result = seedream("wait", "no-such-job")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "seedream: error: job_not_found: no job with id 'no-such-job'"


def test_two_event_readers_both_see_every_event(seedream, stack, source):
    subscriptions = stack.websocket.requests["message subscribe"]
    command = [sys.executable, "-m", "seedream_cli", "--api-url", stack.api_url, "events", "--count", "3",
               "--timeout", "90", "--json"]
    readers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
               for _ in range(2)]
    try:
        wait_until(lambda: stack.websocket.requests["message subscribe"] - subscriptions >= 2, timeout=60)
        job_id = seedream("submit", source, "--prompt", PROMPT, "--provider", "atlascloud", "--count", "1").stdout.strip()
        outputs = [reader.communicate(timeout=120) for reader in readers]
    finally:
        for reader in readers:
            reader.kill()
    for (stdout, stderr), reader in zip(outputs, readers, strict=True):
        assert reader.returncode == 0, stderr
        events = [json.loads(line) for line in stdout.splitlines()]
        assert [(e["detail-type"], e["detail"]["job_id"]) for e in events] == [
            ("Job Queued", job_id), ("Job Submitted", job_id), ("Job Succeeded", job_id)]


def test_a_stack_without_a_websocket_api_is_polled_and_says_so(seedream, stack, source, tmp_path):
    """A stack deployed before live events has no WebSocketUrl output: --wait polls GET /v1/jobs/{job_id}."""
    template = {"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"ApiUrl": {"Value": stack.api_url}, "BucketName": {"Value": stack.name("JobsBucket")}}}
    stack.session.client("cloudformation").create_stack(StackName="seedream-before-live", TemplateBody=json.dumps(template))
    gets = stack.gateway.requests[JOB_GET]

    result = seedream("--stack", "seedream-before-live", "submit", source, "--prompt", PROMPT, "--count", "1",
                      "--wait", "--out", str(tmp_path / "{job_id}"), "--poll-interval", "0.05", target=False)

    assert result.exit_code == 0, result.output
    assert ("seedream: stack seedream-before-live (" + stack.api_url + ") has no WebSocket API (no WebSocketUrl output: "
            "deployed before live events; deploy the stack again for live events); polling GET /v1/jobs/{job_id} "
            "instead") in result.stderr
    assert stack.gateway.requests[JOB_GET] - gets >= 2  # polled
    events = seedream("--stack", "seedream-before-live", "events", target=False)
    assert events.exit_code == 2 and "has no WebSocket API" in events.stderr and "--queue-url" in events.stderr
