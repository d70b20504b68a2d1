"""Replicate on the whole local stack, beyond the provider × model matrix (``test_providers.py``): seedream-v5.0-lite
refused at the door, replayed, duplicate and out-of-order deliveries changing nothing twice, the outputs' hour, and
the webhook signing secret fetched once. Signatures come from ``tests.support.signing.replicate_headers``."""

from __future__ import annotations

import json

from tests.support.signing import replicate_headers

from .conftest import announced, deliveries, event_for, item, output_versions, wait_ingest_settled, wait_status, wait_until
from .test_providers import Callbacks, body_for, post, waiting_job


def test_seedream_v5_lite_at_replicate_is_refused_at_the_door_and_auto_skips_replicate(stack, client, source_image):
    submits = len(stack.simulator.submits)
    refused = client.create_job(body_for(source_image, "replicate", "seedream-v5.0-lite"))
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "provider_limit_exceeded" and error["details"][0]["limit"] == "model_not_served"
    assert "seedream-v5.0-lite is not served at replicate" in error["message"]
    assert len(stack.simulator.submits) == submits  # nothing reached a provider
    dry = client.request("POST", "/v1/jobs?dry_run=true", body_for(source_image, "auto", "seedream-v5.0-lite"))
    assert dry.status_code == 200 and "replicate" not in dry.json()["provider_order"]


def test_a_replayed_callback_changes_nothing_twice(stack, client, source_image):
    job_id, task, url, token = waiting_job(stack, client, source_image, "replicate")
    callbacks = Callbacks(stack, "replicate", task)
    body = callbacks.body()
    headers = replicate_headers(stack.simulator.keys["replicate"]["webhook_secret"], body, webhook_id="msg_replayed")
    assert post(url, token, body, headers).status_code == 202
    done = announced(stack, job_id)
    assert done["status"] == "succeeded"
    replay = post(url, token, body, headers)  # the same delivery again, within the tolerance
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert item(stack, job_id) == done
    assert output_versions(stack, job_id) == {f"outputs/{job_id}/00.png": 1}
    assert event_for(stack, job_id)["detail-type"] == "Job Succeeded"


def test_duplicate_and_out_of_order_deliveries_store_the_outputs_once(stack, client, source_image):
    stack.simulator.set_faults(callback="out_of_order")
    job_id = client.create_job(body_for(source_image, "replicate")).json()["job_id"]
    done = announced(stack, job_id)
    assert done["status"] == "succeeded"
    task_id = done["provider_task_id"]
    wait_ingest_settled(stack, task_id, callbacks=3)  # completed, its repeat, then a late "processing"
    sent = deliveries(stack, task_id)
    assert [json.loads(c["body"])["status"] for c in sent] == ["succeeded", "succeeded", "processing"]
    assert all(200 <= (c["status"] or 0) < 300 for c in sent)  # acknowledged, so Replicate stops retrying
    assert item(stack, job_id) == done  # the late non-terminal event moved nothing back
    assert output_versions(stack, job_id) == {f"outputs/{job_id}/{i:02d}.png": 1 for i in range(2)}
    assert event_for(stack, job_id)["detail-type"] == "Job Succeeded"


def test_outputs_deleted_before_ingest_fail_the_job_and_leave_nothing(stack, client, source_image):
    stack.simulator.replicate_output_seconds = 0.0  # the provider's hour has passed when ingest fetches
    try:
        job_id = client.create_job(body_for(source_image, "replicate")).json()["job_id"]
        done = wait_status(stack, job_id, "succeeded", "failed")
    finally:
        stack.simulator.replicate_output_seconds = 3600.0
    assert done["status"] == "failed" and done["error"]["code"] == "output_gone" and done["outputs"] == []
    assert output_versions(stack, job_id) == {}
    event = event_for(stack, job_id)
    assert event["detail-type"] == "Job Failed" and event["detail"]["error"]["code"] == "output_gone"


def test_the_webhook_fetches_replicates_signing_secret_once(stack, client, source_image):
    adapter = stack.functions["WebhookFunction"].module.svc.providers["replicate"]
    first = client.create_job(body_for(source_image, "replicate", max_images=1)).json()["job_id"]
    assert wait_status(stack, first, "succeeded", "failed")["status"] == "succeeded"
    fetched = adapter.secret_fetches
    assert fetched >= 1
    second = client.create_job(body_for(source_image, "replicate", max_images=1)).json()["job_id"]
    assert wait_status(stack, second, "succeeded", "failed")["status"] == "succeeded"
    wait_until(lambda: deliveries(stack, item(stack, second)["provider_task_id"], acknowledged=True))
    assert adapter.secret_fetches == fetched  # cached: never fetched per callback


def test_cancelling_a_replicate_job_cancels_the_prediction_at_replicate(stack, client, source_image):
    stack.simulator.set_faults(generation_seconds=30)
    job_id = client.create_job(body_for(source_image, "replicate", max_images=1)).json()["job_id"]
    submitted = wait_status(stack, job_id, "submitted")
    answer = client.request("POST", f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    cancels = wait_until(lambda: [c for c in stack.simulator.replicate_cancels if c["id"] == submitted["provider_task_id"]])
    assert cancels == [{"id": submitted["provider_task_id"], "status": "canceled"}]
    assert wait_status(stack, job_id, "cancelled")["status"] == "cancelled"
    assert event_for(stack, job_id)["detail-type"] == "Job Cancelled"
