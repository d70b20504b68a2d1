"""Every job ends, on the whole local stack: each fault × each provider where it applies — final state,
error code, exactly one terminal event, S3 objects = recorded outputs, and the provider reads made."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from .conftest import PROGRESS, events_of, item, stored_keys, wait_status

PROVIDERS = ["wavespeed", "atlascloud", "evolink", "replicate", "fal"]
SWEEP_READS = {"fal": 2}
"""Requests one sweep read makes at the provider: 1, fal 2 (its ``status_url``, then once completed ``response_url``)."""
TERMINAL = ("succeeded", "failed", "cancelled")
HARD_LIMIT = {"TASK_TIMEOUT_SECONDS": "6"}
"""The hung-task test's hard limit instead of the suite's 20 s (``conftest.TEST_DEADLINES``): a job of ``body`` is
first looked at 4.25 s after its hand-off (2 s + 0.5 s × 2 images × ¼ of 2048², + 2 s grace), read as running, and
given up at the limit."""


def body(source_image, provider, **change):
    return {"provider": provider, "model": "seedream-v4", "images": [source_image], "max_images": 2,
            "size": "1024*1024", "prompt": "Generate a series of 2 images of this astronaut"} | change


def create(client, payload) -> str:
    response = client.create_job(payload)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def ended(stack, job_id, status, code=None, timeout=60.0) -> dict:
    """The job as it ended: ``status`` (and ``code``), exactly one terminal event, S3 = its outputs."""
    done = wait_status(stack, job_id, *TERMINAL, timeout=timeout)
    assert done["status"] == status, done.get("error")
    if code:
        assert done["error"]["code"] == code, done["error"]
    terminal = [e for e in events_of(stack, job_id) if e["detail-type"] not in PROGRESS]
    assert [e["detail-type"] for e in terminal] == [f"Job {status.capitalize()}"]
    assert stored_keys(stack, job_id) == sorted(o["s3_uri"].split("/", 3)[3] for o in done["outputs"])
    return done


def status_reads(stack, task_id: str) -> int:
    return stack.simulator.tasks[task_id]["status_reads"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_lost_callback_is_found_by_the_sweep_with_one_status_read(stack, client, source_image, provider):
    stack.simulator.set_faults(callback="lost")
    job_id = create(client, body(source_image, provider))
    done = ended(stack, job_id, "succeeded")
    assert len(done["outputs"]) == 2 and done["callback"]["via"] == "reconcile"
    # evolink too: the sweep's read is authoritative
    assert status_reads(stack, done["provider_task_id"]) == SWEEP_READS.get(provider, 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_healthy_job_makes_no_status_read_beyond_evolinks_one(stack, client, source_image, provider):
    job_id = create(client, body(source_image, provider))
    done = ended(stack, job_id, "succeeded")
    assert status_reads(stack, done["provider_task_id"]) == (1 if provider == "evolink" else 0)


def test_a_hung_task_fails_with_provider_timeout_at_the_hard_limit(stack, client, source_image):
    stack.simulator.set_faults(task_result="hang")
    with stack.reconfigured(HARD_LIMIT, functions=("ReconcileFunction",)):  # the sweep judges the hard limit
        jobs = {provider: create(client, body(source_image, provider)) for provider in PROVIDERS}
        for job_id in jobs.values():
            done = ended(stack, job_id, "failed", "provider_timeout", timeout=90)
            assert done["reconcile"]["reads"] >= 1 and done["outputs"] == []
            assert status_reads(stack, done["provider_task_id"]) == done["reconcile"]["reads"]
    assert stack.functions["ReconcileFunction"].environment["TASK_TIMEOUT_SECONDS"] == "20"  # the suite's again


@pytest.mark.parametrize("provider", PROVIDERS)
def test_submit_errors_until_the_dlq_fail_the_job_with_submit_failed(stack, client, source_image, provider):
    stack.simulator.set_faults(submit_errors=[503] * 5)  # the submit queue's maxReceiveCount
    job_id = create(client, body(source_image, provider))
    done = ended(stack, job_id, "failed", "submit_failed")
    assert "503" in done["error"]["message"] and len(done["attempts"]) == 5
    assert in_dlq(stack, "SubmitDLQ", job_id)


def test_auto_with_every_provider_down_fails_with_submit_failed(stack, client, source_image):
    stack.simulator.set_faults(submit_errors=[500] * 25)  # auto's 5 callback hosts (not ModelArk) × 5 receives
    job_id = create(client, body(source_image, "auto"))
    done = ended(stack, job_id, "failed", "submit_failed")
    assert [a["outcome"] for a in done["attempts"]] == ["provider_unavailable"] * 25


@pytest.mark.parametrize("provider", PROVIDERS)
def test_outputs_that_always_answer_503_fail_the_job_with_nothing_left_in_s3(stack, client, source_image, provider):
    stack.simulator.set_faults(outputs="unavailable")
    job_id = create(client, body(source_image, provider))
    done = ended(stack, job_id, "failed", "ingest_failed")
    assert "503" in done["error"]["message"] and done["outputs"] == []
    assert in_dlq(stack, "IngestDLQ", job_id)


def test_evolinks_early_completed_is_left_to_the_deadline_and_the_job_still_succeeds(stack, client, source_image):
    stack.simulator.set_faults(callback="lost", generation_seconds=3)
    job_id = create(client, body(source_image, "evolink"))
    submitted = wait_status(stack, job_id, "submitted")
    task = stack.simulator.tasks[submitted["provider_task_id"]]
    url = urlsplit(task["callback_url"])
    early = httpx.post(f"{stack.api_url}{url.path}", params={"token": parse_qs(url.query)["token"][0]},
                       content=json.dumps({"id": task["id"], "status": "completed"}).encode())
    assert early.status_code == 202
    done = ended(stack, job_id, "succeeded")
    assert not in_dlq(stack, "IngestDLQ", job_id)
    assert done["callback"]["via"] == "reconcile"


def test_cancel_before_the_callback_ends_the_job_and_the_callback_stores_nothing(stack, client, source_image):
    stack.simulator.set_faults(generation_seconds=2)
    job_id = create(client, body(source_image, "wavespeed"))
    submitted = wait_status(stack, job_id, "submitted")
    cancelled = client.request("POST", f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    stack.simulator.wait_for_task(submitted["provider_task_id"], timeout=10)
    from .conftest import wait_ingest_settled

    wait_ingest_settled(stack, submitted["provider_task_id"], 1)
    ended(stack, job_id, "cancelled")
    assert stored_keys(stack, job_id) == []


def test_cancel_after_the_job_finished_is_409(stack, client, source_image):
    job_id = create(client, body(source_image, "wavespeed"))
    ended(stack, job_id, "succeeded")
    late = client.request("POST", f"/v1/jobs/{job_id}/cancel")
    assert late.status_code == 409 and late.json()["error"]["code"] == "job_finished"
    assert item(stack, job_id)["status"] == "succeeded"
    assert client.request("POST", "/v1/jobs/no-such-job/cancel").status_code == 404


def in_dlq(stack, logical_id: str, job_id: str) -> bool:
    sqs = stack.session.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.name(logical_id), MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   WaitTimeSeconds=0).get("Messages", [])
    return any(json.loads(m["Body"])["job_id"] == job_id for m in messages)
