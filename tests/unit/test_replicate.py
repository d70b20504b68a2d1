"""Replicate adapter: the submit body and size mapping, Standard Webhooks verification (forged, stale, replayed
headers refused), the secret fetched once, the prediction object parsed (succeeded, failed, canceled, out-of-order
non-terminal events), the status read and the outputs' expiry.

Signatures come from ``tests.support.signing.replicate_headers`` (independent of the code under test); the
provider's HTTP is an ``httpx.MockTransport``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from seedream.errors import InvalidRequest, ProviderRejected, Unauthorized
from seedream.models.requests import JobRequest
from seedream.providers.base import NotTerminal
from seedream.providers.calls import Http
from seedream.providers.replicate import Replicate, replicate_size
from tests.support.signing import replicate_headers

NOW = 1_763_700_000
SECRET = "whsec_" + base64.b64encode(b"replicate-unit-test-signing-key!").decode()
OUTPUTS = ["https://replicate.delivery/xezq/a/out-0.jpg", "https://replicate.delivery/xezq/a/out-1.jpg"]
CALLBACK = "https://hooks.test/v1/webhooks/replicate/job-1?token=t"


class FakeReplicate:
    """Replicate's API: predictions created (201), read (``prediction``), cancelled, and the signing secret."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.prediction: dict = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != "Bearer r8_unit":
            return httpx.Response(401, json={"title": "Unauthenticated", "detail": "bad token", "status": 401})
        path = request.url.path
        if path.startswith("/v1/models/bytedance/") and request.method == "POST":
            return httpx.Response(201, json={"id": "gm3qorzdhgbfurvjtvhg6dckhu", "status": "starting"})
        if path == "/v1/webhooks/default/secret":
            return httpx.Response(200, json={"key": SECRET})
        if path == "/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu":
            return httpx.Response(200, json=self.prediction)
        if path == "/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel":
            return httpx.Response(200, json={"id": "gm3qorzdhgbfurvjtvhg6dckhu", "status": "canceled"})
        return httpx.Response(404, json={"title": "Not found", "detail": "no such thing", "status": 404})


@pytest.fixture
def fake() -> FakeReplicate:
    return FakeReplicate()


@pytest.fixture
def replicate(fake) -> Replicate:
    return Replicate(Http(8, transport=httpx.MockTransport(fake.handler)), lambda: {"api_key": "r8_unit"})


def job(model="seedream-v4", **change) -> JobRequest:
    return JobRequest(**({"provider": "replicate", "model": model, "prompt": "Generate a series of 3 images",
                          "images": ["https://img.test/a.png"], "max_images": 3, "size": "2048*2048"} | change))


def prediction(status="succeeded", **change) -> dict:
    return {"id": "gm3qorzdhgbfurvjtvhg6dckhu", "model": "bytedance/seedream-4", "version": "hidden",
            "status": status, "output": OUTPUTS if status == "succeeded" else None, "error": None,
            "created_at": "2025-11-21T04:39:00.000Z", "completed_at": "2025-11-21T04:40:00.000Z"} | change


def signed(body: bytes, **kwargs) -> dict:
    return replicate_headers(SECRET, body, **({"timestamp": NOW} | kwargs))


# -- submit --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "path"), [("seedream-v4", "/v1/models/bytedance/seedream-4/predictions"),
                                             ("seedream-v4.5", "/v1/models/bytedance/seedream-4.5/predictions")])
def test_submit_posts_the_input_with_a_completed_only_webhook(fake, replicate, model, path):
    result = replicate.submit(job(model), ["https://in.test/a.png"], CALLBACK)
    [request] = fake.requests
    assert (request.method, str(request.url)) == ("POST", f"https://api.replicate.com{path}")
    assert json.loads(request.content) == {
        "input": {"prompt": "Generate a series of 3 images", "image_input": ["https://in.test/a.png"], "size": "2K",
                  "aspect_ratio": "1:1", "sequential_image_generation": "auto", "max_images": 3},
        "webhook": CALLBACK, "webhook_events_filter": ["completed"]}
    assert (result.provider_task_id, result.provider_status) == ("gm3qorzdhgbfurvjtvhg6dckhu", "starting")


