"""fal.ai: the queue submit, the Ed25519 webhook (forged, stale, unknown keys refused; the JWKS cached and refetched
sparingly), ERROR and ``payload: null`` webhooks, status reads and cancels at the URLs fal gave, and a cancelled job
cancelled at fal through the submit queue (a failure there leaves the job cancelled).

Signatures come from ``tests.support.signing.FalSigner`` (independent of the code under test); fal's HTTP is an
``httpx.MockTransport`` that records what it was sent.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from seedream.errors import InvalidRequest, ProviderRejected, ProviderUnavailable, Unauthorized
from seedream.models.messages import SubmitMessage
from seedream.models.requests import JobRequest
from seedream.providers import build_providers
from seedream.providers.base import NotTerminal, provider_cancel
from seedream.providers.calls import Http
from seedream.providers.fal import Fal
from seedream.settings import Settings
from seedream.usecases.accept import accept
from seedream.usecases.cancel import cancel
from seedream.usecases.submit import submit
from tests.support.signing import FalSigner

NOW = 1_763_700_000
QUEUE = "https://queue.fal.run"
REQUEST_ID = "764cabcf-b745-4b3e-ae38-1200304cf45b"
URLS = {"status_url": f"{QUEUE}/fal-ai/bytedance/requests/{REQUEST_ID}/status",
        "response_url": f"{QUEUE}/fal-ai/bytedance/requests/{REQUEST_ID}",
        "cancel_url": f"{QUEUE}/fal-ai/bytedance/requests/{REQUEST_ID}/cancel"}
IMAGES = ["https://v3.fal.media/files/a/1.png", "https://v3.fal.media/files/a/2.png"]


class FakeFal:
    """fal's queue, result, cancel and JWKS endpoints; ``sent`` records every request."""

    def __init__(self):
        self.signer = FalSigner()
        self.jwks = self.signer.jwks()
        self.sent: list[httpx.Request] = []
        self.queue_status = {"status": "IN_PROGRESS"}
        self.result = (200, {"images": [{"url": u, "content_type": "image/png"} for u in IMAGES], "seed": 3})
        self.cancel_answer = (202, {"status": "CANCELLATION_REQUESTED"})
        self.submit_answer = (200, {"request_id": REQUEST_ID, "status": "IN_QUEUE", **URLS})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        url = str(request.url).split("?")[0]
        if url.endswith("/.well-known/jwks.json"):
            return httpx.Response(200, json=self.jwks)
        if request.method == "POST" and url.startswith(f"{QUEUE}/fal-ai/bytedance/seedream/"):
            return httpx.Response(self.submit_answer[0], json=self.submit_answer[1])
        if url == URLS["status_url"]:
            return httpx.Response(200, json=self.queue_status)
        if url == URLS["response_url"]:
            return httpx.Response(self.result[0], json=self.result[1])
        if url == URLS["cancel_url"] and request.method == "PUT":
            return httpx.Response(self.cancel_answer[0], json=self.cancel_answer[1])
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def fake() -> FakeFal:
    return FakeFal()


@pytest.fixture
def fal(fake) -> Fal:
    return Fal(Http(8, transport=httpx.MockTransport(fake.handler)), lambda: {"api_key": "key-id:key-secret"},
               jwks_min_refresh_seconds=60)


def request(**change) -> JobRequest:
    return JobRequest(**({"provider": "fal", "model": "seedream-v4", "prompt": "a series of 4 images",
                          "images": ["https://img.test/a.png"], "max_images": 4, "size": "1536*1024"} | change))


def webhook(status: str = "OK", payload: object = "images", **extra) -> bytes:
    if payload == "images":
        payload = {"images": [{"url": u, "content_type": "image/png", "width": 1536} for u in IMAGES], "seed": 3}
    return json.dumps({"request_id": REQUEST_ID, "gateway_request_id": REQUEST_ID, "status": status,
                       "payload": payload, "error": None, "payload_error": None} | extra).encode()


# -- submit ------------------------------------------------------------------------------------
def test_submit_queues_one_series_of_max_images_with_the_webhook_and_keeps_the_urls_fal_returned(fake, fal):
    result = fal.submit(request(seed=9), ["https://img.test/a.png"], "https://hooks.test/v1/webhooks/fal/j1?token=t&x=1")
    [sent] = fake.sent
    assert sent.method == "POST" and sent.headers["authorization"] == "Key key-id:key-secret"
    assert f"{sent.url.scheme}://{sent.url.host}{sent.url.path}" == f"{QUEUE}/fal-ai/bytedance/seedream/v4/edit"
    assert parse_qs(urlsplit(str(sent.url)).query)["fal_webhook"] == ["https://hooks.test/v1/webhooks/fal/j1?token=t&x=1"]
    assert json.loads(sent.content) == {"prompt": "a series of 4 images", "image_urls": ["https://img.test/a.png"],
                                        "image_size": {"width": 1536, "height": 1024}, "num_images": 1,
                                        "max_images": 4, "seed": 9}
    assert result.provider_task_id == REQUEST_ID and result.provider_urls == URLS


