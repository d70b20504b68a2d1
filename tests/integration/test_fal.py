"""fal.ai through the whole local stack: its callback security (forged, stale and replayed webhooks refused, the job
unchanged), its ERROR and ``payload: null`` webhooks, a lost webhook ended by the sweep through the URLs fal gave,
its 6-image limit at the door (and ``auto`` passing it by), and a cancelled job cancelled at fal's ``cancel_url``.

Signatures are made by ``tests.support.signing.FalSigner`` (the documented recipe, independent of the code under
test), with a key the simulator then publishes in its JWKS. The 3 × 4 provider × model matrix is in
``test_providers.py``.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.signing import FalSigner

from .conftest import announced, deliveries, event_for, item, wait_status, wait_until
from .test_providers import body_for, post, waiting_job


def fal_adapter(stack):
    """The fal adapter inside the local WebhookFunction (it holds the JWKS cache)."""
    return stack.functions["WebhookFunction"].module.svc.providers["fal"]


def trust(stack, signer: FalSigner) -> None:
    """fal starts signing with ``signer``'s key (published first in its JWKS); the webhook may refetch the JWKS."""
    stack.simulator.rotate_fal_key(signer.key)
    adapter = fal_adapter(stack)
    wait_until(lambda: adapter.jwks.may_fetch(time.time()), 10)


def ok_body(task: dict) -> bytes:
    return json.dumps({"request_id": task["id"], "gateway_request_id": task["id"], "status": "OK",
                       "payload": {"images": [{"url": u, "content_type": "image/png"} for u in task["outputs"]],
                                   "seed": 7}, "error": None, "payload_error": None}).encode()


def test_forged_stale_and_replayed_fal_webhooks_get_401_and_change_nothing_then_a_valid_one_succeeds(
        stack, client, source_image):
    job_id, task, url, token = waiting_job(stack, client, source_image, "fal")
    signer = FalSigner(user_id=stack.simulator.fal_user_id)
    trust(stack, signer)
    body, request_id = ok_body(task), task["id"]
    now = int(time.time())
    forgeries = [
        ("wrong token", "A" * 43, body, signer.headers(body, request_id), "token_invalid"),
        ("no token", None, body, signer.headers(body, request_id), "token_invalid"),
        ("body altered after signing", token, body.replace(b'"seed": 7', b'"seed": 8'),
         signer.headers(body, request_id), "signature_invalid"),
        ("stale timestamp", token, body, signer.headers(body, request_id, timestamp=now - 330), "timestamp_out_of_range"),
        ("future timestamp", token, body, signer.headers(body, request_id, timestamp=now + 330),
         "timestamp_out_of_range"),
        ("key fal never published", token, body, FalSigner().headers(body, request_id), "signature_invalid"),
        ("signed for another request", token, body, signer.headers(body, request_id, signed_request_id="other"),
         "signature_invalid"),
        ("another user id than signed", token, body,
         signer.headers(body, request_id) | {"X-Fal-Webhook-User-Id": "someone-else"}, "signature_invalid"),
        ("no signature", token, body, {k: v for k, v in signer.headers(body, request_id).items()
                                       if k != "X-Fal-Webhook-Signature"}, "signature_missing"),
    ]
    before = item(stack, job_id)
    for label, forged_token, forged_body, headers, code in forgeries:
        answer = post(url, forged_token, forged_body, headers)
        assert answer.status_code == 401, (label, answer.text)
        assert answer.json()["error"]["code"] == code, (label, answer.text)
        assert item(stack, job_id) == before, label
    valid = signer.headers(body, request_id)
    assert post(url, token, body, valid).status_code == 202
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "succeeded" and len(done["outputs"]) == 1
    # the same genuine delivery replayed: to the finished job it changes nothing (200); with its token at another
    # job's URL it is refused (401) and that job is unchanged
    finished = announced(stack, job_id)  # (its last write is the event's)
    replay = post(url, token, body, valid)
    assert replay.status_code == 200 and item(stack, job_id) == finished
    other_id, _, other_url, _ = waiting_job(stack, client, source_image, "fal")
    other_before = item(stack, other_id)
    refused = post(other_url, token, body, valid)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_invalid"
    assert item(stack, other_id) == other_before