def test_sizes_map_to_a_named_size_only_where_it_is_exact():
    assert replicate_size("seedream-v4", 1024, 1024) == {"size": "1K", "aspect_ratio": "1:1"}
    assert replicate_size("seedream-v4", 4096, 4096) == {"size": "4K", "aspect_ratio": "1:1"}
    assert replicate_size("seedream-v4.5", 1024, 1024) == {"size": "custom", "width": 1024, "height": 1024}  # no 1K
    assert replicate_size("seedream-v4.5", 1728, 2304) == {"size": "custom", "width": 1728, "height": 2304}
    assert replicate_size("seedream-v4", 2048, 1024) == {"size": "custom", "width": 2048, "height": 1024}


def test_seedream_v5_lite_is_refused_at_the_door_and_the_limits_match_the_model_pages(replicate):
    with pytest.raises(InvalidRequest) as refused:
        replicate.check(job("seedream-v5.0-lite"))
    assert refused.value.code == "provider_limit_exceeded" and refused.value.http_status == 422
    assert refused.value.details[0]["limit"] == "model_not_served"
    assert "seedream-v5.0-lite is not served at replicate" in refused.value.message
    fourteen = [f"https://img.test/{i}.png" for i in range(14)]
    replicate.check(job("seedream-v4.5", images=fourteen, max_images=1))  # 4.5: 1..14 sources
    with pytest.raises(InvalidRequest):
        replicate.check(job("seedream-v4", images=fourteen, max_images=1))  # 4: 1..10
    assert replicate.limits("seedream-v4").price_basis == "per_image_produced"
    assert replicate.limits("seedream-v4").price_usd == 0.03


def test_a_reply_without_an_id_and_a_4xx_are_refusals(fake, replicate):
    fake.handler = lambda request: httpx.Response(201, json={"status": "starting"})
    bare = Replicate(Http(8, transport=httpx.MockTransport(fake.handler)), lambda: {"api_key": "r8_unit"})
    with pytest.raises(ProviderRejected):
        bare.submit(job(), [], CALLBACK)
    wrong_key = Replicate(Http(8, transport=httpx.MockTransport(FakeReplicate().handler)), lambda: {"api_key": "x"})
    with pytest.raises(ProviderRejected):
        wrong_key.submit(job(), [], CALLBACK)


def test_cancel_posts_to_the_predictions_cancel_url(fake, replicate):
    assert replicate.cancel("gm3qorzdhgbfurvjtvhg6dckhu", {}) == "canceled"
    assert [(r.method, r.url.path) for r in fake.requests] == [("POST", "/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel")]


# -- signature -----------------------------------------------------------------------------------

def test_a_valid_signature_passes_and_the_secret_is_fetched_once(fake, replicate):
    body = json.dumps(prediction()).encode()
    replicate.verify_callback(signed(body), body, NOW)
    replicate.verify_callback(signed(body), body, NOW + 10)
    assert replicate.secret_fetches == 1
    assert [r.url.path for r in fake.requests] == ["/v1/webhooks/default/secret"]


def test_a_configured_webhook_secret_is_used_without_a_fetch(fake):
    adapter = Replicate(Http(8, transport=httpx.MockTransport(fake.handler)),
                        lambda: {"api_key": "r8_unit", "webhook_secret": SECRET})
    body = b'{"id": "p"}'
    adapter.verify_callback(signed(body), body, NOW)
    assert fake.requests == [] and adapter.secret_fetches == 0


def test_one_of_several_space_separated_signatures_may_match(replicate):
    body = b'{"id": "p"}'
    headers = signed(body)
    headers["webhook-signature"] = "v1,bm90LXRoZS1zaWduYXR1cmU= " + headers["webhook-signature"]
    replicate.verify_callback(headers, body, NOW)


@pytest.mark.parametrize(("forge", "code"), [
    (lambda h, b: (h | {"webhook-signature": "v1,AAAA"}, b), "signature_invalid"),
    (lambda h, b: (h, b.replace(b"succeeded", b"failed")), "signature_invalid"),  # body altered after signing
    (lambda h, b: (h | {"webhook-id": "msg_other"}, b), "signature_invalid"),  # another message's id
    (lambda h, b: (replicate_headers("whsec_" + base64.b64encode(b"another key entirely!!").decode(), b,
                                     timestamp=NOW), b), "signature_invalid"),  # signed with another secret
    (lambda h, b: (h | {"webhook-signature": "v1"}, b), "signature_invalid"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "signature_missing"),
    (lambda h, b: (h | {"webhook-timestamp": "yesterday"}, b), "timestamp_out_of_range"),
])
def test_forged_callbacks_are_refused(replicate, forge, code):
    body = json.dumps(prediction()).encode()
    headers, sent = forge(signed(body), body)
    with pytest.raises(Unauthorized) as refused:
        replicate.verify_callback(headers, sent, NOW)
    assert refused.value.code == code


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_stale_and_future_timestamps_are_refused_even_when_signed(replicate, age):
    body = json.dumps(prediction()).encode()
    with pytest.raises(Unauthorized) as refused:
        replicate.verify_callback(signed(body, timestamp=NOW - age), body, NOW)
    assert refused.value.code == "timestamp_out_of_range"