@pytest.mark.parametrize("model, endpoint", [("seedream-v4.5", "v4.5/edit"), ("seedream-v5.0-lite", "v5/lite/edit")])
def test_each_model_goes_to_its_documented_endpoint(fake, fal, model, endpoint):
    fal.submit(request(model=model, size="2048*2048"), ["https://img.test/a.png"], "https://hooks.test/cb")
    assert fake.sent[0].url.path == f"/fal-ai/bytedance/seedream/{endpoint}"
    assert "seed" not in json.loads(fake.sent[0].content)


def test_a_reply_without_the_queue_urls_or_a_422_is_a_rejection(fake, fal):
    fake.submit_answer = (200, {"request_id": REQUEST_ID})
    with pytest.raises(ProviderRejected, match="status_url, response_url, cancel_url"):
        fal.submit(request(), [], "https://hooks.test/cb")
    fake.submit_answer = (422, {"detail": [{"loc": ["body", "max_images"], "msg": "ensure this value is less than or "
                                            "equal to 6", "type": "value_error"}]})
    with pytest.raises(ProviderRejected) as caught:
        fal.submit(request(), [], "https://hooks.test/cb")
    assert caught.value.names_limit  # auto may fail over to the next provider
    fake.submit_answer = (200, {"request_id": REQUEST_ID, **URLS, "cancel_url": "https://elsewhere.test/cancel"})
    with pytest.raises(ProviderRejected, match="cancel_url outside https://queue.fal.run:443"):
        fal.submit(request(), [], "https://hooks.test/cb")


def test_more_than_6_images_is_refused_at_the_door_naming_the_limit(fal):
    with pytest.raises(InvalidRequest) as caught:
        fal.check(request(max_images=7))
    assert caught.value.code == "provider_limit_exceeded"
    assert [(d["limit"], d["value"]) for d in caught.value.details] == [("max_outputs", 6)]
    assert "seedream-v4 at fal makes at most 6 images, not max_images 7" in caught.value.message
    fal.check(request(max_images=6))


def test_v5_lite_takes_at_most_3072_squared_pixels_and_a_seed_only_when_configured(fal):
    with pytest.raises(InvalidRequest) as caught:
        fal.check(request(model="seedream-v5.0-lite", size="4096*4096"))
    assert caught.value.details[0]["limit"] == "pixel_range"
    with pytest.raises(InvalidRequest):
        fal.check(request(model="seedream-v5.0-lite", size="2048*2048", seed=1))
    configured = build_providers(Settings(seed_providers=("fal",)), Http(8), lambda name: lambda: {})["fal"]
    configured.check(request(model="seedream-v5.0-lite", size="2048*2048", seed=1))


# -- signature ---------------------------------------------------------------------------------
def test_a_webhook_signed_with_a_published_key_is_accepted_and_the_jwks_fetched_once(fake, fal):
    body = webhook()
    for _ in range(3):
        fal.verify_callback(fake.signer.headers(body, REQUEST_ID, timestamp=NOW), body, NOW)
    assert fal.jwks.fetches == 1
    lowered = {k.lower(): v for k, v in fake.signer.headers(body, REQUEST_ID, timestamp=NOW).items()}
    fal.verify_callback(lowered, body, NOW + 1)


@pytest.mark.parametrize("forgery, code", [
    ("altered body", "signature_invalid"), ("other request id", "signature_invalid"),
    ("other user id", "signature_invalid"), ("stale", "timestamp_out_of_range"), ("future", "timestamp_out_of_range"),
    ("not hex", "signature_invalid"), ("short", "signature_invalid"), ("missing", "signature_missing"),
])
def test_forged_and_stale_webhooks_are_refused(fake, fal, forgery, code):
    body = webhook()
    headers = fake.signer.headers(body, REQUEST_ID, timestamp=NOW)
    if forgery == "altered body":
        body = webhook(payload={"images": [{"url": "https://evil.test/x.png"}]})
    elif forgery == "other request id":
        headers = fake.signer.headers(body, "another-request", timestamp=NOW) | {"X-Fal-Webhook-Request-Id": REQUEST_ID}
    elif forgery == "other user id":
        headers["X-Fal-Webhook-User-Id"] = "someone-else"
    elif forgery in ("stale", "future"):
        headers = fake.signer.headers(body, REQUEST_ID, timestamp=NOW - 301 if forgery == "stale" else NOW + 301)
    elif forgery == "not hex":
        headers["X-Fal-Webhook-Signature"] = "zz" * 64
    elif forgery == "short":
        headers["X-Fal-Webhook-Signature"] = headers["X-Fal-Webhook-Signature"][:64]
    else:
        del headers["X-Fal-Webhook-Signature"]
    with pytest.raises(Unauthorized) as caught:
        fal.verify_callback(headers, body, NOW)
    assert caught.value.code == code


