"""Atlas Cloud and evolink adapters: submit shapes, Atlas Ed25519/JWKS verification, callbacks, evolink re-read.

Provider HTTP is faked with ``httpx.MockTransport``. Atlas signatures and the JWKS come from
``tests.support.signing`` (never from the adapter's helpers), so the test is independent of it.
"""

from __future__ import annotations

import json

import httpx
import pytest

from seedream.errors import InvalidRequest, ProviderRejected, ProviderUnavailable, Unauthorized
from seedream.models.messages import CompletionNotice
from seedream.models.requests import JobRequest
from seedream.providers import build_providers
from seedream.providers.atlascloud import AtlasCloud
from seedream.providers.base import NotTerminal
from seedream.providers.calls import Http
from seedream.providers.evolink import Evolink
from seedream.providers.limits import check_limits, estimated_cost_usd
from seedream.settings import Settings
from tests.support.signing import AtlasSigner, b64url

NOW = 1_763_700_000
CALLBACK = "https://hooks.example.com/v1/callbacks/atlascloud/job-1?token=secret-token"
IMAGES = ["https://img.example.com/a.png", "https://img.example.com/b.png"]


CONFIG_VARS = ("ATLASCLOUD_JWKS_URL", "EVOLINK_V5_LITE_MODEL", "EVOLINK_V45_PRICE_USD", "EVOLINK_V5_LITE_PRICE_USD",
               "SEED_PROVIDERS")


@pytest.fixture(autouse=True)
def _default_config(monkeypatch):
    """The adapters read optional settings from the environment at construction: start from the defaults."""
    for var in CONFIG_VARS:
        monkeypatch.delenv(var, raising=False)


def job(model: str = "seedream-v4", **overrides) -> JobRequest:
    fields = {"model": model, "prompt": "a series of 3 images of the same cat", "images": IMAGES,
              "max_images": 3, "size": "2048*1536"} | overrides
    return JobRequest(**fields)