def test_no_secret_anywhere_is_unverifiable(fake):
    fake_secret = FakeReplicate()
    adapter = Replicate(Http(8, transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={"key": None}) if r.url.path.endswith("/secret") else fake_secret.handler(r))),
        lambda: {"api_key": "r8_unit"})
    body = b'{"id": "p"}'
    with pytest.raises(Unauthorized) as refused:
        adapter.verify_callback(signed(body), body, NOW)
    assert refused.value.code == "signature_unverifiable"


# -- callback and status -------------------------------------------------------------------------

def test_a_succeeded_prediction_is_a_completion_whose_outputs_expire_an_hour_after_it_completed(replicate):
    body = json.dumps(prediction()).encode()
    notice = replicate.parse_callback(signed(body, webhook_id="msg_1"), body)
    assert (notice.provider, notice.provider_task_id, notice.status, notice.provider_status) == (
        "replicate", "gm3qorzdhgbfurvjtvhg6dckhu", "succeeded", "succeeded")
    assert notice.output_urls == OUTPUTS and notice.webhook_id == "msg_1"
    assert notice.outputs_expire_at == "2025-11-21T05:40:00.000Z"


@pytest.mark.parametrize(("status", "error"), [("failed", "The input or output was flagged as sensitive. (E005)"),
                                               ("canceled", None)])
def test_failed_and_canceled_predictions_fail_the_job_with_the_providers_message(replicate, status, error):
    notice = replicate.parse_callback({}, json.dumps(prediction(status, error=error)).encode())
    assert (notice.status, notice.provider_status, notice.output_urls) == ("failed", status, [])
    assert notice.error_message == error and notice.outputs_expire_at is None


@pytest.mark.parametrize("status", ["starting", "processing"])
def test_out_of_order_non_terminal_events_are_not_final(replicate, status):
    """A late ``start``/``output``/``logs`` delivery after ``completed`` changes nothing: it is not final."""
    with pytest.raises(NotTerminal):
        replicate.parse_callback({}, json.dumps(prediction(status, output=OUTPUTS[:1])).encode())


@pytest.mark.parametrize("body", [b"not json", b"[]", json.dumps(prediction(output=[1, 2])).encode(),
                                  json.dumps(prediction(id=None)).encode(),
                                  json.dumps(prediction(completed_at="yesterday")).encode()])
def test_unreadable_predictions_are_malformed(replicate, body):
    with pytest.raises(InvalidRequest) as refused:
        replicate.parse_callback({}, body)
    assert refused.value.code == "callback_malformed"


def test_the_status_read_gets_the_prediction(fake, replicate):
    fake.prediction = prediction("processing")
    with pytest.raises(NotTerminal):
        replicate.read_status("gm3qorzdhgbfurvjtvhg6dckhu")
    fake.prediction = prediction()
    notice = replicate.read_status("gm3qorzdhgbfurvjtvhg6dckhu")
    assert (notice.via, notice.status, notice.output_urls) == ("reconcile", "succeeded", OUTPUTS)
    assert [r.url.path for r in fake.requests] == ["/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu"] * 2
    fake.prediction = prediction(output={"not": "urls"})
    with pytest.raises(ProviderRejected):
        replicate.read_status("gm3qorzdhgbfurvjtvhg6dckhu")


def test_the_output_lifetime_is_configurable_and_counts_from_completion(fake):
    adapter = Replicate(Http(8, transport=httpx.MockTransport(fake.handler)), lambda: {"api_key": "r8_unit"},
                        output_lifetime_seconds=60)
    completed = datetime(2025, 11, 21, 4, 40, tzinfo=UTC)
    notice = adapter.parse_callback({}, json.dumps(prediction()).encode())
    assert notice.outputs_expire_at == (completed + timedelta(seconds=60)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
