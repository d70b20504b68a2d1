"""Webhooks to callers on the whole local stack: a lifecycle event on the bus → the EventBridge rule → the webhook
queue → the delivery function → a receiver on 127.0.0.1, which verifies every message with the ``standardwebhooks``
library and the key ``GET /v1/webhooks/default/secret`` gives (``tests.support.receivers``).

The local stack runs the Standard Webhooks schedule in seconds (``local.stack.LOCAL_WEBHOOKS``: 0, 1, 2, 3 … s for
0, 5 s, 5 min, 30 min …) and sends nothing to a public host (its webhook host allowlist names only ``.invalid``);
the schedule as deployed is tested with an injected clock in ``tests/unit/test_deliver.py``. What a test says did
not happen is asserted once the webhook queue is drained by its pump (everything it could have caused has
happened), never after a fixed sleep."""

from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest

from tests.support.receivers import Receiver

from .conftest import queue_drained, wait_status, wait_until
from .test_doors import ASTRONAUT, document, requested, upload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secret(client) -> str:
    answer = client.request("GET", "/v1/webhooks/default/secret")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    key = answer.json()["key"]
    assert key.startswith("whsec_")
    return key


def body(source_image: str, webhook: str, **change) -> dict:
    return {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 2 images of this astronaut",
            "images": [source_image], "max_images": 2, "size": "2048*2048", "webhook": webhook} | change


def create(client, request: dict) -> str:
    answer = client.create_job(request)
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def deliveries_settled(stack) -> None:
    """The webhook queue drained: every event and scheduled attempt handled, so all they caused has happened."""
    wait_until(lambda: queue_drained(stack, "WebhookQueue"), 60)


def test_a_receiver_gets_exactly_one_signed_job_succeeded_with_outputs_it_can_download(stack, client, secret,
                                                                                        source_image):
    with Receiver(secret) as receiver:
        job_id = create(client, body(source_image, receiver.url))
        wait_status(stack, job_id, "succeeded", "failed")
        wait_until(lambda: receiver.received)
        deliveries_settled(stack)
        [got] = receiver.received
    assert got.problem is None, got.problem
    assert got.payload["type"] == "job.succeeded" and got.payload["data"]["job_id"] == job_id
    data = got.payload["data"]
    assert data["status"] == "succeeded" and len(data["outputs"]) == 2 and "request" not in data
    s3 = stack.session.client("s3")
    for output in data["outputs"]:  # the presigned URL serves the very object its s3_uri names
        bucket, key = output["s3_uri"][len("s3://"):].split("/", 1)
        assert httpx.get(output["url"]).content == s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    view = client.get_job(job_id)
    [attempt] = view["webhook_deliveries"]
    assert (attempt["id"], attempt["type"], attempt["attempt"], attempt["status_code"], attempt["error"],
            attempt["next_attempt_at"]) == (got.headers["webhook-id"], "job.succeeded", 1, 200, None, None)
    assert view["request"]["webhook"] == receiver.url
    assert view["request"]["webhook_events"] == ["job.succeeded", "job.failed", "job.cancelled"]


def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt_with_the_same_webhook_id(stack, client, secret,
                                                                                             source_image):
    with Receiver(secret, answers=[500, 500]) as receiver:
        job_id = create(client, body(source_image, receiver.url))
        wait_until(lambda: len(receiver.received) >= 3, 60)
        deliveries_settled(stack)
        received = receiver.received
    assert len(received) == 3 and [r.problem for r in received] == [None] * 3
    assert len({r.headers["webhook-id"] for r in received}) == 1
    assert len({r.headers["webhook-timestamp"] for r in received}) >= 2  # each attempt is signed when it is sent
    log = client.get_job(job_id)["webhook_deliveries"]
    assert [(d["attempt"], d["status_code"]) for d in log] == [(1, 500), (2, 500), (3, 200)]
    assert [bool(d["next_attempt_at"]) for d in log] == [True, True, False]
    assert log[0]["error"] == "http_status: HTTP 500"


def test_410_stops_every_later_message_of_the_job(stack, client, secret, source_image):
    submit = stack.pump("SubmitFunction")
    with Receiver(secret, answers=[410]) as receiver:
        submit.pause()  # the job waits queued until its job.queued message has been answered 410
        try:
            job_id = create(client, body(source_image, receiver.url,
                                         webhook_events=["job.queued", "job.submitted", "job.succeeded"]))
            wait_until(lambda: client.get_job(job_id)["webhook_stopped_at"])
        finally:
            submit.resume()
        wait_status(stack, job_id, "succeeded", "failed")
        deliveries_settled(stack)
        assert [r.payload["type"] for r in receiver.received] == ["job.queued"]
    [attempt] = client.get_job(job_id)["webhook_deliveries"]
    assert attempt["status_code"] == 410 and attempt["next_attempt_at"] is None


def test_a_redirect_is_a_failure_and_is_never_followed(stack, client, secret, source_image):
    with Receiver(secret) as elsewhere, Receiver(secret, answers=[(301, {"Location": elsewhere.url})]) as receiver:
        job_id = create(client, body(source_image, receiver.url))
        wait_until(lambda: len(receiver.received) >= 2, 60)
        deliveries_settled(stack)
        assert elsewhere.received == [] and len(receiver.received) == 2
    log = client.get_job(job_id)["webhook_deliveries"]
    assert [(d["attempt"], d["status_code"]) for d in log] == [(1, 301), (2, 200)]
    assert log[0]["error"].startswith("redirect: HTTP 301")


