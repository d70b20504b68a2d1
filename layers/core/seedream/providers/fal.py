"""fal.ai adapter (queue API, ``https://queue.fal.run``).

Sources: fal.ai model pages and their ``llms.txt`` (``fal.ai/models/fal-ai/bytedance/seedream/v4/edit/llms.txt``,
``.../v5/lite/edit/llms.txt``), the API reference pages ``fal.ai/docs/model-api-reference/image-generation-api/
bytedance-seedream-v4``, ``-v4.5``, ``-v5-lite``, the queue docs (``fal.ai/docs/inference-api/queue/cancel``), the
webhook docs (``docs.fal.ai/model-apis/model-endpoints/webhooks``) and fal's own Python client ``fal-client`` 1.0.3.
Tags: [doc] fal's own docs, [code] only third-party clients, [inferred] our reading.

- Submit: ``POST {base}/{endpoint id}?fal_webhook=<url-encoded callback URL>``, ``Authorization: Key <key>`` [doc];
  endpoints ``fal-ai/bytedance/seedream/v4/edit``, ``.../v4.5/edit``, ``.../v5/lite/edit`` [doc]. Body
  ``prompt``, ``image_urls`` (≤ 10), ``image_size`` (``{"width", "height"}`` or a preset), ``num_images`` (1..6:
  separate generations), ``max_images`` (1..6: images per generation, multi-image generation), ``seed`` [doc].
  "In total, the number of images generated will be between num_images and max_images*num_images" [doc]:
  our ``max_images`` N (one consistent series of up to N images) is sent as ``num_images: 1, max_images: N``;
  ``num_images`` > 1 would be independent generations, not one series. So fal takes **at most 6 images** per
  job (inputs + outputs ≤ 15 as everywhere): ``check`` refuses larger jobs at the door, ``auto`` skips fal.
- Reply ``{"request_id", "status_url", "response_url", "cancel_url"}`` [doc]: the URLs are kept on the job
  (``SubmitResult.provider_urls``) and used as given, never rebuilt ("The status_url, response_url, and
  cancel_url fields contain the correct URL" [doc: queue/cancel]) — provided they point at the queue host we
  submitted to (scheme, host and port of ``FAL_BASE_URL``): our key goes with every read and cancel, so a URL
  elsewhere is refused at submit [inferred: fal returns URLs on its queue host].
- Status read (the sweep): ``GET status_url`` → ``{"status": "IN_QUEUE"|"IN_PROGRESS"|"COMPLETED", "error"?}``;
  once ``COMPLETED``, ``GET response_url`` → the result ``{"images": [{"url", ...}], "seed"}`` or, for a failed
  request, a 4xx with ``{"detail"}`` [doc: queue API; fal-client's ``SyncRequestHandle.status``/``get``].
- Cancel: ``PUT cancel_url`` [doc: queue/cancel; fal-client's ``SyncRequestHandle.cancel`` uses PUT] →
  202 ``{"status": "CANCELLATION_REQUESTED"}``, 400 ``ALREADY_COMPLETED``, 404 ``NOT_FOUND`` [doc]. A request
  still queued is removed; one in progress gets a cancellation signal.
- Webhook [doc]: ``{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload": {"images": [{"url",
  ...}], "seed"} | null, "error", "payload_error"}``; retried 10 times over 2 h. ``status: "ERROR"``, or
  ``payload: null`` (with ``payload_error``: the result could not be serialised), fails the job with fal's
  message.
- Signature [code: 8+ clients agree; the scheme is in fal's webhook docs]: headers ``X-Fal-Webhook-Request-Id``,
  ``X-Fal-Webhook-User-Id``, ``X-Fal-Webhook-Timestamp`` (unix s), ``X-Fal-Webhook-Signature`` (hex, 64 bytes);
  Ed25519 over ``f"{request_id}\\n{user_id}\\n{timestamp}\\n{sha256_hex(raw body)}"``; ±300 s; public keys from
  a JWKS (``https://rest.alpha.fal.ai/.well-known/jwks.json``, host unconfirmed: ``FAL_JWKS_URL``) with no key
  id in the callback, so every published key is tried; cached and refetched like Atlas Cloud's (``jwks``).
- Price [doc: llms.txt]: v4 edit $0.03 per image, v5.0-lite edit $0.035 per image, billed per image produced
  [inferred from "per images"]; v4.5 edit $0.04 per image (``FAL_V45_PRICE_USD``: fal's v4.5 text-to-image page
  shows $0.04; the edit page's price is not in our sources).
- Limits: v4 ≥ 921,600 pixels [doc]; v4.5 2560×1440..4096×4096 pixels [doc]; v5.0-lite 2560×1440..3072×3072
  pixels [doc]; ≤ 10 source images [doc].
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from ..errors import ProviderRejected, ProviderUnavailable, Unauthorized
from ..models.messages import CompletionNotice
from .base import Credentials, NotTerminal, SubmitResult
from .callbacks import callback_object, error_text, fresh_timestamp, header, malformed, terminal_notice, url_list
from .calls import Http, get_json, post_json
from .jwks import JwksCache
from .limits import ModelLimits, ModelTable

if TYPE_CHECKING:
    from ..models.requests import JobRequest

DEFAULT_BASE_URL = "https://queue.fal.run"
DEFAULT_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
TOLERANCE_SECONDS = 300
MAX_IMAGES = 6
"""``max_images`` (and ``num_images``) range 1..6 on every Seedream edit endpoint of fal [doc]."""

HEADER_REQUEST_ID = "X-Fal-Webhook-Request-Id"
HEADER_USER_ID = "X-Fal-Webhook-User-Id"
HEADER_TIMESTAMP = "X-Fal-Webhook-Timestamp"
HEADER_SIGNATURE = "X-Fal-Webhook-Signature"

SUCCEEDED = {"ok"}
FAILED = {"error", "payload_error"}
URL_NAMES = ("status_url", "response_url", "cancel_url")


def model_limits(v45_price_usd: float = 0.04, v5_lite_seed: bool = False) -> dict[str, ModelLimits]:
    """Our model name -> fal.ai limits and price (module docstring). ``seed`` is documented on the v4 and v4.5 edit
    pages [doc], not in our copy of the v5.0-lite one: sent there only with ``SEED_PROVIDERS`` naming ``fal``."""

    def limits(endpoint: str, price: float, min_pixels: int, max_pixels: int, documented: bool = True,
               seed: bool = True) -> ModelLimits:
        return ModelLimits(endpoint, min_pixels=min_pixels, max_pixels=max_pixels, max_input_images=10,
                           max_outputs=MAX_IMAGES, price_per_image_usd=price, price_documented=documented,
                           accepts_seed=seed)

    return {
        "seedream-v4": limits("fal-ai/bytedance/seedream/v4/edit", 0.03, 921_600, 16_777_216),
        "seedream-v4.5": limits("fal-ai/bytedance/seedream/v4.5/edit", v45_price_usd, 3_686_400, 16_777_216,
                                documented=False),
        "seedream-v5.0-lite": limits("fal-ai/bytedance/seedream/v5/lite/edit", 0.035, 3_686_400, 9_437_184,
                                     seed=v5_lite_seed),
    }


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes fal signs: ``request_id\\nuser_id\\ntimestamp\\nsha256_hex(body)`` (UTF-8)."""
    return "\n".join((request_id, user_id, timestamp, hashlib.sha256(body).hexdigest())).encode()