def test_a_replayed_webhook_outside_the_window_is_refused(fake, fal):
    body = webhook()
    headers = fake.signer.headers(body, REQUEST_ID, timestamp=NOW)
    fal.verify_callback(headers, body, NOW + 300)  # within ±300 s
    with pytest.raises(Unauthorized) as caught:
        fal.verify_callback(headers, body, NOW + 301)
    assert caught.value.code == "timestamp_out_of_range"


def test_an_unknown_key_is_refused_after_one_rate_limited_refetch_and_a_rotated_key_is_found(fake, fal):
    body = webhook()
    fal.verify_callback(fake.signer.headers(body, REQUEST_ID, timestamp=NOW), body, NOW)
    stranger = FalSigner()
    for offset in (61, 62, 63):  # one refetch, then the rate limit holds: forgeries cannot hammer the JWKS
        with pytest.raises(Unauthorized) as caught:
            fal.verify_callback(stranger.headers(body, REQUEST_ID, timestamp=NOW), body, NOW + offset)
        assert caught.value.code == "signature_invalid"
    assert fal.jwks.fetches == 2
    rotated = FalSigner()
    fake.jwks = rotated.jwks(fake.signer)
    fal.verify_callback(rotated.headers(body, REQUEST_ID, timestamp=NOW + 121), body, NOW + 121)
    assert fal.jwks.fetches == 3
    fal.verify_callback(fake.signer.headers(body, REQUEST_ID, timestamp=NOW + 122), body, NOW + 122)  # old key kept
    assert fal.jwks.fetches == 3


def test_an_unreachable_jwks_makes_the_webhook_unverifiable(fake):
    fal = Fal(Http(8, transport=httpx.MockTransport(lambda r: httpx.Response(503))), lambda: {"api_key": "k"})
    body = webhook()
    with pytest.raises(Unauthorized) as caught:
        fal.verify_callback(fake.signer.headers(body, REQUEST_ID, timestamp=NOW), body, NOW)
    assert caught.value.code == "signature_unverifiable"


# -- webhook body ------------------------------------------------------------------------------
def test_an_ok_webhook_is_a_success_with_the_image_urls(fal):
    notice = fal.parse_callback({"X-Fal-Webhook-Request-Id": REQUEST_ID}, webhook())
    assert (notice.status, notice.provider_task_id, notice.output_urls) == ("succeeded", REQUEST_ID, IMAGES)


def test_an_error_webhook_fails_the_job_with_fals_message(fal):
    notice = fal.parse_callback({}, webhook("ERROR", {"detail": [{"msg": "bad image"}]},
                                            error="Invalid status code: 422"))
    assert (notice.status, notice.provider_status, notice.error_message) == ("failed", "error", "Invalid status code: 422")


def test_a_null_payload_fails_the_job_with_the_payload_error(fal):
    notice = fal.parse_callback({}, webhook("OK", None, payload_error="Failed to serialize the response"))
    assert notice.status == "failed" and notice.output_urls == []
    assert notice.error_message == "payload_error: Failed to serialize the response"


@pytest.mark.parametrize("body", [webhook(payload={"images": [{"no": "url"}]}), webhook(status="IN_PROGRESS"),
                                  b'{"status": "OK"}', webhook(payload=[1])])
def test_a_malformed_webhook_is_refused(fal, body):
    with pytest.raises(InvalidRequest) as caught:
        fal.parse_callback({}, body)
    assert caught.value.code == "callback_malformed"


def test_the_signed_request_id_must_be_the_bodys(fal):
    with pytest.raises(InvalidRequest):
        fal.parse_callback({"X-Fal-Webhook-Request-Id": "another-request"}, webhook())