@pytest.mark.parametrize("webhook", ["https://10.0.0.8/hook", "https://169.254.169.254/latest/meta-data",
                                     "https://[::ffff:127.0.0.1]/hook", "https://0x7f000001/hook",
                                     "https://metadata.google.internal/hook", "http://hooks.example.com/plain",
                                     "https://user:secret@hooks.example.com/hook", "http://10.0.0.8:8080/hook"])
def test_a_forged_or_private_webhook_is_refused_at_the_door(client, source_image, webhook):
    answer = client.create_job(body(source_image, webhook))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and [d["field"] for d in error["details"]] == ["webhook"]


def test_a_public_webhook_is_never_contacted_from_the_local_stack(stack, client, source_image):
    """The door takes it (a public name); the delivery refuses the host (not on the local allowlist), records why,
    and does not try again."""
    job_id = create(client, body(source_image, "https://hooks.example.com/seedream"))
    wait_status(stack, job_id, "succeeded", "failed")
    wait_until(lambda: client.get_job(job_id)["webhook_deliveries"])
    deliveries_settled(stack)
    [attempt] = client.get_job(job_id)["webhook_deliveries"]
    assert attempt["error"].startswith("webhook_url_forbidden") and attempt["next_attempt_at"] is None


def test_a_receiver_that_never_answers_does_not_delay_the_job(stack, client, secret, source_image):
    hold = threading.Event()
    # a receiver gets 1 s to answer here, not the local stack's 5 s: the test waits out one
    with Receiver(secret, hold=hold) as receiver, stack.reconfigured({"WEBHOOK_TIMEOUT_SECONDS": "1"},
                                                                   functions=("DeliveryFunction",)):
        job_id = create(client, body(source_image, receiver.url, webhook_events=["job.queued", "job.succeeded"]))
        wait_until(lambda: receiver.received)  # the job.queued message is held open, unanswered
        job = wait_status(stack, job_id, "succeeded", "failed")
        assert job["status"] == "succeeded" and not hold.is_set()  # it ended while its receiver still held on
        wait_until(lambda: client.get_job(job_id)["webhook_deliveries"])  # the first attempt gave up (timeout)
        hold.set()
        wait_until(lambda: {"job.queued", "job.succeeded"} <= {
            d["type"] for d in client.get_job(job_id)["webhook_deliveries"] if d["status_code"] == 200}, 60)
        deliveries_settled(stack)
    first = client.get_job(job_id)["webhook_deliveries"][0]
    assert (first["type"], first["attempt"], first["status_code"]) == ("job.queued", 1, None)
    assert first["error"].startswith("timeout: no answer within")


def test_the_s3_and_eventbridge_doors_carry_the_webhook(stack, client, secret):
    name = f"hooked-{uuid.uuid4().hex[:6]}"
    with Receiver(secret) as receiver:
        upload(stack, name, {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 2 images",
                             "images": ["astronaut.png"], "max_images": 2, "webhook": receiver.url,
                             "webhook_events": ["job.succeeded"]}, {"astronaut.png": ASTRONAUT})
        bucket = stack.name("JobsBucket")
        stack.session.client("s3").put_object(Bucket=bucket, Key="inputs/tests/hooked.png", Body=ASTRONAUT)
        requested(stack, {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 2 images",
                          "images": [f"s3://{bucket}/inputs/tests/hooked.png"], "max_images": 2,
                          "webhook": receiver.url, "reference": name})
        wait_until(lambda: len(receiver.received) >= 2, 60)
        deliveries_settled(stack)
        received = receiver.received
    assert [r.problem for r in received] == [None, None]
    by_door = {r.payload["data"]["origin"]["type"]: r.payload for r in received}
    assert set(by_door) == {"s3", "eventbridge"}
    assert all(p["type"] == "job.succeeded" for p in by_door.values())
    assert by_door["eventbridge"]["data"]["reference"] == name
    assert document(stack, f"results/{name}.json")["job_id"] == by_door["s3"]["data"]["job_id"]


def test_redeliver_sends_the_latest_message_again_with_the_same_webhook_id(stack, client, secret, source_image):
    with Receiver(secret) as receiver:
        job_id = create(client, body(source_image, receiver.url))
        wait_until(lambda: receiver.received, 60)
        deliveries_settled(stack)
        answer = client.request("POST", f"/v1/jobs/{job_id}/webhooks/redeliver")
        assert answer.status_code == 202, answer.text
        queued = answer.json()
        wait_until(lambda: len(receiver.received) >= 2)
        deliveries_settled(stack)
        first, again = receiver.received
    assert again.problem is None and again.headers["webhook-id"] == first.headers["webhook-id"] == queued["webhook_id"]
    assert (queued["type"], queued["attempt"]) == ("job.succeeded", 2)
    assert again.payload["data"]["job_id"] == job_id
    log = client.get_job(job_id)["webhook_deliveries"]
    assert [(d["attempt"], d["redelivery"], d["status_code"]) for d in log] == [(1, False, 200), (2, True, 200)]
    other = client.request("POST", f"/v1/jobs/{uuid.uuid4()}/webhooks/redeliver")
    assert (other.status_code, other.json()["error"]["code"]) == (404, "job_not_found")


def test_redeliver_of_a_job_without_a_webhook_says_so(client, source_image):
    answer = client.create_job({k: v for k, v in body(source_image, "x").items() if k != "webhook"})
    job_id = answer.json()["job_id"]
    refused = client.request("POST", f"/v1/jobs/{job_id}/webhooks/redeliver")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "webhook_not_set"
    assert "webhook" in json.dumps(refused.json()["error"]["message"])
