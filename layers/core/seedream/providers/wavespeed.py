"""WaveSpeed adapter (https://api.wavespeed.ai).

Sources: WaveSpeed API docs, "Bytedance Seedream V4 Edit Sequential"
(/docs/docs-api/bytedance/bytedance-seedream-v4-edit-sequential) and "Webhooks"
(/docs/docs-api/webhooks); tags: [doc] WaveSpeed's own docs, [code] only third-party clients, [inferred] our reading.

- Submit: ``POST /api/v3/bytedance/{model}/edit-sequential?webhook=<url-encoded callback>``,
  ``Authorization: Bearer <key>``, body ``prompt``, ``images`` (required, 1..10), ``size`` ("W*H"),
  ``max_images`` (1..15), ``enable_base64_output``, ``enable_sync_mode`` [doc]. Per side the v4 page
  says 1024..4096 and the current schema 64..16384 [doc, both]: 1024..4096 is checked, and
  ``PROVIDER_LIMITS`` (``wavespeed.min_side=64,wavespeed.max_side=16384``) widens it; the pixel range holds
  either way. ``seedream-v5.0-lite`` edit-sequential is documented ("Bytedance Seedream V5.0 Lite Edit
  Sequential": ``images`` ≤ 10, ``max_images`` ≤ 15, default 2) [doc]; its price is not.
  Reply ``{"code":200,"data":{"id",...}}``. The webhook body also carries ``input`` (unused here).
- Callback body: the prediction object (``id``, ``status`` ``completed|failed``, newer
  ``cancelled|timeout``, ``outputs``, ``has_nsfw_contents``, ``error``) [doc].
- Signature: ``webhook-id``, ``webhook-timestamp`` (unix s), ``webhook-signature: v3,<hex>``;
  HMAC-SHA256 over ``f"{id}.{timestamp}.{raw body}"`` with the secret minus its ``whsec_``
  prefix used as UTF-8 text (not base64-decoded, unlike Standard Webhooks); 300 s tolerance [doc].
- Status read (reconcile only): ``GET /api/v3/predictions/{id}/result``, the same ``data`` [doc].
- Webhook secret: the provider secret's ``webhook_secret``, else ``GET /api/v3/webhook/secret``
  with the key, reply ``{"data":{"secret":"whsec_..."}}`` [doc path, code reply], cached.
- Price: v4 $0.027/image, v4.5 $0.04/image, billed ``max_images`` × unit [doc]; v5.0-lite
  price is not documented in our sources (``WAVESPEED_V5_LITE_PRICE_USD``, default $0.035 [inferred]).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import ProviderRejected, Unauthorized
from ..models.messages import CompletionNotice
from .base import Credentials, SubmitResult
from .callbacks import callback_object, error_text, fresh_timestamp, header, malformed, terminal_notice
from .calls import Http, get_json, post_json
from .limits import ModelLimits, ModelTable

if TYPE_CHECKING:
    from ..models.requests import JobRequest

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
TOLERANCE_SECONDS = 300


def model_limits(v5_lite_price_usd: float = 0.035, accepts_seed: bool = False) -> dict[str, ModelLimits]:
    """Our model name → WaveSpeed limits and price: ≤ 10 source images, sides 1024..4096 [doc: v4 page]; pixel
    ranges per model (``ModelLimits``); the v5.0-lite price is configurable (``WAVESPEED_V5_LITE_PRICE_USD``:
    the model is documented, its price is not)."""
    return {
        "seedream-v4": ModelLimits("seedream-v4", price_per_image_usd=0.027, bills_requested=True,
                                   price_documented=True, accepts_seed=accepts_seed),
        "seedream-v4.5": ModelLimits("seedream-v4.5", min_pixels=3_686_400, price_per_image_usd=0.04,
                                     bills_requested=True, price_documented=True, accepts_seed=accepts_seed),
        "seedream-v5.0-lite": ModelLimits("seedream-v5.0-lite", min_pixels=3_686_400,
                                          price_per_image_usd=v5_lite_price_usd, bills_requested=True,
                                          accepts_seed=accepts_seed),
    }

SUCCEEDED = {"completed"}
FAILED = {"failed", "cancelled", "canceled", "timeout"}


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """``v3,<hex>`` signature WaveSpeed sends for ``body``: HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}``
    with the secret after ``whsec_`` used as UTF-8 text (WaveSpeed's webhook docs). ``verify`` compares against it."""
    key = secret.removeprefix("whsec_").encode("utf-8")
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v3," + hmac.new(key, signed, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance: int = TOLERANCE_SECONDS) -> None:
    """Check a WaveSpeed callback. Raises ``Unauthorized`` (``signature_missing``, ``timestamp_out_of_range``,
    ``signature_invalid``). ``body`` is the raw request body; ``now`` in unix seconds."""
    webhook_id = header(headers, "webhook-id")
    timestamp = header(headers, "webhook-timestamp")
    signatures = header(headers, "webhook-signature")
    if not (webhook_id and timestamp and signatures):
        raise Unauthorized("callback lacks webhook-id, webhook-timestamp or webhook-signature", code="signature_missing")
    fresh_timestamp(timestamp, "webhook-timestamp", now, tolerance)
    expected = sign(secret, webhook_id, timestamp, body)
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.strip(), expected):
            return
    raise Unauthorized("webhook-signature does not match the body", code="signature_invalid")