class FakeAtlas:
    """A fake Atlas Cloud: records requests, serves a JWKS of ``signers`` that tests can rotate."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.k1 = AtlasSigner("k1")
        self.signers: list[AtlasSigner] = [self.k1]
        self.jwks_status = 200
        self.submit_reply: tuple[int, object] = (200, {"code": 200, "data": {"id": "pred-123", "status": "created"}})

    def jwks(self) -> dict:
        first, *others = self.signers
        return first.jwks(*others)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/v1/webhooks/jwks.json":
            return httpx.Response(self.jwks_status, json=self.jwks())
        if request.url.path == "/api/v1/model/generateImage":
            status, body = self.submit_reply
            return httpx.Response(status, json=body)
        return httpx.Response(404, json={"message": "not found"})

    def jwks_requests(self) -> int:
        return sum(r.url.path.endswith("/jwks.json") for r in self.requests)


def atlas_body(status: str = "completed", outputs: list[str] | None = None, **extra) -> bytes:
    event = {"session_id": "pred-123", "event_type": "image.task.terminal",
             "status": "ERROR" if status in {"failed", "timeout", "cancelled"} else "OK",
             "created_at": 1_763_700_000_000,
             "payload": {"model": "bytedance/seedream-v4/edit-sequential", "status": status,
                         "outputs": outputs if outputs is not None else ["https://cdn.atlascloud.ai/o/1.png"]}}
    event.update(extra)
    return json.dumps(event).encode()


@pytest.fixture
def fake() -> FakeAtlas:
    return FakeAtlas()


@pytest.fixture
def atlas(fake: FakeAtlas) -> AtlasCloud:
    client = Http(8, transport=httpx.MockTransport(fake.handler))
    return AtlasCloud(client, lambda: {"api_key": "atlas-key"}, jwks_min_refresh_seconds=60)


# -- Atlas Cloud: submit --------------------------------------------------------------------
@pytest.mark.parametrize("model", ["seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"])
def test_atlas_submit_body_path_headers(fake, atlas, model):
    result = atlas.submit(job(model, seed=42), IMAGES, CALLBACK)
    assert (result.provider_task_id, result.provider_status) == ("pred-123", "created")
    [request] = fake.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.atlascloud.ai/api/v1/model/generateImage"
    assert request.headers["Authorization"] == "Bearer atlas-key"
    assert json.loads(request.content) == {
        "model": f"bytedance/{model}/edit-sequential", "prompt": "a series of 3 images of the same cat",
        "images": IMAGES, "max_images": 3, "size": "2048*1536", "enable_base64_output": False,
        "webhook_url": CALLBACK,
    }  # no seed: Atlas Cloud does not accept one (sent only to SEED_PROVIDERS)


def test_atlas_submit_without_seed_and_custom_base(fake):
    client = Http(8, transport=httpx.MockTransport(fake.handler))
    adapter = AtlasCloud(client, lambda: {"api_key": "k"}, "http://127.0.0.1:9000/")
    adapter.submit(job(), IMAGES, CALLBACK)
    assert str(fake.requests[0].url) == "http://127.0.0.1:9000/api/v1/model/generateImage"
    assert "seed" not in json.loads(fake.requests[0].content)


def test_atlas_submit_without_id_is_rejected(fake, atlas):
    fake.submit_reply = (200, {"code": 200, "data": {}})
    with pytest.raises(ProviderRejected):
        atlas.submit(job(), IMAGES, CALLBACK)


def configured(env: dict, name: str, handler=lambda r: httpx.Response(500)):
    """The adapter ``name`` as a function builds it from its environment (``Settings`` → ``build_providers``)."""
    http = Http(8, transport=httpx.MockTransport(handler))
    return build_providers(Settings.from_env(env), http, lambda provider: lambda: {"api_key": "k"})[name]


def test_atlas_prices_and_limits():
    client = Http(8, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    adapter = AtlasCloud(client, lambda: {"api_key": "k"})
    assert adapter.limits("seedream-v4.5").price_per_run_usd == 0.036
    assert estimated_cost_usd(adapter.limits("seedream-v4.5"), 15, 15) == 0.036
    assert adapter.limits("seedream-v4").price_per_run_usd == 0.027  # its model pages, December 2026
    assert adapter.limits("seedream-v5.0-lite").price_per_run_usd == 0.032
    assert all(adapter.limits(model).price_documented for model in adapter.models)
    limits = adapter.limits("seedream-v4")
    assert (limits.min_side, limits.max_side, limits.max_input_images, limits.max_outputs) == (1024, 4096, 10, 14)
    with pytest.raises(InvalidRequest) as err:
        check_limits("atlascloud", job(size="512*512"), limits)
    assert err.value.code == "provider_limit_exceeded"


# -- Atlas Cloud: signature -----------------------------------------------------------------
def test_atlas_valid_callback_verifies_and_jwks_is_cached(fake, atlas):
    body = atlas_body()
    atlas.verify_callback(fake.k1.headers(body, timestamp=NOW), body, NOW)
    atlas.verify_callback(fake.k1.headers(body, timestamp=NOW + 1), body, NOW + 1)
    # padded base64url and lower-cased header names are accepted too
    lowered = {k.lower(): v for k, v in fake.k1.headers(body, timestamp=NOW, padded=True).items()}
    atlas.verify_callback(lowered, body, NOW + 2)
    assert atlas.jwks_fetches == 1 == fake.jwks_requests()
    jwks_request = next(r for r in fake.requests if r.url.path.endswith("/jwks.json"))
    assert str(jwks_request.url) == "https://api.atlascloud.ai/api/v1/webhooks/jwks.json"
    assert "Authorization" not in jwks_request.headers


def test_atlas_jwks_url_is_configurable(fake):
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json=fake.jwks())

    adapter = AtlasCloud(Http(8, transport=httpx.MockTransport(handler)), lambda: {"api_key": "k"},
                         jwks_url="https://keys.example.com/jwks.json")
    body = atlas_body()
    adapter.verify_callback(fake.k1.headers(body, timestamp=NOW), body, NOW)
    assert seen == ["https://keys.example.com/jwks.json"]


def test_atlas_wrong_signature(fake, atlas):
    body = atlas_body()
    impostor = AtlasSigner("k1")  # the published kid, another key
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(impostor.headers(body, timestamp=NOW), body, NOW)
    assert err.value.code == "signature_invalid"


def test_atlas_body_altered_after_signing(fake, atlas):
    body = atlas_body()
    headers = fake.k1.headers(body, timestamp=NOW)
    altered = atlas_body(outputs=["https://evil.example.com/x.png"])
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(headers, altered, NOW)
    assert err.value.code == "signature_invalid"


def test_atlas_timestamp_is_part_of_the_signature(fake, atlas):
    body = atlas_body()
    headers = fake.k1.headers(body, timestamp=NOW) | {"X-AtlasCloud-Webhook-Timestamp": str(int(NOW) + 5)}
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(headers, body, NOW)
    assert err.value.code == "signature_invalid"


@pytest.mark.parametrize("signature", ["not base64 !!", b64url(b"x" * 63), b64url(b"x" * 65)])
def test_atlas_malformed_signature(fake, atlas, signature):
    body = atlas_body()
    headers = fake.k1.headers(body, timestamp=NOW) | {"X-AtlasCloud-Webhook-Signature-Ed25519": signature}
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(headers, body, NOW)
    assert err.value.code == "signature_invalid"
    assert atlas.jwks_fetches == 0  # malformed signatures never cost a JWKS fetch


@pytest.mark.parametrize("skew", [-301, 301])
def test_atlas_stale_and_future_timestamps(fake, atlas, skew):
    body = atlas_body()
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(fake.k1.headers(body, timestamp=NOW + skew), body, NOW)
    assert err.value.code == "timestamp_out_of_range"
    assert atlas.jwks_fetches == 0


@pytest.mark.parametrize("skew", [-300, 300])
def test_atlas_timestamps_at_the_edge_pass(fake, atlas, skew):
    body = atlas_body()
    atlas.verify_callback(fake.k1.headers(body, timestamp=NOW + skew), body, NOW)


@pytest.mark.parametrize("missing", ["X-AtlasCloud-Webhook-Timestamp", "X-AtlasCloud-Webhook-Key-Id",
                                     "X-AtlasCloud-Webhook-Signature-Ed25519"])
def test_atlas_missing_headers(fake, atlas, missing):
    body = atlas_body()
    headers = fake.k1.headers(body, timestamp=NOW)
    del headers[missing]
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(headers, body, NOW)
    assert err.value.code == "signature_missing"


def test_atlas_unknown_kid(fake, atlas):
    body = atlas_body()
    stranger = AtlasSigner("k-unknown")
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(stranger.headers(body, timestamp=NOW), body, NOW)
    assert err.value.code == "key_unknown"
    assert atlas.jwks_fetches == 1  # the first fetch is fresh: no immediate second fetch


def test_atlas_key_rotation_refetches_exactly_once(fake, atlas):
    body = atlas_body()
    atlas.verify_callback(fake.k1.headers(body, timestamp=NOW), body, NOW)
    assert atlas.jwks_fetches == 1
    k2 = AtlasSigner("k2")
    fake.signers.append(k2)  # Atlas rotates
    later = NOW + 120
    atlas.verify_callback(k2.headers(body, timestamp=later), body, later)
    assert atlas.jwks_fetches == 2 == fake.jwks_requests()
    atlas.verify_callback(k2.headers(body, timestamp=later + 1), body, later + 1)
    atlas.verify_callback(fake.k1.headers(body, timestamp=later + 2), body, later + 2)
    assert atlas.jwks_fetches == 2


def test_atlas_unknown_kids_are_rate_limited(fake, atlas):
    body = atlas_body()
    atlas.verify_callback(fake.k1.headers(body, timestamp=NOW), body, NOW)
    forger = AtlasSigner()
    start = NOW + 100
    with pytest.raises(Unauthorized) as err:
        atlas.verify_callback(forger.headers(body, timestamp=start, kid="random-1"), body, start)
    assert err.value.code == "key_unknown"
    assert atlas.jwks_fetches == 2  # one refetch for the unknown kid
    for i in range(20):  # a flood of forged kids inside the next 60 s
        t = start + 1 + i * 2.5
        with pytest.raises(Unauthorized) as err:
            atlas.verify_callback(forger.headers(body, timestamp=int(t), kid=f"random-{i + 2}"), body, t)
        assert err.value.code == "key_unknown"
    assert atlas.jwks_fetches == 2 == fake.jwks_requests()
    # known keys keep verifying during the flood
    atlas.verify_callback(fake.k1.headers(body, timestamp=start + 30), body, start + 30)
    # after the interval, one more refetch is allowed
    with pytest.raises(Unauthorized):
        atlas.verify_callback(forger.headers(body, timestamp=start + 60, kid="random-x"), body, start + 60)
    assert atlas.jwks_fetches == 3


@pytest.mark.parametrize("failure", ["http_500", "not_json", "no_keys", "network"])
def test_atlas_jwks_failure_is_unverifiable(fake, failure):
    def handler(request):
        if failure == "network":
            raise httpx.ConnectError("refused", request=request)
        if failure == "http_500":
            return httpx.Response(500, json={})
        if failure == "not_json":
            return httpx.Response(200, text="<html>")
        return httpx.Response(200, json={"keys": [{"kty": "RSA", "kid": "k1", "n": "x", "e": "AQAB"}]})

    adapter = AtlasCloud(Http(8, transport=httpx.MockTransport(handler)), lambda: {"api_key": "k"},
                         jwks_min_refresh_seconds=60)
    body = atlas_body()
    with pytest.raises(Unauthorized) as err:
        adapter.verify_callback(fake.k1.headers(body, timestamp=NOW), body, NOW)
    assert err.value.code == "signature_unverifiable"
    assert err.value.http_status == 401
    # a failed fetch is rate-limited too, then retried once the interval has passed
    with pytest.raises(Unauthorized) as err:
        adapter.verify_callback(fake.k1.headers(body, timestamp=NOW + 10), body, NOW + 10)
    assert err.value.code == "signature_unverifiable"
    assert adapter.jwks_fetches == 1
    with pytest.raises(Unauthorized):
        adapter.verify_callback(fake.k1.headers(body, timestamp=NOW + 61), body, NOW + 61)
    assert adapter.jwks_fetches == 2


def test_atlas_jwks_recovers_after_failure(fake, atlas):
    fake.jwks_status = 503
    body = atlas_body()
    with pytest.raises(Unauthorized):
        atlas.verify_callback(fake.k1.headers(body, timestamp=NOW), body, NOW)
    fake.jwks_status = 200
    atlas.verify_callback(fake.k1.headers(body, timestamp=NOW + 60), body, NOW + 60)
    assert atlas.jwks_fetches == 2


# -- Atlas Cloud: callback ------------------------------------------------------------------
def test_atlas_parse_success(fake, atlas):
    body = atlas_body(outputs=["https://cdn.atlascloud.ai/o/1.png", "https://cdn.atlascloud.ai/o/2.png"])
    notice = atlas.parse_callback(fake.k1.headers(body, timestamp=NOW, webhook_id="wh-1"), body)
    assert notice == CompletionNotice(
        provider="atlascloud", provider_task_id="pred-123", status="succeeded", provider_status="completed",
        output_urls=["https://cdn.atlascloud.ai/o/1.png", "https://cdn.atlascloud.ai/o/2.png"], nsfw=[],
        error_message=None, webhook_id="wh-1")
    assert atlas.resolve(notice) is notice


def test_atlas_parse_succeeded_with_nsfw_flags(atlas):
    event = json.loads(atlas_body(status="succeeded"))
    event["payload"]["has_nsfw_contents"] = [True]
    notice = atlas.parse_callback({}, json.dumps(event).encode())
    assert (notice.status, notice.nsfw, notice.webhook_id) == ("succeeded", [True], None)


@pytest.mark.parametrize("status", ["failed", "timeout", "cancelled"])
def test_atlas_parse_failure(atlas, status):
    body = atlas_body(status=status, outputs=[], error="content policy violation")
    notice = atlas.parse_callback({}, body)
    assert (notice.status, notice.provider_status, notice.output_urls) == ("failed", status, [])
    assert notice.error_message == "content policy violation"


def test_atlas_parse_error_object(atlas):
    notice = atlas.parse_callback({}, atlas_body(status="failed", error={"code": 500, "message": "boom"}))
    assert notice.error_message == "boom"


@pytest.mark.parametrize("status", ["processing", "created", "queued"])
def test_atlas_parse_non_terminal(atlas, status):
    with pytest.raises(NotTerminal):
        atlas.parse_callback({}, atlas_body(status=status))


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"payload": {"status": "completed"}}',
                                  b'{"session_id": "p", "payload": "x"}',
                                  b'{"session_id": "p", "status": "OK", "payload": {}}',
                                  b'{"session_id": "p", "payload": {"status": "completed", "outputs": "u"}}'])
def test_atlas_parse_malformed(atlas, body):
    with pytest.raises(InvalidRequest) as err:
        atlas.parse_callback({}, body)
    assert (err.value.code, err.value.http_status) == ("callback_malformed", 400)


# -- evolink --------------------------------------------------------------------------------
class FakeEvolink:
    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.submit_reply: tuple[int, object] = (200, {
            "created": 1757165031, "id": "task-unified-1757165031-uyujaw3d", "model": "doubao-seedream-4.0",
            "object": "image.generation.task", "progress": 0, "status": "pending",
            "task_info": {"can_cancel": True, "estimated_time": 45}})
        self.task: dict = {"id": "task-unified-1757165031-uyujaw3d", "status": "completed", "progress": 100,
                           "results": ["https://files.evolink.ai/r/1.png", "https://files.evolink.ai/r/2.png"]}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST" and request.url.path == "/v1/images/generations":
            status, body = self.submit_reply
            return httpx.Response(status, json=body)
        if request.method == "GET" and request.url.path.startswith("/v1/tasks/"):
            return httpx.Response(200, json=self.task)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no route"}})


@pytest.fixture
def evo_fake() -> FakeEvolink:
    return FakeEvolink()


@pytest.fixture
def evolink(evo_fake: FakeEvolink) -> Evolink:
    return Evolink(Http(8, transport=httpx.MockTransport(evo_fake.handler)), lambda: {"api_key": "evo-key"})


@pytest.mark.parametrize("model, provider_model", [
    ("seedream-v4", "doubao-seedream-4.0"),
    ("seedream-v4.5", "doubao-seedream-4.5"),
    ("seedream-v5.0-lite", "doubao-seedream-5.0-lite"),
])
def test_evolink_submit_body(evo_fake, evolink, model, provider_model):
    result = evolink.submit(job(model, seed=7), IMAGES, CALLBACK)
    assert (result.provider_task_id, result.provider_status) == ("task-unified-1757165031-uyujaw3d", "pending")
    [request] = evo_fake.requests
    assert str(request.url) == "https://api.evolink.ai/v1/images/generations"
    assert request.headers["Authorization"] == "Bearer evo-key"
    assert json.loads(request.content) == {
        "model": provider_model, "prompt": "a series of 3 images of the same cat", "n": 3, "size": "2048x1536",
        "image_urls": IMAGES, "callback_url": CALLBACK,
    }  # no seed: in no evolink schema (sent only to SEED_PROVIDERS)


def test_evolink_seed_only_for_seed_providers_and_v5_model_configured(evo_fake):
    adapter = configured({"EVOLINK_V5_LITE_MODEL": "doubao-seedream-5-0-lite-260128", "SEED_PROVIDERS": "evolink"},
                         "evolink", evo_fake.handler)
    adapter.check(job("seedream-v5.0-lite", seed=7, size="2048*2048"))
    adapter.submit(job("seedream-v5.0-lite", seed=7), IMAGES, CALLBACK)
    sent = json.loads(evo_fake.requests[0].content)
    assert sent["model"] == "doubao-seedream-5-0-lite-260128" and sent["seed"] == 7


def test_evolink_limits(evolink):
    limits = evolink.limits("seedream-v4")
    assert (limits.max_input_images, limits.max_outputs, limits.max_prompt_chars) == (14, 15, 2000)
    assert (limits.min_side, limits.max_side) == (1024, 4096)
    assert limits.price_per_image_usd == 0.0222 and limits.bills_requested  # "Total = Base Price × Count (n)"
    assert estimated_cost_usd(limits, 15, 4) == round(0.0222 * 15, 6)  # billed on n requested
    ten = [f"https://img.example.com/{i}.png" for i in range(10)]
    evolink.check(job(images=ten, max_images=5))  # 15 in all: fine
    with pytest.raises(InvalidRequest) as err:
        evolink.check(job(images=ten, max_images=6))
    assert err.value.code == "provider_limit_exceeded"
    [detail] = err.value.details
    assert detail["field"] == "max_images"
    assert detail["limit"] == "references_plus_outputs"
    assert detail["value"] == 15
    assert "15" in detail["message"] and "5" in detail["message"]
    with pytest.raises(InvalidRequest):
        check_limits("evolink", job(prompt="x" * 2001), limits)


def test_evolink_prices_configurable():
    adapter = configured({"EVOLINK_V45_PRICE_USD": "0.03", "EVOLINK_V5_LITE_PRICE_USD": "0.025"}, "evolink")
    assert adapter.limits("seedream-v4.5").price_per_image_usd == 0.03
    assert adapter.limits("seedream-v5.0-lite").price_per_image_usd == 0.025


def test_evolink_parse_callback_ignores_body_results(evolink):
    body = json.dumps({"id": "task-unified-1", "status": "completed",
                       "results": ["https://evil.example.com/planted.png"]}).encode()
    notice = evolink.parse_callback({}, body)
    assert (notice.provider, notice.provider_task_id, notice.status, notice.provider_status) == (
        "evolink", "task-unified-1", "succeeded", "completed")
    assert notice.output_urls == []


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_evolink_parse_callback_failure(evolink, status):
    notice = evolink.parse_callback({}, json.dumps({"id": "t", "status": status}).encode())
    assert (notice.status, notice.provider_status) == ("failed", status)


@pytest.mark.parametrize("status", ["pending", "processing"])
def test_evolink_parse_callback_non_terminal(evolink, status):
    with pytest.raises(NotTerminal):
        evolink.parse_callback({}, json.dumps({"id": "t", "status": status}).encode())


@pytest.mark.parametrize("body", [b"nope", b"{}", b'{"status": "completed"}'])
def test_evolink_parse_callback_malformed(evolink, body):
    with pytest.raises(InvalidRequest) as err:
        evolink.parse_callback({}, body)
    assert (err.value.code, err.value.http_status) == ("callback_malformed", 400)


def test_evolink_resolve_reads_the_task_api(evo_fake, evolink):
    trigger = evolink.parse_callback({}, json.dumps({"id": "task-unified-1757165031-uyujaw3d", "status": "completed",
                                                     "results": ["https://evil.example.com/x.png"]}).encode())
    notice = evolink.resolve(trigger)
    [request] = evo_fake.requests
    assert request.method == "GET"
    assert str(request.url) == "https://api.evolink.ai/v1/tasks/task-unified-1757165031-uyujaw3d"
    assert request.headers["Authorization"] == "Bearer evo-key"
    assert evolink.task_reads == 1
    assert notice.status == "succeeded"
    assert notice.output_urls == ["https://files.evolink.ai/r/1.png", "https://files.evolink.ai/r/2.png"]


def test_evolink_resolve_task_api_wins_over_the_body(evo_fake, evolink):
    evo_fake.task = {"id": "t", "status": "failed", "results": [],
                     "error": {"code": "content_policy", "message": "prompt rejected", "type": "invalid_request"}}
    notice = evolink.resolve(evolink.parse_callback({}, b'{"id": "t", "status": "completed"}'))
    assert (notice.status, notice.provider_status, notice.error_message) == ("failed", "failed", "prompt rejected")
    evo_fake.task = {"id": "t", "status": "failed", "error": "timeout"}
    assert evolink.resolve(notice).error_message == "timeout"
    assert evolink.task_reads == 2


def test_evolink_early_completed_is_not_final_until_its_task_api_says_so(evo_fake, evolink):
    evo_fake.task = {"id": "t", "status": "processing", "progress": 60}
    with pytest.raises(NotTerminal):
        evolink.resolve(evolink.parse_callback({}, b'{"id": "t", "status": "completed"}'))


# -- error mapping on submit (both adapters) -------------------------------------------------
def _adapters(handler):
    client = Http(8, transport=httpx.MockTransport(handler))
    return [AtlasCloud(client, lambda: {"api_key": "k"}), Evolink(client, lambda: {"api_key": "k"})]


@pytest.mark.parametrize("status, error", [(429, ProviderUnavailable), (500, ProviderUnavailable),
                                           (503, ProviderUnavailable), (400, ProviderRejected),
                                           (401, ProviderRejected)])
def test_submit_http_errors(status, error):
    reply = {"error": {"code": "x", "message": "nope", "type": "invalid_request_error"}}
    for adapter in _adapters(lambda r: httpx.Response(status, json=reply)):
        with pytest.raises(error) as err:
            adapter.submit(job(), IMAGES, CALLBACK)
        if status == 429:
            assert err.value.code == "provider_rate_limited"
        assert "nope" in err.value.message


def test_submit_connect_error():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    for adapter in _adapters(refuse):
        with pytest.raises(ProviderUnavailable):
            adapter.submit(job(), IMAGES, CALLBACK)

