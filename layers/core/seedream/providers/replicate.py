"""Replicate adapter (https://api.replicate.com).

Sources: replicate.com model API pages for ``bytedance/seedream-4`` and ``bytedance/seedream-4.5`` (input and
output schema), replicate.com/docs/topics/webhooks/receive-webhook and /verify-webhook, Replicate's HTTP API
reference (predictions: get, cancel). Tags: [doc] Replicate's own docs, [code] only third-party clients,
[inferred] our reading.

- Submit: ``POST /v1/models/bytedance/seedream-4/predictions`` (``seedream-4.5``), ``Authorization: Bearer
  <token>``, body ``{"input": {prompt, image_input (1..10; 4.5: 1..14), size ("1K"|"2K"|"4K"|"custom"; 4.5 has
  no 1K), aspect_ratio, width, height (1024..4096, only with "custom"), sequential_image_generation: "auto",
  max_images (1..15)}, "webhook": <callback URL>, "webhook_events_filter": ["completed"]}`` [doc]. Our ``W*H``
  goes as ``size: "1K"|"2K"|"4K"`` with ``aspect_ratio: "1:1"`` where it is exactly 1024², 2048² or 4096² (and
  the model has that size), else as ``size: "custom"`` with ``width``/``height`` (``replicate_size``).
  ``seed`` is in neither schema: refused unless ``SEED_PROVIDERS``. Reply: the prediction object ``{id, model,
  version, input, status ("starting"|"processing"|"succeeded"|"failed"|"canceled"), output, error, logs,
  created_at, started_at, completed_at, urls: {get, cancel}}`` [doc].
- Models: seedream-v4 and seedream-v4.5 only. Seedream v5.0-lite is not among the models we checked at Replicate, so
  a request for it here is refused at the door (``model_not_served``) and ``auto`` skips Replicate for it.
- Output: an array of URLs [doc], **deleted an hour after the prediction completed** [doc]. Each notice carries
  ``outputs_expire_at`` = ``completed_at`` (else the time we read it) + ``REPLICATE_OUTPUT_LIFETIME_SECONDS``
  (3600): the ingest deadline is brought forward to it and nothing is fetched past it — the job fails
  ``outputs_expired`` and keeps nothing (``seedream.lifecycle``, ``usecases.ingest``). From a completion, the
  callback's ingest starts at once, an SQS retry comes 30 min later (the ingest queue's visibility timeout), the
  sweep re-queues it every ``INGEST_DEADLINE_SECONDS`` (15 min) and at the expiry itself; a lost callback is found
  by a status read at most ``RECONCILE_BACKOFF_MAX_SECONDS`` (5 min) + one sweep after the prediction completed.
- Webhook: events ``start``, ``output``, ``logs``, ``completed``; we ask for ``completed`` only, the one Replicate
  retries (backoff, the last try about a minute after completion). Duplicates and out-of-order deliveries happen
  [doc]: a non-terminal status is acknowledged and ignored (``NotTerminal``), a repeated ``completed`` (a retry
  or a replay: the same ``webhook-id``) is a duplicate for the callback ledger while its completion is being
  ingested or once the job has ended, so it changes nothing twice; after an ingest failed it is the retry the
  ledger lets through (outputs already stored are kept, never stored twice: ``usecases.ingest``).
- Signature: **Standard Webhooks** [doc]: ``webhook-id``, ``webhook-timestamp`` (unix s), ``webhook-signature:
  v1,<base64>`` (several, space-separated); HMAC-SHA256 over ``{id}.{timestamp}.{raw body}`` with the base64-decoded
  part of the ``whsec_`` secret; 5-minute tolerance. Signed for comparison by the ``standardwebhooks`` library. The secret:
  the provider secret's ``webhook_secret``, else ``GET /v1/webhooks/default/secret`` → ``{"key": "whsec_…"}`` [doc],
  fetched once and cached for the life of the function.
- Status read (reconcile): ``GET /v1/predictions/{id}`` [doc], the same prediction object.
- Cancel: ``POST /v1/predictions/{id}/cancel`` [doc] (``cancel``); a cancelled job's prediction is cancelled
  there by the submit function (``usecases.provider_cancel``).
- Price: seedream-4 $0.03 per output image (replicate.com/bytedance/seedream-4; billed per image produced [doc]);
  seedream-4.5 ``REPLICATE_V45_PRICE_USD``, default $0.045 per output image [inferred: a third-party price listing;
  not read on Replicate's own page].
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..clock import iso, parse_iso
from ..errors import ProviderRejected, Unauthorized
from ..models.messages import CompletionNotice
from .base import Credentials, SubmitResult
from .callbacks import callback_object, error_text, fresh_timestamp, header, malformed, terminal_notice
from .calls import Http, get_json, post_json
from .limits import ModelLimits, ModelTable

if TYPE_CHECKING:
    from ..models.requests import JobRequest

DEFAULT_BASE_URL = "https://api.replicate.com"
TOLERANCE_SECONDS = 300
OUTPUT_LIFETIME_SECONDS = 3600.0
SUCCEEDED = {"succeeded"}
FAILED = {"failed", "canceled"}
NAMED_SIZES = {1024: "1K", 2048: "2K", 4096: "4K"}


def model_limits(v45_price_usd: float = 0.045, accepts_seed: bool = False) -> dict[str, ModelLimits]:
    """Our model name → Replicate limits and price: sides 1024..4096 (``custom``) [doc]; seedream-4 ≤ 10 source
    images, seedream-4.5 ≤ 14 [doc]; 1..15 outputs, references + outputs ≤ 15 [doc]; pixel ranges per model
    (``ModelLimits``). seedream-v5.0-lite is not served (``served=False``)."""
    return {
        "seedream-v4": ModelLimits("bytedance/seedream-4", price_per_image_usd=0.03, price_documented=True,
                                   accepts_seed=accepts_seed),
        "seedream-v4.5": ModelLimits("bytedance/seedream-4.5", min_pixels=3_686_400, max_input_images=14,
                                     price_per_image_usd=v45_price_usd, accepts_seed=accepts_seed),
        "seedream-v5.0-lite": ModelLimits("", served=False),
    }


def replicate_size(model: str, width: int, height: int) -> dict:
    """The ``size`` fields of a Replicate input for ``width`` × ``height`` pixels: ``{"size": "2K", "aspect_ratio":
    "1:1"}`` for an exact 1024² (seedream-4 only: 4.5 has no 1K), 2048² or 4096², else ``{"size": "custom",
    "width", "height"}`` (a named size with another aspect ratio is not an exact W×H [doc: "2K" at 4:3 is 2304×1728])."""
    named = NAMED_SIZES.get(width) if width == height else None
    if named and not (named == "1K" and model == "seedream-v4.5"):
        return {"size": named, "aspect_ratio": "1:1"}
    return {"size": "custom", "width": width, "height": height}


def output_list(output: object) -> list[str]:
    """A prediction's ``output`` as URLs: an array of URLs [doc] (a single URL string is taken as one output);
    None is no output. Raises ``ValueError`` on anything else."""
    if output is None:
        return []
    if isinstance(output, str):
        output = [output]
    if not isinstance(output, list) or not all(isinstance(url, str) and url for url in output):
        raise ValueError("output is not an array of URLs")
    return list(output)


class Replicate(ModelTable):
    """Replicate adapter. One instance per Lambda cold start; it caches the webhook signing secret.

    ``secret_fetches`` counts ``GET /v1/webhooks/default/secret`` calls; ``output_lifetime_seconds`` is how long
    Replicate keeps outputs after the prediction completed (``REPLICATE_OUTPUT_LIFETIME_SECONDS``)."""

    name = "replicate"
    callback_mechanism = '`webhook` + `webhook_events_filter: ["completed"]` in the JSON body'
    signature_scheme = "Standard Webhooks: HMAC-SHA256 `v1,<base64>` over `id.timestamp.body`, key = base64 after `whsec_`"

    def __init__(self, http: Http, credentials: Credentials, base_url: str | None = None, *,
                 v45_price_usd: float = 0.045, accepts_seed: bool = False,
                 output_lifetime_seconds: float = OUTPUT_LIFETIME_SECONDS, tolerance_seconds: int = TOLERANCE_SECONDS):
        self.http = http
        self.credentials = credentials
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.models = model_limits(v45_price_usd, accepts_seed)
        self.output_lifetime_seconds = output_lifetime_seconds
        self.tolerance_seconds = tolerance_seconds
        self.secret_fetches = 0
        self._fetched_secret: str | None = None

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """``POST /v1/models/{owner}/{name}/predictions`` with the webhook; returns the prediction id and status."""
        limits = self.models[request.model]
        prompt_input = {"prompt": request.prompt, "image_input": image_urls,
                        **replicate_size(request.model, request.width, request.height),
                        "sequential_image_generation": "auto", "max_images": request.max_images}
        if request.seed is not None and limits.accepts_seed:
            prompt_input["seed"] = request.seed  # in neither model schema: only with SEED_PROVIDERS
        body = {"input": prompt_input, "webhook": callback_url, "webhook_events_filter": ["completed"]}
        reply = post_json(self.http, self.name, f"{self.base_url}/v1/models/{limits.provider_model}/predictions",
                          self.credentials()["api_key"], body)
        if not reply.get("id"):
            raise ProviderRejected(f"replicate answered without a prediction id: {str(reply)[:300]}")
        return SubmitResult(provider_task_id=str(reply["id"]), provider_status=str(reply.get("status") or "starting"))

    def cancel(self, provider_task_id: str, provider_urls: Mapping[str, str] | None = None) -> str:
        """``POST /v1/predictions/{id}/cancel`` [doc: Replicate HTTP API, "Cancel a prediction"]: returns the
        prediction's status as it answered (``canceled``, or the final status of one that had already ended).
        ``provider_urls`` is unused (Replicate's URL is built from the id). Raises ``ProviderRejected`` /
        ``ProviderUnavailable``."""
        reply = post_json(self.http, self.name,
                          f"{self.base_url}/v1/predictions/{quote(provider_task_id, safe='')}/cancel",
                          self.credentials()["api_key"], {})
        return str(reply.get("status") or "")

    # -- signature ---------------------------------------------------------------------------
    def webhook_secret(self) -> str:
        """The ``whsec_`` signing secret: the provider secret's ``webhook_secret``, else fetched once from
        ``GET /v1/webhooks/default/secret`` (``{"key": ...}``) and cached. Raises ``Unauthorized``
        (``signature_unverifiable``) when neither gives one, ``ProviderUnavailable``/``ProviderRejected`` when the
        fetch fails (as WaveSpeed's: the callback is refused and Replicate retries it)."""
        secret = self.credentials().get("webhook_secret")
        if secret:
            return secret
        if self._fetched_secret is None:
            self.secret_fetches += 1
            reply = get_json(self.http, self.name, f"{self.base_url}/v1/webhooks/default/secret",
                             self.credentials()["api_key"])
            key = reply.get("key")
            self._fetched_secret = key if isinstance(key, str) and key.startswith("whsec_") else ""
        if not self._fetched_secret:
            raise Unauthorized("no Replicate webhook secret is configured or retrievable", code="signature_unverifiable")
        return self._fetched_secret

    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless the callback carries a valid, fresh Standard Webhooks signature.

        Codes: ``signature_missing`` (a header absent), ``timestamp_out_of_range`` (more than ``tolerance_seconds``
        from ``now``, unix seconds), ``signature_invalid`` (no ``v1`` signature matches the raw ``body``),
        ``signature_unverifiable`` (no usable secret). The expected signature is the ``standardwebhooks`` library's
        (``Webhook.sign``: the key decoding and the HMAC); the clock is the injected ``now`` (the library's own
        ``verify`` reads the wall clock), and each ``v1,…`` candidate is compared in constant time."""
        from standardwebhooks.webhooks import Webhook

        webhook_id, timestamp = header(headers, "webhook-id"), header(headers, "webhook-timestamp")
        signatures = header(headers, "webhook-signature")
        if not (webhook_id and timestamp and signatures):
            raise Unauthorized("callback lacks webhook-id, webhook-timestamp or webhook-signature", code="signature_missing")
        sent_at = fresh_timestamp(timestamp, "webhook-timestamp", now, self.tolerance_seconds)
        try:
            signer = Webhook(self.webhook_secret())
        except ValueError:  # binascii.Error: the secret after whsec_ is not base64
            raise Unauthorized("the Replicate webhook secret is not whsec_<base64>", code="signature_unverifiable") from None
        try:
            expected = signer.sign(webhook_id, datetime.fromtimestamp(sent_at, UTC), body.decode("utf-8"))
        except UnicodeDecodeError:
            raise Unauthorized("the callback body is not UTF-8", code="signature_invalid") from None
        if not any(hmac.compare_digest(candidate, expected) for candidate in signatures.split()):
            raise Unauthorized("webhook-signature does not match the body", code="signature_invalid")

    # -- callback and status -----------------------------------------------------------------
    def notice(self, prediction: dict, *, webhook_id: str | None = None, via: str = "webhook",
               task_id: str | None = None) -> CompletionNotice:
        """Our notice for a prediction object; raises ``NotTerminal`` (``starting``/``processing``) or ``ValueError``
        (no id, an ``output`` that is not URLs, a ``completed_at`` that is not ISO 8601)."""
        prediction_id = prediction.get("id") or task_id
        if not prediction_id:
            raise ValueError("the prediction has no id")
        status = str(prediction.get("status") or "")
        urls = output_list(prediction.get("output")) if status in SUCCEEDED else []
        completed = prediction.get("completed_at")
        completed_at = parse_iso(completed) if isinstance(completed, str) and completed else datetime.now(UTC)
        return terminal_notice(self.name, prediction_id, status, SUCCEEDED, FAILED, output_urls=urls,
                               error_message=error_text(prediction.get("error")), webhook_id=webhook_id, via=via,
                               outputs_expire_at=iso(completed_at + timedelta(seconds=self.output_lifetime_seconds))
                               if urls else None)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """The callback body is the prediction object [doc]. ``starting``/``processing`` (a late or out-of-order
        ``start``/``output``/``logs`` event) raise ``NotTerminal``; ``succeeded`` carries the output URLs;
        ``failed``/``canceled`` the error. Raises ``InvalidRequest`` (``callback_malformed``)."""
        try:
            return self.notice(callback_object(body), webhook_id=header(headers, "webhook-id"))
        except ValueError as exc:
            raise malformed(f"callback prediction: {exc}") from None

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """The callback is signed, so it is trusted as is."""
        return notice

    def read_status(self, provider_task_id: str) -> CompletionNotice:
        """``GET /v1/predictions/{id}`` [doc]: the prediction object. An unreadable one raises ``ProviderRejected``
        (the read failed; the sweep reads again later)."""
        reply = get_json(self.http, self.name, f"{self.base_url}/v1/predictions/{quote(provider_task_id, safe='')}",
                         self.credentials()["api_key"])
        try:
            return self.notice(reply, via="reconcile", task_id=provider_task_id)
        except ValueError as exc:
            raise ProviderRejected(f"replicate prediction {provider_task_id[:64]}: {exc}") from None