class WaveSpeed(ModelTable):
    """WaveSpeed adapter (module docstring): ``?webhook=`` callbacks signed ``v3,<hex>``, status at
    ``/api/v3/predictions/{id}/result``. ``credentials()`` gives ``api_key`` and, optionally, ``webhook_secret``."""

    name = "wavespeed"
    callback_mechanism = "`?webhook=` query parameter on the submit URL"
    signature_scheme = "HMAC-SHA256 `v3,<hex>` over `id.timestamp.body`"

    def __init__(self, http: Http, credentials: Credentials, base_url: str | None = None, *,
                 v5_lite_price_usd: float = 0.035, accepts_seed: bool = False):
        self.http = http
        self.credentials = credentials
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.models = model_limits(v5_lite_price_usd, accepts_seed)
        self._fetched_secret: str | None = None

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """``POST /api/v3/bytedance/{model}/edit-sequential?webhook=<callback_url>`` [doc]: the prediction id and its
        status. Raises ``ProviderRejected`` (4xx, or no id in the reply) or ``ProviderUnavailable`` (429, 5xx, network)."""
        body = {
            "prompt": request.prompt,
            "images": image_urls,
            "size": request.size,
            "max_images": request.max_images,
            "enable_base64_output": False,
            "enable_sync_mode": False,
        }
        if request.seed is not None and self.models[request.model].accepts_seed:
            body["seed"] = request.seed  # named in prose only ("How to use", step 5), not in the parameters
        path = f"/api/v3/bytedance/{self.models[request.model].provider_model}/edit-sequential"
        url = f"{self.base_url}{path}?webhook={quote(callback_url, safe='')}"
        reply = post_json(self.http, self.name, url, self.credentials()["api_key"], body)
        data = reply.get("data") or {}
        if not data.get("id"):
            raise ProviderRejected(f"wavespeed answered without a prediction id: {str(reply)[:300]}")
        return SubmitResult(provider_task_id=str(data["id"]), provider_status=str(data.get("status", "created")))

    def webhook_secret(self) -> str:
        """The ``whsec_…`` signing secret: the provider secret's ``webhook_secret``, else fetched once with the key from
        ``GET /api/v3/webhook/secret`` [doc] and cached. Raises ``Unauthorized`` (``signature_unverifiable``)."""
        secret = self.credentials().get("webhook_secret")
        if secret:
            return secret
        if self._fetched_secret is None:
            reply = get_json(self.http, self.name, f"{self.base_url}/api/v3/webhook/secret",
                             self.credentials()["api_key"])
            self._fetched_secret = str((reply.get("data") or {}).get("secret") or "")
        if not self._fetched_secret:
            raise Unauthorized("no WaveSpeed webhook secret is configured or retrievable", code="signature_unverifiable")
        return self._fetched_secret

    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """:func:`verify` with the account's secret: raises ``Unauthorized`` unless signed and within 300 s of ``now``."""
        verify(self.webhook_secret(), headers, body, now)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """The prediction object WaveSpeed posts [doc] as our notice (outputs, NSFW flags, error, ``webhook-id``);
        raises ``NotTerminal`` for a non-final status, ``InvalidRequest`` (``callback_malformed``) without an id."""
        prediction = callback_object(body)
        if not prediction.get("id"):
            raise malformed("callback body has no prediction id")
        return terminal_notice(
            self.name, prediction["id"], str(prediction.get("status", "")), SUCCEEDED, FAILED,
            output_urls=[str(u) for u in prediction.get("outputs") or []],
            nsfw=[bool(x) for x in prediction.get("has_nsfw_contents") or []],
            error_message=error_text(prediction.get("error")),
            webhook_id=header(headers, "webhook-id"),
        )

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """A verified WaveSpeed callback is the result: ``notice`` as it is."""
        return notice

    def read_status(self, provider_task_id: str) -> CompletionNotice:
        """``GET /api/v3/predictions/{id}/result`` [doc]: the prediction in ``data``."""
        reply = get_json(self.http, self.name, f"{self.base_url}/api/v3/predictions/{quote(provider_task_id, safe='')}"
                         "/result", self.credentials()["api_key"])
        prediction = reply.get("data") if isinstance(reply.get("data"), dict) else reply
        return terminal_notice(
            self.name, prediction.get("id") or provider_task_id, str(prediction.get("status", "")), SUCCEEDED, FAILED,
            output_urls=[str(u) for u in prediction.get("outputs") or []],
            nsfw=[bool(x) for x in prediction.get("has_nsfw_contents") or []],
            error_message=error_text(prediction.get("error")), via="reconcile")
