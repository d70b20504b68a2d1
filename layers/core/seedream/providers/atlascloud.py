"""Atlas Cloud adapter (https://api.atlascloud.ai).

Sources: Atlas Cloud model page "Seedream v4.5 Edit Sequential API by ByteDance" (code samples
for ``generateImage``, ``prediction/{id}``, ``uploadMedia``; price) and independent client code
for the webhook. Tags: [doc] Atlas Cloud's own docs, [code] only third-party clients, [inferred] our reading.

- Submit: ``POST /api/v1/model/generateImage``, ``Authorization: Bearer <key>``, body ``model``
  (``bytedance/seedream-v4/edit-sequential``, ``.../seedream-v4.5/...``, ``.../seedream-v5.0-lite/...``),
  ``prompt``, ``images``, ``max_images``, ``size`` ("W*H"), ``enable_base64_output`` [doc];
  ``webhook_url`` in the body [doc]. ``seed`` is not among its accepted fields: refused unless ``SEED_PROVIDERS``.
  Reply: ``data.id`` is the prediction id [doc]; some of its examples read a top-level ``id``: both are taken.
  Its pages also show a second request shape (flat ``width``/``height``/``steps``, or ``{"model", "input": {…}}``);
  ``images``, ``max_images`` and ``size`` come from third-party code generated from its schemas [code].
- Callback: one POST when the task ends (event ``image.task.terminal``) [doc]. Body [code]:
  ``{"session_id": <prediction id>, "event_type", "status": "OK"|"ERROR", "created_at": <ms>,
  "payload": {"model", "status": "completed|failed|timeout|cancelled", "outputs": [...]}, "error"}``.
  A top-level ``"status": "ERROR"`` is a failure whatever ``payload.status`` says [code]. Each
  output is a URL string or a ``{"url": ...}`` object [code], in the callback as in ``read_status``
  (``output_urls`` reads both; anything else is malformed).
- Signature [code]: headers ``X-AtlasCloud-Webhook-Id``, ``X-AtlasCloud-Webhook-Timestamp`` (unix s),
  ``X-AtlasCloud-Webhook-Key-Id`` (kid), ``X-AtlasCloud-Webhook-Signature-Ed25519`` (base64url,
  no padding, 64 bytes); Ed25519 over ``f"{timestamp}.".encode() + raw body``; public keys from a
  JWKS (``kty=OKP``, ``crv=Ed25519``, ``x``) chosen by ``kid``; replay window about 300 s.
  The Ed25519 signature is expected to move to the bare ``X-AtlasCloud-Webhook-Signature`` once
  the legacy HMAC is retired [code], so it is taken from either header: ``-Ed25519`` when present
  (a bare header beside it, e.g. a legacy HMAC, is then ignored), else the bare one, which must
  then be the Ed25519 signature [inferred].
  One client reads ``X-AtlasCloud-Timestamp`` / ``X-AtlasCloud-Key-Id`` instead [code]: taken when the
  ``-Webhook-`` names are absent. Because all of this is [code], the JWKS URL (``ATLASCLOUD_JWKS_URL``), the tolerance and the
  refetch interval (``ATLASCLOUD_JWKS_MIN_REFRESH_SECONDS``) are configurable. ``cryptography`` is
  imported on the first verification, so functions that never verify (api, submit) do not load it.
- Price per run [doc: the model pages "Seedream v4 / v4.5 / v5.0 Lite Edit Sequential API by ByteDance",
  checked December 2026]: v4 $0.027, v4.5 $0.036, v5.0-lite $0.032.
- Limits: 1024..4096 px per side [inferred, as WaveSpeed], ≤ 10 source images, 1..15 outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import ProviderRejected, Unauthorized
from ..models.messages import CompletionNotice
from .base import Credentials, NotTerminal, SubmitResult
from .callbacks import callback_object, error_text, fresh_timestamp, header, malformed, terminal_notice, url_list
from .calls import Http, get_json, post_json
from .jwks import JwksCache, b64url_decode
from .limits import ModelLimits, ModelTable

DEFAULT_BASE_URL = "https://api.atlascloud.ai"
JWKS_PATH = "/api/v1/webhooks/jwks.json"
TOLERANCE_SECONDS = 300
JWKS_MIN_REFRESH_SECONDS = 10.0
"""Default spacing of JWKS refetches; ``ATLASCLOUD_JWKS_MIN_REFRESH_SECONDS`` overrides it."""

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ..models.requests import JobRequest

HEADER_ID = "X-AtlasCloud-Webhook-Id"
HEADER_TIMESTAMP = "X-AtlasCloud-Webhook-Timestamp"
HEADER_KEY_ID = "X-AtlasCloud-Webhook-Key-Id"
HEADER_SIGNATURE = "X-AtlasCloud-Webhook-Signature-Ed25519"
HEADER_SIGNATURE_BARE = "X-AtlasCloud-Webhook-Signature"
HEADER_TIMESTAMP_SHORT = "X-AtlasCloud-Timestamp"
HEADER_KEY_ID_SHORT = "X-AtlasCloud-Key-Id"
"""The names one third-party client reads instead of the ``-Webhook-`` ones [code]: taken when those are absent."""
"""Where the Ed25519 signature is expected to move once the legacy HMAC is retired [code]."""

SUCCEEDED = {"completed", "succeeded"}
FAILED = {"failed", "timeout", "cancelled", "canceled"}


def model_limits(accepts_seed: bool = False, sizes: tuple[str, ...] = ()) -> dict[str, ModelLimits]:
    """Our model name -> Atlas Cloud limits and price. v4: at most 14 outputs [code: Atlas schema].
    v4.5 and v5.0-lite take a fixed list of sizes [code]; the list is not in our sources, so it is
    ``ATLASCLOUD_SIZES`` (comma-separated ``W*H``; empty = not enforced). Prices per run [doc: model pages]."""
    return {
        "seedream-v4": ModelLimits("bytedance/seedream-v4/edit-sequential", max_outputs=14,
                                   price_per_run_usd=0.027, price_documented=True, accepts_seed=accepts_seed),
        "seedream-v4.5": ModelLimits("bytedance/seedream-v4.5/edit-sequential", min_pixels=3_686_400, sizes=sizes,
                                     price_per_run_usd=0.036, price_documented=True, accepts_seed=accepts_seed),
        "seedream-v5.0-lite": ModelLimits("bytedance/seedream-v5.0-lite/edit-sequential", min_pixels=3_686_400,
                                          sizes=sizes, price_per_run_usd=0.032, price_documented=True,
                                          accepts_seed=accepts_seed),
    }


def output_urls(outputs: object) -> list[str]:
    """Atlas Cloud outputs as URLs: each a string or a ``{"url": ...}`` object [code]; ``None`` is no output.

    Raises ``ValueError`` on any other shape (not a list, an entry without a non-empty string URL)."""
    return [] if outputs is None else url_list(outputs, "outputs", strings=True)


def signature_header(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """``(header name, value)`` of the signature to verify: ``-Ed25519`` when present, else the bare header."""
    preferred = header(headers, HEADER_SIGNATURE)
    if preferred:
        return HEADER_SIGNATURE, preferred
    return HEADER_SIGNATURE_BARE, header(headers, HEADER_SIGNATURE_BARE)


class AtlasCloud(ModelTable):
    """Atlas Cloud adapter. One instance per Lambda cold start; it caches the webhook JWKS.

    JWKS policy: fetched on first need, never per callback; refetched at most once when a
    callback names a ``kid`` not in the cache (key rotation), and never more often than once
    per ``jwks_min_refresh_seconds`` (measured with the ``now`` passed to ``verify_callback``),
    so forged callbacks with random kids cannot make us hammer the JWKS endpoint. A callback
    that cannot be verified (JWKS unreachable or unusable) raises ``Unauthorized`` with code
    ``signature_unverifiable``: it is answered 401, nothing changes, and the provider retries.
    ``jwks_fetches`` counts JWKS requests made.
    """

    name = "atlascloud"
    callback_mechanism = "`webhook_url` field in the JSON body"
    signature_scheme = "Ed25519 over `timestamp.body`, public key from JWKS by `kid` [code]"

    def __init__(self, http: Http, credentials: Credentials, base_url: str | None = None, *,
                 jwks_url: str | None = None, jwks_min_refresh_seconds: float = JWKS_MIN_REFRESH_SECONDS,
                 tolerance_seconds: int = TOLERANCE_SECONDS, accepts_seed: bool = False, sizes: tuple[str, ...] = ()):
        self.http = http
        self.credentials = credentials
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.jwks_url = jwks_url or f"{self.base_url}{JWKS_PATH}"
        self.jwks_min_refresh_seconds = jwks_min_refresh_seconds
        self.tolerance_seconds = tolerance_seconds
        self.models = model_limits(accepts_seed, sizes)
        self.jwks = JwksCache(http, self.jwks_url, self.name, jwks_min_refresh_seconds)

    @property
    def jwks_fetches(self) -> int:
        """JWKS requests made by this instance (``JwksCache.fetches``)."""
        return self.jwks.fetches

    def _may_fetch(self, now: float) -> bool:
        return self.jwks.may_fetch(now)

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """``POST /api/v1/model/generateImage`` with ``webhook_url`` [doc]: the prediction id (``data.id`` or a top-level
        ``id``). Raises ``ProviderRejected`` (4xx, or no id) or ``ProviderUnavailable`` (429, 5xx, network)."""
        body = {
            "model": self.models[request.model].provider_model,
            "prompt": request.prompt,
            "images": image_urls,
            "max_images": request.max_images,
            "size": request.size,
            "enable_base64_output": False,
            "webhook_url": callback_url,
        }
        if request.seed is not None and self.models[request.model].accepts_seed:
            body["seed"] = request.seed  # not among Atlas Cloud's accepted fields: only with SEED_PROVIDERS
        reply = post_json(self.http, self.name, f"{self.base_url}/api/v1/model/generateImage",
                          self.credentials()["api_key"], body)
        data = reply.get("data") if isinstance(reply.get("data"), dict) else reply
        if not data.get("id"):
            raise ProviderRejected(f"atlascloud answered without a prediction id: {str(reply)[:300]}")
        return SubmitResult(provider_task_id=str(data["id"]), provider_status=str(data.get("status") or "created"))

    # -- signature ---------------------------------------------------------------------------
    def public_key(self, kid: str, now: float) -> Ed25519PublicKey:
        """The key named ``kid``: from the cache, else after one (rate-limited) JWKS refetch (``JwksCache.key``)."""
        return self.jwks.key(kid, now)

    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless the callback carries a valid, fresh Ed25519 signature.

        The signature is read from ``X-AtlasCloud-Webhook-Signature-Ed25519``, else from the bare
        ``X-AtlasCloud-Webhook-Signature`` (``signature_header``). Codes: ``signature_missing``,
        ``timestamp_out_of_range`` (more than ``tolerance_seconds`` either way), ``signature_invalid``,
        ``key_unknown`` (kid absent after one refetch), ``signature_unverifiable`` (JWKS unreachable).
        The scheme is [code], not [doc].
        """
        timestamp = header(headers, HEADER_TIMESTAMP) or header(headers, HEADER_TIMESTAMP_SHORT)
        kid = header(headers, HEADER_KEY_ID) or header(headers, HEADER_KEY_ID_SHORT)
        signature_name, signature = signature_header(headers)
        if not (timestamp and kid and signature):
            raise Unauthorized(f"callback lacks {HEADER_TIMESTAMP}, {HEADER_KEY_ID} or a signature "
                               f"({HEADER_SIGNATURE} or {HEADER_SIGNATURE_BARE})", code="signature_missing")
        fresh_timestamp(timestamp, HEADER_TIMESTAMP, now, self.tolerance_seconds)
        try:
            raw_signature = b64url_decode(signature)
        except ValueError:
            raise Unauthorized(f"{signature_name} is not base64url", code="signature_invalid") from None
        if len(raw_signature) != 64:
            raise Unauthorized(f"{signature_name} is not a 64-byte Ed25519 signature", code="signature_invalid")
        key = self.public_key(kid.strip(), now)
        from cryptography.exceptions import InvalidSignature

        try:
            key.verify(raw_signature, f"{timestamp}.".encode() + body)
        except InvalidSignature:
            raise Unauthorized(f"{signature_name} does not match the body", code="signature_invalid") from None

    # -- callback ----------------------------------------------------------------------------
    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """Our notice for a terminal callback. A top-level ``"status": "ERROR"`` is a failure whatever
        ``payload.status`` says (provider status ``failed`` unless the payload names a failure); the
        outputs of a success are read by ``output_urls``. Raises ``NotTerminal`` or ``InvalidRequest``."""
        event = callback_object(body)
        payload = event.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise malformed("callback payload is not an object")
        task_id = event.get("session_id") or payload.get("id") or event.get("id")
        if not task_id:
            raise malformed("callback body has no session_id")
        payload_status = str(payload.get("status") or "").lower()
        error_message = error_text(event.get("error")) or error_text(payload.get("error"))
        if str(event.get("status") or "").upper() == "ERROR":
            status = payload_status if payload_status in FAILED else "failed"
            if status != payload_status and not error_message:
                error_message = f"status ERROR with payload status {payload_status or 'missing'!r}"
        elif not payload_status:
            raise malformed("callback payload has no status")
        else:
            status = payload_status
        if status not in SUCCEEDED | FAILED:
            raise NotTerminal(status)  # before the outputs are looked at
        nsfw = payload.get("has_nsfw_contents") or []
        if not isinstance(nsfw, list):
            raise malformed("callback has_nsfw_contents is not a list")
        try:
            urls = output_urls(payload.get("outputs")) if status in SUCCEEDED else []
        except ValueError as exc:
            raise malformed(f"callback outputs: {exc}") from None
        return terminal_notice(
            self.name, task_id, status, SUCCEEDED, FAILED,
            output_urls=urls, nsfw=[bool(x) for x in nsfw], error_message=error_message,
            webhook_id=header(headers, HEADER_ID),
        )

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """The callback is signed, so it is trusted as is."""
        return notice

    def read_status(self, provider_task_id: str) -> CompletionNotice:
        """``GET /api/v1/model/prediction/{id}`` [doc]: ``data.status`` (``processing|completed|succeeded|failed``),
        ``data.outputs`` (read by ``output_urls``, as in the callback), ``data.error``. An unreadable
        ``outputs`` raises ``ProviderRejected`` (the read failed; the sweep reads again later)."""
        reply = get_json(self.http, self.name, f"{self.base_url}/api/v1/model/prediction/{quote(provider_task_id, safe='')}",
                         self.credentials()["api_key"])
        data = reply.get("data") if isinstance(reply.get("data"), dict) else reply
        status = str(data.get("status") or "").lower()
        try:
            urls = output_urls(data.get("outputs")) if status in SUCCEEDED else []
        except ValueError as exc:
            raise ProviderRejected(f"atlascloud prediction {provider_task_id[:64]}: {exc}") from None
        return terminal_notice(self.name, data.get("id") or provider_task_id, status,
                               SUCCEEDED, FAILED, output_urls=urls,
                               nsfw=[bool(x) for x in data.get("has_nsfw_contents") or []],
                               error_message=error_text(data.get("error")), via="reconcile")
