"""Atlas Cloud: the signature in either header, a top-level ERROR, and outputs as strings or ``{"url"}`` objects.

Signatures come from ``tests.support.signing.AtlasSigner`` (independent of the code under test).
The older Atlas Cloud tests are in ``test_providers_atlas_evolink.py``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from seedream.errors import InvalidRequest, ProviderRejected, Unauthorized
from seedream.providers.atlascloud import AtlasCloud
from seedream.providers.base import NotTerminal
from seedream.providers.calls import Http
from tests.support.signing import AtlasSigner

NOW = 1_763_700_000
BARE = "X-AtlasCloud-Webhook-Signature"
ED25519 = "X-AtlasCloud-Webhook-Signature-Ed25519"
URLS = ["https://cdn.atlascloud.ai/o/1.png", "https://cdn.atlascloud.ai/o/2.png"]


class FakeAtlas:
    """JWKS of ``signer`` and a prediction endpoint answering ``prediction``."""

    def __init__(self):
        self.signer = AtlasSigner("k1")
        self.prediction: dict = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/webhooks/jwks.json":
            return httpx.Response(200, json=self.signer.jwks())
        if request.url.path == "/api/v1/model/prediction/pred-123":
            return httpx.Response(200, json={"code": 200, "message": "success", "data": self.prediction})
        return httpx.Response(404, json={"message": "not found"})


@pytest.fixture
def fake() -> FakeAtlas:
    return FakeAtlas()


@pytest.fixture
def atlas(fake) -> AtlasCloud:
    return AtlasCloud(Http(8, transport=httpx.MockTransport(fake.handler)), lambda: {"api_key": "atlas-key"},
                      jwks_min_refresh_seconds=60)


def event(top: str = "OK", status: str = "completed", outputs: list | None = None, **extra) -> bytes:
    body = {"session_id": "pred-123", "event_type": "image.task.terminal", "status": top,
            "created_at": NOW * 1000,
            "payload": {"model": "bytedance/seedream-v4/edit-sequential", "status": status,
                        "outputs": URLS if outputs is None else outputs}} | extra
    return json.dumps(body).encode()


# -- the signature header --------------------------------------------------------------------
def test_a_signature_in_the_bare_header_is_accepted(fake, atlas):
    body = event()
    headers = fake.signer.headers(body, timestamp=NOW, signature_header=BARE)
    assert ED25519 not in headers
    atlas.verify_callback(headers, body, NOW)
    lowered = {k.lower(): v for k, v in fake.signer.headers(body, timestamp=NOW, signature_header=BARE,
                                                            padded=True).items()}
    atlas.verify_callback(lowered, body, NOW)


def test_the_short_timestamp_and_key_id_names_one_client_reads_are_taken_too(fake, atlas):
    body = event()
    headers = fake.signer.headers(body, timestamp=NOW)
    headers["X-AtlasCloud-Timestamp"] = headers.pop("X-AtlasCloud-Webhook-Timestamp")
    headers["X-AtlasCloud-Key-Id"] = headers.pop("X-AtlasCloud-Webhook-Key-Id")
    atlas.verify_callback(headers, body, NOW)
    headers["X-AtlasCloud-Timestamp"] = str(NOW + 1)  # the signed timestamp is still the one checked
    with pytest.raises(Unauthorized) as refused:
        atlas.verify_callback(headers, body, NOW)
    assert refused.value.code == "signature_invalid"


@pytest.mark.parametrize("forgery", ["other key", "altered body", "legacy hmac"])
def test_a_forged_bare_header_is_refused(fake, atlas, forgery):
    body = event()
    if forgery == "other key":
        headers = AtlasSigner("k1").headers(body, timestamp=NOW, signature_header=BARE)
    elif forgery == "altered body":
        headers = fake.signer.headers(body, timestamp=NOW, signature_header=BARE)
        body = event(outputs=["https://evil.example.com/x.png"])
    else:  # the bare header alone, holding something that is not an Ed25519 signature
        headers = fake.signer.headers(body, timestamp=NOW, signature_header=BARE) | {BARE: "sha256=" + "ab" * 32}
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(headers, body, NOW)
    assert err.value.code == "signature_invalid"


@pytest.mark.parametrize("bare", ["sha256=" + "0f" * 32, "0f" * 32, "v1,bm90IGFuIGVkMjU1MTk=", ""])
def test_with_both_headers_the_ed25519_one_wins_over_a_non_ed25519_bare_value(fake, atlas, bare):
    body = event()
    headers = fake.signer.headers(body, timestamp=NOW) | {BARE: bare}
    atlas.verify_callback(headers, body, NOW)


def test_with_both_headers_a_bad_ed25519_one_is_not_rescued_by_the_bare_one(fake, atlas):
    body = event()
    good = fake.signer.signature(NOW, body)
    forged = AtlasSigner("k1").signature(NOW, body)
    headers = fake.signer.headers(body, timestamp=NOW) | {ED25519: forged, BARE: good}
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(headers, body, NOW)
    assert err.value.code == "signature_invalid"


def test_no_signature_in_either_header_is_missing(fake, atlas):
    body = event()
    headers = fake.signer.headers(body, timestamp=NOW)
    del headers[ED25519]
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(headers, body, NOW)
    assert err.value.code == "signature_missing"


# -- a top-level ERROR -----------------------------------------------------------------------
@pytest.mark.parametrize("payload_status", ["completed", "succeeded", "processing", ""])
def test_a_top_level_error_is_a_failure_whatever_the_payload_says(atlas, payload_status):
    notice = atlas.parse_callback({}, event("ERROR", payload_status))
    assert (notice.status, notice.provider_status, notice.output_urls) == ("failed", "failed", [])
    assert "ERROR" in notice.error_message


def test_a_top_level_error_keeps_the_payloads_failure_and_the_providers_message(atlas):
    notice = atlas.parse_callback({}, event("ERROR", "timeout", outputs=[], error="took too long"))
    assert (notice.status, notice.provider_status, notice.error_message) == ("failed", "timeout", "took too long")
    notice = atlas.parse_callback({}, event("ERROR", "completed", error={"code": 500, "message": "boom"}))
    assert (notice.status, notice.error_message) == ("failed", "boom")


def test_ok_with_a_failed_payload_is_still_a_failure_and_processing_is_not_terminal(atlas):
    assert atlas.parse_callback({}, event("OK", "failed", outputs=[])).status == "failed"
    with pytest.raises(NotTerminal):
        atlas.parse_callback({}, event("OK", "processing"))


# -- outputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("outputs", [URLS, [{"url": URLS[0]}, {"url": URLS[1]}], [URLS[0], {"url": URLS[1]}]])
def test_callback_outputs_may_be_strings_or_url_objects(atlas, outputs):
    notice = atlas.parse_callback({}, event(outputs=outputs))
    assert (notice.status, notice.output_urls) == ("succeeded", URLS)


@pytest.mark.parametrize("outputs", [[{"uri": URLS[0]}], [{"url": None}], [{"url": ""}], [42], [None], "u"])
def test_unreadable_callback_outputs_are_malformed(atlas, outputs):
    with pytest.raises(InvalidRequest) as err:
        atlas.parse_callback({}, event(outputs=outputs))
    assert err.value.code == "callback_malformed"


@pytest.mark.parametrize("outputs", [URLS, [{"url": URLS[0]}, {"url": URLS[1]}]])
def test_the_status_read_reads_outputs_the_same_way(fake, atlas, outputs):
    fake.prediction = {"id": "pred-123", "status": "completed", "outputs": outputs, "error": None}
    notice = atlas.read_status("pred-123")
    assert (notice.status, notice.output_urls, notice.via) == ("succeeded", URLS, "reconcile")


def test_the_status_read_of_a_failure_and_of_unreadable_outputs(fake, atlas):
    fake.prediction = {"id": "pred-123", "status": "failed", "outputs": [], "error": "content policy"}
    notice = atlas.read_status("pred-123")
    assert (notice.status, notice.output_urls, notice.error_message) == ("failed", [], "content policy")
    fake.prediction = {"id": "pred-123", "status": "completed", "outputs": [{"uri": URLS[0]}]}
    with pytest.raises(ProviderRejected):
        atlas.read_status("pred-123")