# -- status reads and cancels at the URLs fal gave -----------------------------------------------
def test_read_status_uses_the_kept_urls_and_reads_the_result_once_completed(fake, fal):
    with pytest.raises(NotTerminal):
        fal.read_status(REQUEST_ID, URLS)
    fake.queue_status = {"status": "COMPLETED"}
    notice = fal.read_status(REQUEST_ID, URLS)
    assert (notice.status, notice.output_urls, notice.via) == ("succeeded", IMAGES, "reconcile")
    assert [(r.method, str(r.url)) for r in fake.sent] == [("GET", URLS["status_url"]), ("GET", URLS["status_url"]),
                                                          ("GET", URLS["response_url"])]
    assert all(r.headers["authorization"] == "Key key-id:key-secret" for r in fake.sent)
    fake.result = (422, {"detail": "image could not be downloaded"})
    failed = fal.read_status(REQUEST_ID, URLS)
    assert failed.status == "failed" and failed.error_message == "image could not be downloaded"
    with pytest.raises(ProviderRejected, match="no status_url"):
        fal.read_status(REQUEST_ID, {})  # never rebuilt


def test_cancel_puts_to_the_kept_cancel_url(fake, fal):
    assert provider_cancel(fal) is not None
    assert fal.cancel(REQUEST_ID, URLS) == "CANCELLATION_REQUESTED"
    assert [(r.method, str(r.url)) for r in fake.sent] == [("PUT", URLS["cancel_url"])]
    fake.cancel_answer = (400, {"status": "ALREADY_COMPLETED"})
    assert fal.cancel(REQUEST_ID, URLS) == "ALREADY_COMPLETED"
    fake.cancel_answer = (503, {"detail": "down"})
    with pytest.raises(ProviderUnavailable):
        fal.cancel(REQUEST_ID, URLS)


def test_only_fal_and_replicate_have_a_cancel():
    providers = build_providers(Settings(), Http(8), lambda name: lambda: {})
    assert [name for name, p in providers.items() if provider_cancel(p)] == ["replicate", "fal"]


# -- the cancel use case -----------------------------------------------------------------------
BODY = {"provider": "fal", "model": "seedream-v4", "prompt": "a series of 2 images", "max_images": 2,
        "images": ["https://images.test/a.png"], "size": "1024*1024"}


def fal_and_wavespeed(fake, provider_http):
    def handler(request):
        return fake.handler(request) if request.url.host == "queue.fal.run" else provider_http(request)
    return handler


def submit_queue(svc) -> list[dict]:
    sqs = svc.queues.sqs
    answer = sqs.receive_message(QueueUrl=svc.settings.submit_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_a_cancelled_fal_job_is_cancelled_at_fal_by_the_submit_function(svc_with, fake, provider_http):
    svc = svc_with(fal_and_wavespeed(fake, provider_http))
    job = accept(svc, dict(BODY))
    submit_queue(svc)  # the job's own submit message
    assert submit(svc, job.job_id) == "submitted"
    assert svc.store.get(job.job_id).provider_urls == URLS
    assert cancel(svc, job.job_id).status == "cancelled"
    [message] = submit_queue(svc)
    assert message == {"job_id": job.job_id, "throttles": 0, "throttled_since": None, "held_seconds": 0.0,
                       "provider_cancel": True}
    assert submit(svc, SubmitMessage(**message)) == "provider_cancelled"
    assert (fake.sent[-1].method, str(fake.sent[-1].url)) == ("PUT", URLS["cancel_url"])


def test_a_failed_provider_cancel_is_retried_then_counted_and_the_job_stays_cancelled(svc_with, fake, provider_http):
    svc = svc_with(fal_and_wavespeed(fake, provider_http))
    job = accept(svc, dict(BODY))
    submit(svc, job.job_id)
    cancel(svc, job.job_id)
    fake.cancel_answer = (503, {"detail": "down"})
    message = SubmitMessage(job_id=job.job_id, provider_cancel=True)
    with pytest.raises(ProviderUnavailable):
        submit(svc, message)  # SQS tries again
    assert submit(svc, message, final_attempt=True) == "provider_cancel_failed"
    fake.cancel_answer = (401, {"detail": "Invalid authentication"})
    assert submit(svc, message) == "provider_cancel_failed"
    assert svc.store.get(job.job_id).status == "cancelled"


def test_no_provider_cancel_is_queued_for_providers_without_one_or_jobs_never_handed_over(svc):
    queued = accept(svc, dict(BODY))
    submit_queue(svc)
    cancel(svc, queued.job_id)  # not handed to fal yet: nothing to cancel there
    assert submit_queue(svc) == []
    wavespeed = accept(svc, BODY | {"provider": "wavespeed"})
    submit(svc, wavespeed.job_id)
    submit_queue(svc)
    cancel(svc, wavespeed.job_id)
    assert submit_queue(svc) == []
