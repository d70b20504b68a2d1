"""Races and hostile outputs on the whole local stack: whoever wins, the job document, the S3 objects under
``outputs/<job_id>/`` and the terminal events agree (``seedream.lifecycle``), and every failure records its error."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.signing import wavespeed_headers

from .conftest import item, stored_keys, wait_status, wait_until
from .test_every_job_ends import body, create, ended, in_dlq


@pytest.mark.parametrize("offset", [round(i * 0.04, 2) for i in range(20)])
def test_cancel_racing_a_slow_ingest_ends_one_way_and_leaves_nothing_behind(stack, client, source_image, offset):
    stack.simulator.set_faults(outputs="slow", slow_chunk_delay=0.01)
    job_id = create(client, body(source_image, "wavespeed"))
    wait_until(lambda: (item(stack, job_id) or {}).get("callback"), timeout=30, interval=0.005)  # ingest is on its way
    started = time.monotonic()
    wait_until(lambda: time.monotonic() >= started + offset, interval=0.005)  # this trial's point in the ingest
    answer = client.request("POST", f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code in (200, 409), answer.text
    won = "cancelled" if answer.status_code == 200 else "succeeded"
    assert answer.status_code == 200 or answer.json()["error"]["code"] == "job_finished"
    # one terminal event, and S3 holds exactly the recorded outputs: none for a cancelled job
    done = ended(stack, job_id, won)
    assert (done["outputs"] == []) == (won == "cancelled")


def signed_wavespeed_completion(stack, client, source_image, outputs: list[str]) -> tuple[str, httpx.Response]:
    """A job whose WaveSpeed task finished with ``outputs``, told by a validly signed callback of our own."""
    stack.simulator.set_faults(callback="lost")  # the simulator's own callback does not come
    job_id = create(client, body(source_image, "wavespeed"))
    task_id = wait_status(stack, job_id, "submitted")["provider_task_id"]
    submit = next(s for s in reversed(stack.simulator.submits) if job_id in s["query"].get("webhook", ""))
    webhook = urlsplit(submit["query"]["webhook"])
    payload = json.dumps({"id": task_id, "model": "bytedance/seedream-v4/edit-sequential", "status": "completed",
                          "outputs": outputs, "has_nsfw_contents": [False] * len(outputs), "error": "",
                          "urls": {"get": ""}, "created_at": "2026-11-21T00:00:00Z"}).encode()
    headers = wavespeed_headers(stack.keys["wavespeed"]["webhook_secret"], payload)
    answer = httpx.post(f"{stack.api_url}{webhook.path}", params={"token": parse_qs(webhook.query)["token"][0]},
                        content=payload, headers=headers)
    return job_id, answer


@pytest.mark.parametrize("url", ["https://cdn.example.com:99999/x.png", "http://[::1/x.png"])
def test_an_output_url_that_does_not_parse_fails_the_job_at_once_with_output_url_forbidden(stack, client,
                                                                                         source_image, url):
    job_id, answer = signed_wavespeed_completion(stack, client, source_image, [url, url])
    assert answer.status_code == 202, answer.text
    done = ended(stack, job_id, "failed", "output_url_forbidden", timeout=15)  # at once, not at a deadline
    assert "does not parse" in done["error"]["message"]


def test_a_manifest_overwritten_while_its_job_runs_is_answered_by_its_newest_version(stack, source_image):
    s3, bucket = stack.session.client("s3"), stack.name("JobsBucket")
    stack.simulator.set_faults(generation_seconds=1.5)
    first = {"provider": "wavespeed", "model": "seedream-v4", "images": [source_image], "max_images": 2,
             "size": "1024*1024", "prompt": "Generate a series of 2 images of this astronaut"}
    s3.put_object(Bucket=bucket, Key="requests/race-overwrite.json", Body=json.dumps(first).encode())
    job = wait_until(lambda: _job_of_manifest(stack, "requests/race-overwrite.json"), timeout=30)
    s3.put_object(Bucket=bucket, Key="requests/race-overwrite.json", Body=b'{"model": ')  # replaced while it runs
    wait_until(lambda: _result_keys(stack, "race-overwrite") == ["results/race-overwrite.error.json"], timeout=30)
    wait_status(stack, job["job_id"], "succeeded", timeout=30)  # the first version's job still ends ...
    wait_until(lambda: (item(stack, job["job_id"]) or {}).get("event_published_at"), timeout=30)
    assert _result_keys(stack, "race-overwrite") == ["results/race-overwrite.error.json"]  # ... and does not answer
    error = json.loads(s3.get_object(Bucket=bucket, Key="results/race-overwrite.error.json")["Body"].read())
    assert error["error"]["code"] == "invalid_json"


def _job_of_manifest(stack, key: str) -> dict | None:
    table = stack.session.client("dynamodb")
    found = table.scan(TableName=stack.name("JobsTable"), FilterExpression="origin.#k = :key",
                       ExpressionAttributeNames={"#k": "key"}, ExpressionAttributeValues={":key": {"S": key}})
    return {"job_id": found["Items"][0]["job_id"]["S"]} if found.get("Items") else None


def _result_keys(stack, name: str) -> list[str]:
    listed = stack.session.client("s3").list_objects_v2(Bucket=stack.name("JobsBucket"), Prefix=f"results/{name}.")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_a_job_the_sweep_fails_with_its_ingest_lost_keeps_no_output(stack, client, source_image):
    ingest = stack.pump("IngestFunction")
    ingest.pause()  # the completion is recorded, but no ingest runs: as if its function died mid-download
    # this test's deadlines instead of the suite's (15 s for ingest, 20 s in all): the webhook sets the ingest
    # deadline it records, the sweep judges it and the hard limit
    try:
        with stack.reconfigured({"INGEST_DEADLINE_SECONDS": "1", "TASK_TIMEOUT_SECONDS": "5"},
                                functions=("WebhookFunction", "ReconcileFunction")):
            job_id = create(client, body(source_image, "wavespeed"))
            # what a dead ingest left, there before the sweep can look (on a slow machine it may fail the job early)
            stack.session.client("s3").put_object(Bucket=stack.name("JobsBucket"), Key=f"outputs/{job_id}/00.png",
                                                  Body=b"what a dead ingest left")
            wait_until(lambda: (item(stack, job_id) or {}).get("callback"), timeout=30)
            failed = wait_status(stack, job_id, "failed", timeout=90)  # at the task limit, re-read once before it
            assert failed["error"]["code"] == "ingest_failed"
            # the sweep itself deleted it: no ingest has run yet (one resumed now would delete it too, racing the sweep)
            wait_until(lambda: stored_keys(stack, job_id) == [], timeout=30)
    finally:
        ingest.resume()
    ended(stack, job_id, "failed", "ingest_failed")  # one Job Failed, and nothing under outputs/<job_id>/


def test_a_cancelled_job_keeps_no_output_an_ingest_left(stack, client, source_image):
    ingest = stack.pump("IngestFunction")
    ingest.pause()  # a completion recorded; what a dead ingest stored is still there
    try:
        job_id = create(client, body(source_image, "wavespeed"))
        wait_until(lambda: (item(stack, job_id) or {}).get("callback"), timeout=30)
        stack.session.client("s3").put_object(Bucket=stack.name("JobsBucket"), Key=f"outputs/{job_id}/00.png",
                                              Body=b"what a dead ingest left")
        answer = client.request("POST", f"/v1/jobs/{job_id}/cancel")
        assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
        assert stored_keys(stack, job_id) == []  # deleted by the cancel itself, before the ingest ever runs
    finally:
        ingest.resume()
    ended(stack, job_id, "cancelled")


@pytest.mark.parametrize("provider", ["wavespeed", "atlascloud", "evolink", "fal"])
def test_a_429_holds_the_job_back_and_it_then_succeeds_without_using_a_receive(stack, client, source_image, provider):
    stack.simulator.set_faults(submit_errors=[429, 429])  # each with Retry-After: 1
    job_id = create(client, body(source_image, provider))
    done = ended(stack, job_id, "succeeded")
    assert [a["outcome"] for a in done["attempts"]] == ["provider_unavailable", "provider_unavailable", "submitted"]
    assert "429" in done["attempts"][0]["message"] and done["enqueued_at"] > done["created_at"]
    assert not in_dlq(stack, "SubmitDLQ", job_id)
