"""WaveSpeed's v3 signature, checked against signatures made by the independent recipe in ``tests/support``."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from seedream.errors import Unauthorized
from seedream.providers.base import NotTerminal
from seedream.providers.calls import Http
from seedream.providers.wavespeed import WaveSpeed, verify
from tests.support.signing import wavespeed_signature

SECRET = "whsec_c2VjcmV0LWJ5dGVz"  # base64 of "secret-bytes": WaveSpeed uses the text, not the decoded bytes
BODY = json.dumps({"id": "p1", "status": "completed", "outputs": ["https://cdn.test/0.png"],
                   "has_nsfw_contents": [False]}).encode()
NOW = 1_795_255_215


SIGNATURE = wavespeed_signature(SECRET, "wh-1", str(NOW), BODY)


def headers(**change):
    return {"webhook-id": "wh-1", "webhook-timestamp": str(NOW), "webhook-signature": SIGNATURE} | change


def test_a_signature_made_from_the_documented_recipe_verifies():
    verify(SECRET, headers(), BODY, NOW)
    verify(SECRET, {k.title(): v for k, v in headers().items()}, BODY, NOW)  # header names are case-insensitive


def test_the_secret_is_used_as_text_not_base64_decoded():
    import base64

    decoded_key = base64.b64decode(SECRET[len("whsec_"):])
    standard = "v3," + hmac.new(decoded_key, f"wh-1.{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(Unauthorized):
        verify(SECRET, headers(**{"webhook-signature": standard}), BODY, NOW)


@pytest.mark.parametrize("change, body, now, code", [
    ({"webhook-signature": "v3," + "0" * 64}, BODY, NOW, "signature_invalid"),
    ({}, BODY.replace(b"completed", b"failed"), NOW, "signature_invalid"),
    ({"webhook-id": "wh-2"}, BODY, NOW, "signature_invalid"),
    ({}, BODY, NOW + 301, "timestamp_out_of_range"),
    ({}, BODY, NOW - 301, "timestamp_out_of_range"),
    ({"webhook-timestamp": "soon"}, BODY, NOW, "timestamp_out_of_range"),
    ({"webhook-signature": ""}, BODY, NOW, "signature_missing"),
])
def test_bad_callbacks_are_refused_with_a_code(change, body, now, code):
    with pytest.raises(Unauthorized) as caught:
        verify(SECRET, headers(**change), body, now)
    assert caught.value.code == code


def test_several_signatures_one_valid_is_accepted():
    verify(SECRET, headers(**{"webhook-signature": "v3,deadbeef " + SIGNATURE}), BODY, NOW)


def test_the_webhook_secret_is_fetched_once_when_not_configured():
    calls = []

    def handler(request):
        calls.append(request.url.path)
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(200, json={"code": 200, "data": {"secret": SECRET}})

    adapter = WaveSpeed(Http(8, transport=httpx.MockTransport(handler)), lambda: {"api_key": "k"})
    adapter.verify_callback(headers(), BODY, NOW)
    adapter.verify_callback(headers(), BODY, NOW)
    assert calls == ["/api/v3/webhook/secret"]


def test_callback_parsing():
    adapter = WaveSpeed(Http(8), lambda: {"api_key": "k"})
    notice = adapter.parse_callback(headers(), BODY)
    assert (notice.status, notice.provider_task_id, notice.output_urls) == ("succeeded", "p1", ["https://cdn.test/0.png"])
    failed = adapter.parse_callback({}, json.dumps({"id": "p1", "status": "timeout", "error": "took too long"}).encode())
    assert failed.status == "failed" and failed.error_message == "took too long"
    with pytest.raises(NotTerminal):
        adapter.parse_callback({}, json.dumps({"id": "p1", "status": "processing"}).encode())