@pytest.mark.parametrize("delivery, message", [
    ("error", "fal reported error: Invalid status code: 422"),
    ("payload_error", "fal reported payload_error: payload_error: Failed to serialize the response payload"),
])
def test_an_error_or_a_null_payload_webhook_fails_the_job_with_fals_message(stack, client, source_image,
                                                                            delivery, message):
    stack.simulator.set_faults(fal_delivery=delivery)
    job_id = client.create_job(body_for(source_image, "fal", max_images=1)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed")
    assert done["status"] == "failed" and done["error"]["code"] == "provider_error", done["error"]
    assert done["error"]["message"].startswith(message) and done["outputs"] == []
    assert event_for(stack, job_id)["detail-type"] == "Job Failed"


def test_a_lost_fal_webhook_ends_through_the_sweep_reading_the_urls_fal_gave(stack, client, source_image):
    stack.simulator.set_faults(callback="lost")
    job_id = client.create_job(body_for(source_image, "fal", max_images=2)).json()["job_id"]
    done = wait_status(stack, job_id, "succeeded", "failed", timeout=90)
    assert done["status"] == "succeeded" and len(done["outputs"]) == 2
    stored = item(stack, job_id)
    assert stored["callback"]["via"] == "reconcile"
    task = stack.simulator.tasks[done["provider_task_id"]]
    assert task["status_reads"] >= 2  # status_url, then response_url
    assert deliveries(stack, task["id"]) == []  # fal's webhook was never sent
    assert stored["provider_urls"]["status_url"] == f"{stack.simulator.base_url}/fal-ai/bytedance/requests/{task['id']}/status"


def test_more_than_6_images_is_refused_at_the_door_for_fal_and_auto_passes_fal_by(stack, client, source_image):
    submits = len(stack.simulator.submits)
    refused = client.create_job(body_for(source_image, "fal", max_images=7))
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "provider_limit_exceeded"
    assert [(d["limit"], d["value"], d["providers"]) for d in error["details"]] == [("max_outputs", 6, ["fal"])]
    assert "at most 6 images" in error["message"]
    assert len(stack.simulator.submits) == submits  # nothing reached the provider
    dry = client.request("POST", "/v1/jobs?dry_run=true", body_for(source_image, "auto", max_images=7))
    assert dry.status_code == 200 and "fal" not in dry.json()["provider_order"]
    assert "fal" in client.request("POST", "/v1/jobs?dry_run=true",
                                   body_for(source_image, "auto", max_images=6)).json()["provider_order"]


def test_cancelling_a_fal_job_cancels_it_at_fals_cancel_url(stack, client, source_image):
    stack.simulator.set_faults(generation_seconds=30)
    job_id = client.create_job(body_for(source_image, "fal", max_images=1)).json()["job_id"]
    submitted = wait_status(stack, job_id, "submitted")
    cancel_url = item(stack, job_id)["provider_urls"]["cancel_url"]
    answer = client.request("POST", f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    cancels = wait_until(lambda: [c for c in stack.simulator.fal_cancels
                                  if c["request_id"] == submitted["provider_task_id"]])
    assert [(c["method"], c["answer"]) for c in cancels] == [("PUT", "CANCELLATION_REQUESTED")]
    assert cancel_url == f"{stack.simulator.base_url}/fal-ai/bytedance/requests/{submitted['provider_task_id']}/cancel"
    assert wait_status(stack, job_id, "cancelled")["status"] == "cancelled"
    assert event_for(stack, job_id)["detail-type"] == "Job Cancelled"