def image_urls(images: object) -> list[str]:
    """``payload.images`` (or a result's ``images``) as URLs: ``[{"url": ...}, ...]``; ``ValueError`` otherwise."""
    return url_list(images, "images", strings=False)


class Fal(ModelTable):
    """fal.ai adapter. One instance per Lambda cold start; it caches the webhook JWKS (``jwks``)."""

    name = "fal"
    callback_mechanism = "`?fal_webhook=` on the queue submit URL"
    signature_scheme = "Ed25519 over `request_id\\nuser_id\\ntimestamp\\nsha256(body)`, keys from JWKS [code]"

    def __init__(self, http: Http, credentials: Credentials, base_url: str | None = None, *,
                 jwks_url: str | None = None, jwks_min_refresh_seconds: float = 10.0,
                 tolerance_seconds: int = TOLERANCE_SECONDS, v45_price_usd: float = 0.04, v5_lite_seed: bool = False):
        self.http = http
        self.credentials = credentials
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.tolerance_seconds = tolerance_seconds
        self.models = model_limits(v45_price_usd, v5_lite_seed)
        self.jwks = JwksCache(http, jwks_url or DEFAULT_JWKS_URL, self.name, jwks_min_refresh_seconds)

    def _key(self) -> str:
        return self.credentials()["api_key"]

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """Queue the job at fal; raises ``ProviderRejected`` (4xx, e.g. 422 for more than 6 images) or
        ``ProviderUnavailable`` (429, 5xx, network)."""
        limits = self.models[request.model]
        body = {"prompt": request.prompt, "image_urls": image_urls,
                "image_size": {"width": request.width, "height": request.height},
                "num_images": 1, "max_images": request.max_images}
        if request.seed is not None and limits.accepts_seed:
            body["seed"] = request.seed
        url = f"{self.base_url}/{limits.provider_model}?fal_webhook={quote(callback_url, safe='')}"
        reply = post_json(self.http, self.name, url, self._key(), body, scheme="Key")
        missing = [name for name in ("request_id", *URL_NAMES) if not isinstance(reply.get(name), str) or not reply[name]]
        if missing:
            raise ProviderRejected(f"fal answered without {', '.join(missing)}: {str(reply)[:300]}")
        elsewhere = [name for name in URL_NAMES if _origin(reply[name]) != _origin(self.base_url)]
        if elsewhere:  # our key goes with every read and cancel: only ever to fal's own queue host
            raise ProviderRejected(f"fal answered {', '.join(elsewhere)} outside {_origin(self.base_url)}")
        return SubmitResult(provider_task_id=reply["request_id"], provider_status=str(reply.get("status") or "IN_QUEUE"),
                            provider_urls={name: reply[name] for name in URL_NAMES})

    # -- signature ---------------------------------------------------------------------------
    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless the callback carries a valid, fresh Ed25519 signature by a JWKS key.

        Codes: ``signature_missing``, ``timestamp_out_of_range`` (more than ``tolerance_seconds`` either way),
        ``signature_invalid`` (no key verifies it, after at most one rate-limited refetch),
        ``signature_unverifiable`` (JWKS unreachable). The scheme is [code]."""
        request_id, user_id = header(headers, HEADER_REQUEST_ID), header(headers, HEADER_USER_ID)
        timestamp, signature = header(headers, HEADER_TIMESTAMP), header(headers, HEADER_SIGNATURE)
        if not (request_id and user_id and timestamp and signature):
            raise Unauthorized(f"callback lacks {HEADER_REQUEST_ID}, {HEADER_USER_ID}, {HEADER_TIMESTAMP} or "
                               f"{HEADER_SIGNATURE}", code="signature_missing")
        fresh_timestamp(timestamp, HEADER_TIMESTAMP, now, self.tolerance_seconds)
        try:
            raw = bytes.fromhex(signature.strip())
        except ValueError:
            raise Unauthorized(f"{HEADER_SIGNATURE} is not hex", code="signature_invalid") from None
        if len(raw) != 64:
            raise Unauthorized(f"{HEADER_SIGNATURE} is not a 64-byte Ed25519 signature", code="signature_invalid")
        message = signed_message(request_id, user_id, timestamp, body)
        tried = self.jwks.cached(now)
        if _verifies(tried.values(), raw, message):
            return
        fresh = self.jwks.refreshed(now)  # a key may have rotated in since the cache was filled
        if fresh is not None and _verifies([k for kid, k in fresh.items() if kid not in tried], raw, message):
            return
        raise Unauthorized(f"{HEADER_SIGNATURE} matches no key of fal's JWKS", code="signature_invalid")

    # -- callback ----------------------------------------------------------------------------
    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """Our notice for fal's webhook: ``OK`` with ``payload.images`` succeeds; ``ERROR``, or ``payload: null``
        (``payload_error``), fails with fal's message. The signed ``X-Fal-Webhook-Request-Id`` must name the
        body's ``request_id``. Raises ``InvalidRequest`` (``callback_malformed``)."""
        event = callback_object(body)
        request_id = event.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise malformed("callback body has no request_id")
        signed_id = header(headers, HEADER_REQUEST_ID)
        if signed_id is not None and signed_id.strip() != request_id:
            raise malformed(f"{HEADER_REQUEST_ID} does not name the body's request_id")
        status = str(event.get("status") or "").upper()
        payload = event.get("payload")
        if status == "ERROR":
            message = error_text(event.get("error")) or error_text(event.get("payload_error")) or \
                error_text(payload.get("detail") if isinstance(payload, dict) else None) or "status ERROR"
            return terminal_notice(self.name, request_id, "error", SUCCEEDED, FAILED, error_message=message,
                                   webhook_id=signed_id)
        if status != "OK":
            raise malformed(f"callback status {status[:40]!r} is neither OK nor ERROR")
        if payload is None:
            message = error_text(event.get("payload_error")) or "fal sent no payload"
            return terminal_notice(self.name, request_id, "payload_error", SUCCEEDED, FAILED,
                                   error_message=f"payload_error: {message}", webhook_id=signed_id)
        if not isinstance(payload, dict):
            raise malformed("callback payload is not an object")
        try:
            urls = image_urls(payload.get("images"))
        except ValueError as exc:
            raise malformed(f"callback payload: {exc}") from None
        return terminal_notice(self.name, request_id, "ok", SUCCEEDED, FAILED, output_urls=urls, webhook_id=signed_id)

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """The webhook is signed, so it is trusted as is."""
        return notice

    def read_status(self, provider_task_id: str, provider_urls: Mapping[str, str] | None = None) -> CompletionNotice:
        """One read for the sweep: ``GET status_url``; once ``COMPLETED``, ``GET response_url`` (both from the
        submit reply, kept on the job). ``NotTerminal`` while ``IN_QUEUE``/``IN_PROGRESS``; a failed request
        (``error`` in the status, or a 4xx result) is a failed notice with fal's message; ``ProviderUnavailable``
        or ``ProviderRejected`` when a read fails (also when the job kept no URLs: they are never rebuilt)."""
        urls = provider_urls or {}
        if not urls.get("status_url") or not urls.get("response_url"):
            raise ProviderRejected(f"fal request {provider_task_id[:64]}: no status_url/response_url kept on the job")
        status = get_json(self.http, self.name, urls["status_url"], self._key(), scheme="Key")
        state = str(status.get("status") or "").upper()
        if state != "COMPLETED":
            raise NotTerminal(state.lower() or "unknown")
        if status.get("error"):
            return terminal_notice(self.name, provider_task_id, "error", SUCCEEDED, FAILED,
                                   error_message=error_text(status.get("error")), via="reconcile")
        response = self._request("GET", urls["response_url"])
        if response.status_code >= 400:
            detail = _body(response).get("detail") or response.text[:300]
            return terminal_notice(self.name, provider_task_id, "error", SUCCEEDED, FAILED,
                                   error_message=error_text(detail), via="reconcile")
        try:
            urls_out = image_urls(_body(response).get("images"))
        except ValueError as exc:
            raise ProviderRejected(f"fal request {provider_task_id[:64]}: {exc}") from None
        return terminal_notice(self.name, provider_task_id, "ok", SUCCEEDED, FAILED, output_urls=urls_out,
                               via="reconcile")

    def cancel(self, provider_task_id: str, provider_urls: Mapping[str, str]) -> str:
        """``PUT cancel_url`` (kept on the job): returns fal's answer, ``CANCELLATION_REQUESTED`` (202),
        ``ALREADY_COMPLETED`` (400) or ``NOT_FOUND`` (404) [doc: queue/cancel]. Raises ``ProviderUnavailable``
        (429, 5xx, network) or ``ProviderRejected`` (another 4xx, or no ``cancel_url`` kept)."""
        url = (provider_urls or {}).get("cancel_url")
        if not url:
            raise ProviderRejected(f"fal request {provider_task_id[:64]}: no cancel_url kept on the job")
        response = self._request("PUT", url)
        answer = str(_body(response).get("status") or "")
        if response.status_code in (200, 202) or answer in ("ALREADY_COMPLETED", "NOT_FOUND"):
            return answer or f"HTTP {response.status_code}"
        raise ProviderRejected(f"fal refused the cancel (HTTP {response.status_code}): {response.text[:300]}")

    def _request(self, method: str, url: str):
        """One call with our key; 429/5xx and network failures raise ``ProviderUnavailable``."""
        import httpx

        try:
            response = self.http.request(method, url, headers={"Authorization": f"Key {self._key()}"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"fal could not be reached: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"fal answered HTTP {response.status_code}: {response.text[:300]}")
        return response


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (the port spelled out), to compare where URLs point."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        port = None
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _verifies(keys, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def _body(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
