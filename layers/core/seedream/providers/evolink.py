"""evolink adapter (https://api.evolink.ai).

Sources: evolink "Seedream 4 API" page (``POST /v1/images/generations`` reference, pricing) and
the task API. Tags: [doc] evolink's own docs, [code] only third-party clients, [inferred] our reading.

- Submit: ``POST /v1/images/generations``, ``Authorization: Bearer <key>``, body ``model``
  (``doubao-seedream-4.0``, ``doubao-seedream-4.5`` [doc]; the 5.0-lite id is undocumented:
  ``EVOLINK_V5_LITE_MODEL``, default ``doubao-seedream-5.0-lite`` [inferred]), ``prompt``
  (≤ 2000 tokens [doc], checked as ≤ 2000 characters [inferred]), ``n`` (1..15), ``size``
  (``WxH``; 1024..4096 px per side [inferred]), ``image_urls`` (≤ 10), ``callback_url`` [doc].
  ``image_urls`` up to 14 [doc: evolink reference]. ``seed`` is in no evolink schema: refused unless ``SEED_PROVIDERS``.
  Reply: ``{"id": "task-unified-...", "status": "pending", ...}``.
- Limits: references + outputs ≤ 15 [doc], checked by ``check`` beside the per-model limits.
- Callback: fires on completed, failed or cancelled; body = the task object of
  ``GET /v1/tasks/{id}`` [doc]. **No signature is documented**: ``verify_callback`` is a no-op;
  the unguessable per-job token in the callback URL (checked by the core) authenticates, and
  the callback is only a trigger: ``parse_callback`` keeps no output URLs and ``resolve``
  re-reads ``GET /v1/tasks/{id}`` with our key, the source of truth.
- Price: v4 $0.0222/image [doc], billed "Total = Base Price × Count (n)" [doc], so ``n`` × unit. v4.5 and v5.0-lite are not in our
  sources: ``EVOLINK_V45_PRICE_USD`` (default $0.04 [inferred]: WaveSpeed's documented v4.5 unit
  price) and ``EVOLINK_V5_LITE_PRICE_USD`` (default $0.035 [inferred]: WaveSpeed's v5.0-lite default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import ProviderRejected, ProviderUnavailable
from ..models.messages import CompletionNotice
from .base import Credentials, NotTerminal, SubmitResult
from .callbacks import callback_object, error_text, malformed, terminal_notice
from .calls import Http, get_json, post_json
from .limits import ModelLimits, ModelTable

if TYPE_CHECKING:
    from ..models.requests import JobRequest

DEFAULT_BASE_URL = "https://api.evolink.ai"
MAX_REFERENCES_PLUS_OUTPUTS = 15
SUCCEEDED = {"completed", "succeeded"}
FAILED = {"failed", "cancelled", "canceled"}


def model_limits(v45_price_usd: float = 0.04, v5_lite_price_usd: float = 0.035,
                 v5_lite_model: str = "doubao-seedream-5.0-lite", accepts_seed: bool = False) -> dict[str, ModelLimits]:
    """Our model name -> evolink limits and price; undocumented values are configurable
    (``EVOLINK_V45_PRICE_USD``, ``EVOLINK_V5_LITE_PRICE_USD``, ``EVOLINK_V5_LITE_MODEL``)."""

    def limits(provider_model: str, price: float, min_pixels: int, documented: bool = False) -> ModelLimits:
        return ModelLimits(provider_model, min_side=1024, max_side=4096, min_pixels=min_pixels, max_input_images=14,
                           max_outputs=15, max_prompt_chars=2000, price_per_image_usd=price, bills_requested=True,
                           price_documented=documented, accepts_seed=accepts_seed)

    return {
        "seedream-v4": limits("doubao-seedream-4.0", 0.0222, 921_600, documented=True),
        "seedream-v4.5": limits("doubao-seedream-4.5", v45_price_usd, 3_686_400),
        "seedream-v5.0-lite": limits(v5_lite_model or "doubao-seedream-5.0-lite", v5_lite_price_usd, 3_686_400),
    }


class Evolink(ModelTable):
    """evolink adapter. ``task_reads`` counts ``GET /v1/tasks/{id}`` calls made by ``resolve``."""

    name = "evolink"
    callback_mechanism = "`callback_url` field in the JSON body"
    signature_scheme = "none documented: per-job URL token, then `GET /v1/tasks/{id}` re-read"

    def __init__(self, http: Http, credentials: Credentials, base_url: str | None = None, *,
                 accepts_seed: bool = False, v45_price_usd: float = 0.04, v5_lite_price_usd: float = 0.035,
                 v5_lite_model: str = "doubao-seedream-5.0-lite"):
        self.http = http
        self.credentials = credentials
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.models = model_limits(v45_price_usd, v5_lite_price_usd, v5_lite_model, accepts_seed)
        self.task_reads = 0

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """``POST /v1/images/generations`` with ``callback_url`` and ``n`` = ``max_images`` [doc]: the task id. Raises
        ``ProviderRejected`` (4xx, or no id) or ``ProviderUnavailable`` (429, 5xx, network)."""
        body = {
            "model": self.models[request.model].provider_model,
            "prompt": request.prompt,
            "n": request.max_images,
            "size": f"{request.width}x{request.height}",
            "image_urls": image_urls,
            "callback_url": callback_url,
        }
        if request.seed is not None and self.models[request.model].accepts_seed:
            body["seed"] = request.seed  # not in evolink's reference: only with SEED_PROVIDERS
        reply = post_json(self.http, self.name, f"{self.base_url}/v1/images/generations",
                          self.credentials()["api_key"], body)
        task = reply.get("data") if isinstance(reply.get("data"), dict) and "id" not in reply else reply
        if not task.get("id"):
            raise ProviderRejected(f"evolink answered without a task id: {str(reply)[:300]}")
        return SubmitResult(provider_task_id=str(task["id"]), provider_status=str(task.get("status") or "pending"))

    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """No-op by design: evolink signs nothing [doc]. The core has already checked the per-job
        callback URL token, and ``resolve`` re-reads the task with our key before anything is stored."""
        return None

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """A trigger only: task id and status from the body, **no output URLs** (the unsigned body is
        not trusted; ``resolve`` reads them from the task API)."""
        task = callback_object(body)
        if not task.get("id"):
            raise malformed("callback body has no task id")
        return terminal_notice(self.name, task["id"], str(task.get("status") or "").lower(), SUCCEEDED, FAILED)

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """The truth: ``GET /v1/tasks/{id}`` with our key (a notice the sweep read there already is it).
        Raises ``NotTerminal`` while the task API does not say it is final (an early "completed"
        callback: the job is left to its deadline), ``ProviderUnavailable`` when the read fails."""
        if notice.via == "reconcile":
            return notice
        return self.read_status(notice.provider_task_id, webhook_id=notice.webhook_id, via="webhook")

    def read_status(self, provider_task_id: str, *, webhook_id: str | None = None, via: str = "reconcile") -> CompletionNotice:
        """``GET /v1/tasks/{id}`` [doc]: ``status`` (``pending|processing|completed|failed``), ``results``, ``error``.
        ``task_reads`` counts these reads."""
        self.task_reads += 1
        reply = get_json(self.http, self.name, f"{self.base_url}/v1/tasks/{quote(provider_task_id, safe='')}",
                         self.credentials()["api_key"])
        task = reply.get("data") if isinstance(reply.get("data"), dict) and "status" not in reply else reply
        status = str(task.get("status") or "").lower()
        if status not in SUCCEEDED | FAILED:
            raise NotTerminal(status or "unknown")
        results = task.get("results") or []
        if not isinstance(results, list):
            raise ProviderUnavailable(f"evolink task {provider_task_id} has results that are not a list")
        urls = [str(r.get("url")) if isinstance(r, dict) else str(r) for r in results
                if (r.get("url") if isinstance(r, dict) else r)]
        return terminal_notice(self.name, provider_task_id, status, SUCCEEDED, FAILED,
                               output_urls=urls if status in SUCCEEDED else [], error_message=error_text(task.get("error")),
                               webhook_id=webhook_id, via=via)
