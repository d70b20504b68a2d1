"""fal.ai as the simulator speaks it: the queue (Key auth, the URLs it returns, status, result, cancel), the 6-image
limit answered 422, Ed25519-signed webhooks checked against its JWKS independently, and its faults."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .helpers import FAL_KEY, b64url_decode, download_series, tag

SEEDREAM = "/fal-ai/bytedance/seedream"


def key(value: str = FAL_KEY) -> dict:
    return {"Authorization": f"Key {value}"}


def fal_submit(client, sim, images, cb=None, endpoint="v4/edit", auth=FAL_KEY, **body):
    payload = {"prompt": "a series of 2 images", "image_urls": images, "max_images": 2,
               "image_size": {"width": 1024, "height": 1536}} | body
    return client.post(f"{sim.base_url}{SEEDREAM}/{endpoint}", params={"fal_webhook": cb} if cb else None,
                       json=payload, headers=key(auth))


def verify_fal(client, base: str, headers: dict, body: bytes) -> None:
    """The fal recipe from its docs, independent of the simulator: some JWKS key verifies the Ed25519 signature over
    ``request_id\\nuser_id\\ntimestamp\\nsha256_hex(body)``; the same signature fails for another body."""
    keys = [Ed25519PublicKey.from_public_bytes(b64url_decode(k["x"]))
            for k in client.get(f"{base}/.well-known/jwks.json").json()["keys"]]
    ts = headers["x-fal-webhook-timestamp"]
    assert abs(time.time() - int(ts)) < 60
    signature = bytes.fromhex(headers["x-fal-webhook-signature"])

    def message(data: bytes) -> bytes:
        return "\n".join((headers["x-fal-webhook-request-id"], headers["x-fal-webhook-user-id"], ts,
                          hashlib.sha256(data).hexdigest())).encode()

    def verifies(data: bytes) -> bool:
        for public in keys:
            try:
                public.verify(signature, message(data))
                return True
            except InvalidSignature:
                continue
        return False

    assert verifies(body) and not verifies(body + b" ")


def test_fal_roundtrip_through_the_urls_it_returns(sim, images, receiver, client):
    name = tag("fal")
    r = fal_submit(client, sim, [images["photo"]], receiver.url(name))
    assert r.status_code == 200, r.text
    reply = r.json()
    request_id = reply["request_id"]
    base = f"{sim.base_url}/fal-ai/bytedance/requests/{request_id}"
    assert (reply["status_url"], reply["response_url"], reply["cancel_url"]) == (f"{base}/status", base,
                                                                                 f"{base}/cancel")
    assert sim.submits[-1]["query"]["fal_webhook"] == receiver.url(name)
    (call,) = receiver.wait(name)
    verify_fal(client, sim.base_url, call["headers"], call["body"])
    event = json.loads(call["body"])
    assert (event["request_id"], event["status"], event["error"], event["payload_error"]) == (request_id, "OK",
                                                                                           None, None)
    assert call["headers"]["x-fal-webhook-request-id"] == request_id
    assert call["headers"]["x-fal-webhook-user-id"] == sim.fal_user_id
    urls = [image["url"] for image in event["payload"]["images"]]
    assert len(urls) == 2
    status = client.get(reply["status_url"], headers=key()).json()
    assert status["status"] == "COMPLETED" and status["response_url"] == base and "error" not in status
    result = client.get(reply["response_url"], headers=key()).json()
    assert [image["url"] for image in result["images"]] == urls
    download_series(client, urls, (1024, 1536))
    assert sim.tasks[request_id]["status_reads"] == 2


def test_fal_refuses_more_than_6_images_a_wrong_key_and_a_bad_endpoint(sim, images, client):
    for field in ("max_images", "num_images"):
        r = fal_submit(client, sim, [images["photo"]], **{field: 7})
        assert r.status_code == 422
        [detail] = r.json()["detail"]
        assert detail["loc"] == ["body", field] and "less than or equal to 6" in detail["msg"]
    r = fal_submit(client, sim, [images["photo"]] * 10, max_images=6)
    assert r.status_code == 422 and "must not exceed 15" in r.json()["detail"][0]["msg"]
    assert fal_submit(client, sim, [images["photo"]], auth="wrong").status_code == 401
    bearer = client.post(f"{sim.base_url}{SEEDREAM}/v4/edit", json={"prompt": "p", "image_urls": [images["photo"]]},
                         headers={"Authorization": f"Bearer {FAL_KEY}"})
    assert bearer.status_code == 401  # fal's scheme is Key
    assert fal_submit(client, sim, [images["photo"]], endpoint="v9/edit").status_code == 404


def test_a_small_image_size_is_scaled_up_to_the_endpoints_minimum_area(sim, images, client):
    r = fal_submit(client, sim, [images["photo"]], endpoint="v4.5/edit", max_images=1, image_size="square_hd")
    task = sim.wait_for_task(r.json()["request_id"])
    assert task["width"] * task["height"] >= 3_686_400 and task["width"] == task["height"]


def test_cancel_answers_as_fal_documents_and_is_recorded(sim, images, receiver, client):
    sim.set_faults(generation_seconds=5.0)
    name = tag("fal-cancel")
    reply = fal_submit(client, sim, [images["photo"]], receiver.url(name)).json()
    answer = client.put(reply["cancel_url"], headers=key())
    assert answer.status_code == 202 and answer.json() == {"status": "CANCELLATION_REQUESTED"}
    (call,) = receiver.wait(name, timeout=15)  # the request ends failed: fal's ERROR webhook
    assert json.loads(call["body"])["status"] == "ERROR"
    again = client.put(reply["cancel_url"], headers=key())
    assert again.status_code == 400 and again.json() == {"status": "ALREADY_COMPLETED"}
    unknown = client.put(f"{sim.base_url}/fal-ai/bytedance/requests/nope/cancel", headers=key())
    assert unknown.status_code == 404 and unknown.json() == {"status": "NOT_FOUND"}
    assert client.post(reply["cancel_url"], headers=key()).status_code == 405  # the method is PUT
    assert [(c["request_id"], c["method"], c["answer"]) for c in sim.fal_cancels[-3:]] == [
        (reply["request_id"], "PUT", "CANCELLATION_REQUESTED"), (reply["request_id"], "PUT", "ALREADY_COMPLETED"),
        ("nope", "PUT", "NOT_FOUND")]


@pytest.mark.parametrize("delivery", ["error", "payload_error"])
def test_the_fal_delivery_fault_sends_error_and_null_payload_webhooks(sim, images, receiver, client, delivery):
    sim.set_faults(fal_delivery=delivery)
    name = tag(f"fal-{delivery}")
    fal_submit(client, sim, [images["photo"]], receiver.url(name))
    (call,) = receiver.wait(name)
    verify_fal(client, sim.base_url, call["headers"], call["body"])
    event = json.loads(call["body"])
    if delivery == "error":
        assert event["status"] == "ERROR" and event["error"] and event["payload"]["detail"]
    else:
        assert event["status"] == "OK" and event["payload"] is None and event["payload_error"]


def test_a_failed_request_says_error_in_the_webhook_the_status_and_the_result(sim, images, receiver, client):
    sim.set_faults(task_result="failed")
    name = tag("fal-failed")
    reply = fal_submit(client, sim, [images["photo"]], receiver.url(name)).json()
    (call,) = receiver.wait(name)
    assert json.loads(call["body"])["status"] == "ERROR"
    assert client.get(reply["status_url"], headers=key()).json()["error"]
    result = client.get(reply["response_url"], headers=key())
    assert result.status_code == 422 and "simulated generation failure" in result.json()["detail"][0]["msg"]


def test_the_existing_faults_hold_for_fal(sim, images, receiver, client):
    sim.set_faults(submit_errors=[429])
    throttled = fal_submit(client, sim, [images["photo"]])
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1" and throttled.json()["detail"]
    sim.set_faults(callback="duplicate")
    name = tag("fal-dup")
    fal_submit(client, sim, [images["photo"]], receiver.url(name))
    calls = receiver.wait(name, count=3)
    assert len(calls) == 3 and len({c["body"] for c in calls}) == 1
    sim.set_faults(callback="lost")
    reply = fal_submit(client, sim, [images["photo"]], receiver.url(tag("fal-lost"))).json()
    sim.wait_for_task(reply["request_id"])
    assert client.get(reply["status_url"], headers=key()).json()["status"] == "COMPLETED"


def test_the_jwks_serves_the_newest_fal_key_first(sim, client):
    before = sim.fal_jwks_fetches
    old = client.get(f"{sim.base_url}/.well-known/jwks.json").json()["keys"]
    sim.rotate_fal_key()
    new = client.get(f"{sim.base_url}/.well-known/jwks.json").json()["keys"]
    assert new[1:] == old and (new[0]["kty"], new[0]["crv"]) == ("OKP", "Ed25519")
    assert sim.fal_jwks_fetches == before + 2 and sim.state()["fal_jwks_fetches"] == sim.fal_jwks_fetches
