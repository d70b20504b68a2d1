"""BytePlus ModelArk adapter (https://ark.ap-southeast.bytepluses.com): ByteDance's own Seedream API.

Sources: BytePlus ModelArk "Image generation API" reference (docs.byteplus.com/en/docs/ModelArk/1666945) and its
streaming example (/1824121#streaming-output), as copied in anongecko/seedream-studio
``references/SEEDREAM-4point5-api-docs.md``; model billing page (/1099320#image-generation). Tags: [doc] ModelArk's
own docs, [code] only third-party clients, [inferred] our reading.

- ``POST /api/v3/images/generations``, ``Authorization: Bearer <ARK key>`` [doc]; body ``model``
  (``seedream-4-0-250828``, ``seedream-4-5-251128`` [doc]; 5.0 ``seedream-5-0-260128`` [code], configurable
  ``MODELARK_V5_LITE_MODEL``), ``prompt``, ``image`` (URL or ``data:`` URI, a list of ≤ 14), ``size``
  (``2K|4K`` or ``WxH``: total pixels 921,600 (v4) / 3,686,400 (v4.5) .. 16,777,216, aspect 1/16..16; no
  per-side rule), ``sequential_image_generation: "auto"`` with ``sequential_image_generation_options.max_images``
  (1..15, default 15; references + outputs ≤ 15), ``response_format`` ``url|b64_json``, ``watermark`` (default
  **true**: we always send false), ``stream`` [doc]. ``seed`` is documented for the 3.0 models only [doc]: refused
  unless ``SEED_PROVIDERS`` names modelark, as at the other hosts.
- **Synchronous, no callback, no task API.** ``stream: true`` answers ``text/event-stream``: one
  ``image_generation.partial_succeeded`` event per image (``image_index``, ``url``, ``size``), an
  ``image_generation.partial_failed`` event (``image_index``, ``error {code, message}``) for an image the content
  filter refused (the others go on) [doc: streaming response page, as the official SDK's event types name it],
  then ``image_generation.completed`` (``usage.generated_images``) and ``data: [DONE]`` [doc]. A 500 stops the rest
  [doc]: the stream then ends without ``completed`` (or with an ``error``), which we treat as a cut stream.
- Output URLs expire within 24 h [doc]. Rate limit 500 images/min [doc] (a 429 with ``Retry-After``).
- Price: billed per **successfully generated** image (``usage.generated_images``) [doc]; v4.5 $0.04/image [doc];
  v4 and 5.0 are not in our sources: ``MODELARK_V4_PRICE_USD`` (default $0.03 [inferred]) and
  ``MODELARK_V5_LITE_PRICE_USD`` (default $0.035 [inferred], the v5.0-lite default of the other adapters).

The generation runs in the generate function (``usecases.generate``), not in ``submit``: ``synchronous = True``
tells the submit use case to hand the job to the ModelArk queue instead of calling ``submit`` here.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import JobError, ProviderRejected, ProviderUnavailable, Unauthorized
from ..models.messages import CompletionNotice
from .base import Credentials, NotTerminal, SubmitResult
from .calls import LIMIT_WORDS, Http, retry_after_seconds
from .limits import ModelLimits, ModelTable

if TYPE_CHECKING:
    from ..models.requests import JobRequest

DEFAULT_BASE_URL = "https://ark.ap-southeast.bytepluses.com"
PATH = "/api/v3/images/generations"
PARTIAL_SUCCEEDED = "image_generation.partial_succeeded"
PARTIAL_FAILED = "image_generation.partial_failed"
COMPLETED = "image_generation.completed"


class StreamCut(JobError):
    """The stream ended (connection dropped, stalled past the read timeout, an ``error`` event, or closed without
    ``image_generation.completed``/``[DONE]``) after ModelArk answered 200: a provider failure, not the model
    choosing fewer images. The job ends ``failed`` with this code and keeps nothing (``usecases.generate``)."""

    code = "provider_stream_cut"
    http_status = 502


@dataclass(frozen=True)
class StreamEvent:
    """One SSE event in our terms. ``kind``: ``image`` (``index``, ``url``, ``size``), ``image_failed`` (``index``,
    ``error``), ``completed`` (``generated_images``), ``done`` (``[DONE]``)."""

    kind: Literal["image", "image_failed", "completed", "done"]
    index: int | None = None
    url: str | None = None
    size: str | None = None
    error: str | None = None
    generated_images: int | None = None


def model_limits(v4_price_usd: float = 0.03, v5_lite_price_usd: float = 0.035,
                 v5_lite_model: str = "seedream-5-0-260128", accepts_seed: bool = False) -> dict[str, ModelLimits]:
    """Our model name → ModelArk limits and price (per image produced; v4.5 documented, the others configurable)."""

    def limits(provider_model: str, min_pixels: int, price: float, documented: bool = False) -> ModelLimits:
        return ModelLimits(provider_model, min_side=1, max_side=16_384, min_pixels=min_pixels, max_input_images=14,
                           max_outputs=15, price_per_image_usd=price, price_documented=documented,
                           accepts_seed=accepts_seed)

    return {
        "seedream-v4": limits("seedream-4-0-250828", 921_600, v4_price_usd),
        "seedream-v4.5": limits("seedream-4-5-251128", 3_686_400, 0.04, documented=True),
        "seedream-v5.0-lite": limits(v5_lite_model or "seedream-5-0-260128", 3_686_400, v5_lite_price_usd),
    }


def request_body(model: str, request: JobRequest, image_urls: list[str], *, stream: bool = True) -> dict:
    """The JSON body of ``POST /api/v3/images/generations`` for ``request`` (``model``: ModelArk's model id)."""
    body = {
        "model": model,
        "prompt": request.prompt,
        "size": f"{request.width}x{request.height}",
        "sequential_image_generation": "auto",
        "sequential_image_generation_options": {"max_images": request.max_images},
        "response_format": "url",
        "watermark": False,
        "stream": stream,
    }
    if image_urls:
        body["image"] = list(image_urls)
    if request.seed is not None:  # only reaches here when SEED_PROVIDERS names modelark (``check``)
        body["seed"] = request.seed
    return body


def parse_sse(lines: Iterable[str]) -> Iterator[StreamEvent]:
    """ModelArk's SSE lines (``event:``/``data:`` fields, a blank line ends an event; several ``data:`` lines join
    with newlines; ``:`` comments skipped) as ``StreamEvent``s, in order. Unknown event types are skipped.
    Raises ``StreamCut`` for an ``error`` event (or a ``data`` object carrying ``error`` without an image index)
    and for a ``data`` that is not JSON."""
    name, data = None, []
    for raw in itertools.chain(lines, [""]):  # lazily: each event as soon as its blank line arrives
        line = raw.rstrip("\r")
        if line.startswith(":"):
            continue
        if line:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            continue
        if data:
            event = _event(name, "\n".join(data))
            if event is not None:
                yield event
        name, data = None, []


def _event(name: str | None, data: str) -> StreamEvent | None:
    if data.strip() == "[DONE]":
        return StreamEvent("done")
    try:
        payload = json.loads(data)
    except ValueError:
        raise StreamCut(f"modelark sent an event whose data is not JSON: {data[:200]!r}") from None
    if not isinstance(payload, dict):
        raise StreamCut(f"modelark sent an event whose data is not an object: {data[:200]!r}")
    kind = payload.get("type") or name
    error = payload.get("error")
    if kind == PARTIAL_SUCCEEDED and payload.get("url"):
        return StreamEvent("image", index=_index(payload), url=str(payload["url"]), size=payload.get("size"))
    if kind == PARTIAL_FAILED or (error and payload.get("image_index") is not None):
        return StreamEvent("image_failed", index=_index(payload), error=_error_text(error) or "image failed")
    if kind == COMPLETED:
        usage = payload.get("usage") or {}
        count = usage.get("generated_images")
        return StreamEvent("completed", generated_images=int(count) if isinstance(count, int) else None)
    if kind == "error" or error:
        raise StreamCut(f"modelark stopped the stream: {_error_text(error) or data[:300]}")
    return None


def _index(payload: dict) -> int | None:
    index = payload.get("image_index")
    return int(index) if isinstance(index, int) and not isinstance(index, bool) else None


def _error_text(error: object) -> str | None:
    if isinstance(error, dict):
        parts = [str(error[k]) for k in ("code", "message") if error.get(k)]
        return ": ".join(parts)[:1000] if parts else json.dumps(error)[:1000]
    return str(error)[:1000] if error else None


class ModelArk(ModelTable):
    """BytePlus ModelArk adapter. ``stream`` runs one generation; ``synchronous`` makes ``submit`` (the use case)
    hand the job to the generate function instead of calling ``submit`` here."""

    name = "modelark"
    callback_mechanism = "none: synchronous; streamed (SSE) to our generate function, which holds the connection"
    signature_scheme = "none: no callback (our own HTTPS call with the ARK key)"
    synchronous = True
    in_auto_order = False
    """Not in ``auto``'s price-sorted default order (it holds a Lambda for the generation time): only where
    ``PROVIDER_PREFERENCE`` names it (``providers.selection``)."""

    def __init__(self, http: Http, credentials: Credentials, base_url: str | None = None, *,
                 v4_price_usd: float = 0.03, v5_lite_price_usd: float = 0.035,
                 v5_lite_model: str = "seedream-5-0-260128", read_timeout_seconds: float = 300.0,
                 accepts_seed: bool = False):
        self.http = http
        self.credentials = credentials
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.models = model_limits(v4_price_usd, v5_lite_price_usd, v5_lite_model, accepts_seed)
        self.read_timeout_seconds = read_timeout_seconds

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """Not used: ModelArk has no callback. The submit use case hands the job to the generate function
        (``synchronous``); raises ``ProviderRejected`` if called."""
        raise ProviderRejected("modelark is synchronous: the generate function runs its jobs, not submit")

    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """ModelArk never calls back: every callback to its route is refused (401, ``token_invalid``)."""
        raise Unauthorized("modelark sends no callbacks", code="token_invalid")

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """Never reached (``verify_callback`` refuses first): ModelArk sends no callbacks. Raises ``Unauthorized``."""
        raise Unauthorized("modelark sends no callbacks", code="token_invalid")

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """A ``via="stream"`` notice comes from our own generate function: it is the result."""
        return notice

    def read_status(self, provider_task_id: str) -> CompletionNotice:
        """ModelArk has no task API: nothing can be read. The sweep handles a ModelArk job itself
        (``usecases.reconcile``); this answers ``NotTerminal`` should anything call it."""
        raise NotTerminal("modelark has no status API")

    def stream(self, request: JobRequest, image_urls: list[str]) -> Iterator[StreamEvent]:
        """Run the generation with ``stream: true`` and yield its events as they arrive.

        Before a 200: ``ProviderUnavailable`` (429 with ``retry_after``, 5xx, timeout, connection) or
        ``ProviderRejected`` (other 4xx; ``names_limit`` set when the message names a limit). After it:
        ``StreamCut`` when the connection drops, stalls ``read_timeout_seconds`` between bytes, carries an
        ``error`` event, or closes without ``image_generation.completed`` and ``[DONE]``."""
        import httpx

        body = request_body(self.models[request.model].provider_model, request, image_urls)
        timeout = httpx.Timeout(self.read_timeout_seconds, connect=min(5.0, self.read_timeout_seconds))
        headers = {"Authorization": f"Bearer {self.credentials()['api_key']}", "Accept": "text/event-stream"}
        completed = done = False
        try:
            with self.http.client.stream("POST", f"{self.base_url}{PATH}", json=body, headers=headers,
                                         timeout=timeout) as response:
                _raise_for_status(response)
                try:
                    for event in parse_sse(response.iter_lines()):
                        completed = completed or event.kind == "completed"
                        done = done or event.kind == "done"
                        yield event
                except httpx.TransportError as exc:
                    raise StreamCut(f"modelark's stream broke off: {type(exc).__name__}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"modelark timed out: {exc}", code="provider_timeout") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"modelark could not be reached: {exc}") from exc
        if not (completed and done):
            missing = " and ".join(n for n, seen in (("image_generation.completed", completed), ("[DONE]", done))
                                   if not seen)
            raise StreamCut(f"modelark's stream ended without {missing}")


def _raise_for_status(response) -> None:
    """Map a non-200 answer (its body read) to our errors; a 200 that is not an event stream is a cut stream."""
    status = response.status_code
    if status == 200:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            response.read()
            raise StreamCut(f"modelark answered 200 without an event stream: {response.text[:300]}")
        return
    response.read()
    message = _reply_message(response)
    if status == 429 or status >= 500:
        unavailable = ProviderUnavailable(f"modelark answered HTTP {status}: {message}",
                                          code="provider_rate_limited" if status == 429 else None)
        unavailable.retry_after = retry_after_seconds(response.headers.get("retry-after"))
        raise unavailable
    rejected = ProviderRejected(f"modelark refused the job (HTTP {status}): {message}")
    rejected.names_limit = bool(LIMIT_WORDS.search(message))
    raise rejected


def _reply_message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    return (_error_text(error) or str(body))[:300]
