"""The one Protocol every provider adapter implements, and the helpers they share.

An adapter is the only code that knows a provider's paths, field names, status values and
signature scheme. The core calls it with our models and gets our models back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol

from ..errors import InvalidRequest, ProviderRejected, ProviderUnavailable
from ..models.messages import CompletionNotice

if TYPE_CHECKING:
    import httpx

    from ..models.requests import JobRequest

Credentials = Callable[[], Mapping[str, str]]
"""Returns this provider's entry of the provider secret: ``{"api_key": ..., "webhook_secret": ...}``."""


@dataclass(frozen=True)
class SubmitResult:
    """What a provider answered a submit with: its task id and status, and the URLs it gave for the task
    (``provider_urls``, e.g. fal.ai's ``status_url``/``response_url``/``cancel_url``: kept on the job and used
    as given, never rebuilt; empty for providers whose task URLs are fixed paths)."""

    provider_task_id: str
    provider_status: str
    provider_urls: Mapping[str, str] = field(default_factory=dict)


class NotTerminal(Exception):
    """A callback that reports a non-final status (``processing`` ...): acknowledged, nothing recorded."""


@dataclass(frozen=True)
class ModelLimits:
    """Limits of one model at one provider. Sides in pixels, ``*_pixels`` in total pixels (W×H).

    Sources (tags as in the adapters' docstrings): pixel ranges — seedream-v4 921,600..16,777,216,
    v4.5 and v5.0-lite 3,686,400..16,777,216 [doc: evolink reference, ComfyUI's Seedream node;
    code: several clients]; aspect ratio 1/16..16 [code]; references + outputs ≤ 15 for the model
    whatever the provider [doc: ComfyUI; code: Atlas schema]; per-provider counts in each adapter.
    """

    provider_model: str
    min_side: int = 1024
    max_side: int = 4096
    min_pixels: int = 921_600
    max_pixels: int = 16_777_216
    max_aspect: float = 16.0
    max_input_images: int = 10
    max_outputs: int = 15
    max_references_plus_outputs: int = 15
    max_prompt_chars: int = 4000
    sizes: tuple[str, ...] = ()
    """The only ``W*H`` sizes the provider takes for this model; empty = any size within the ranges."""
    accepts_seed: bool = False
    """No provider documents ``seed`` for edit-sequential; ``SEED_PROVIDERS`` names those to send it to."""
    price_per_image_usd: float | None = None
    price_per_run_usd: float | None = None
    bills_requested: bool = False
    """True where the provider bills ``max_images`` × unit price, not the images produced."""
    price_documented: bool = False
    """True where the price is the provider's documented one; False where it is a configurable default."""
    served: bool = True
    """False where the provider does not serve the model at all: every request for it is refused at the door
    (``model_not_served``), ``auto`` skips the provider for it and the model list leaves the pair out."""

    @property
    def price_basis(self) -> str:
        """How the provider bills a job: ``per_run``, ``per_image_requested`` (``max_images``) or ``per_image_produced``."""
        if self.price_per_run_usd is not None:
            return "per_run"
        return "per_image_requested" if self.bills_requested else "per_image_produced"

    @property
    def price_usd(self) -> float | None:
        """The unit price in USD of ``price_basis`` (per run or per image)."""
        return self.price_per_run_usd if self.price_per_run_usd is not None else self.price_per_image_usd


class Provider(Protocol):
    """What the use cases call on a provider adapter; an adapter implements all of it.

    Two optional parts, which only the adapters that need them have (the others are unchanged):

    - ``read_status(provider_task_id, provider_urls=...)``: an adapter whose ``SubmitResult`` carries
      ``provider_urls`` is handed them back by the sweep (the job keeps them); others get the task id alone.
    - ``cancel(provider_task_id, provider_urls) -> str``: ask the provider to stop the task (fal.ai documents a
      cancel URL); returns the provider's answer (e.g. ``CANCELLATION_REQUESTED``), raises ``ProviderUnavailable``
      or ``ProviderRejected``. Find it with :func:`provider_cancel`.
    """

    name: str
    callback_mechanism: str
    signature_scheme: str
    models: dict[str, ModelLimits]
    """Our model name → its limits and price at this provider (``PROVIDER_LIMITS`` may replace fields)."""
    credentials: Credentials
    """This provider's entry of the provider secret; raises ``JobError`` (``misconfigured``) without an ``api_key``."""

    def limits(self, model: str) -> ModelLimits:
        """Documented limits and price of ``model`` at this provider."""

    def check(self, request: JobRequest) -> None:
        """Raise ``InvalidRequest`` (``provider_limit_exceeded``) naming every limit ``request`` breaks (``check_limits``)."""

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """Hand the job to the provider. Raises ``ProviderRejected`` (4xx) or ``ProviderUnavailable`` (429, 5xx, network)."""

    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless the callback carries the provider's valid, fresh signature."""

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """The callback in our terms; raises ``NotTerminal`` or ``InvalidRequest`` (``callback_malformed``)."""

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """The authoritative result for a notice (evolink reads its task API; the others return ``notice``).
        Raises ``NotTerminal`` when the provider does not confirm the completion yet."""

    def read_status(self, provider_task_id: str) -> CompletionNotice:
        """One read of the task at the provider's status API (the reconcile sweep's only call): the
        completion (``via="reconcile"``), or ``NotTerminal`` while it runs; ``ProviderUnavailable`` /
        ``ProviderRejected`` when the read fails."""


def provider_cancel(provider: object) -> Callable[[str, Mapping[str, str]], str] | None:
    """The adapter's optional ``cancel(provider_task_id, provider_urls)``, or None when the provider has none."""
    cancel = getattr(provider, "cancel", None)
    return cancel if callable(cancel) else None


def read_status_of(provider: Provider, provider_task_id: str, provider_urls: Mapping[str, str] | None) -> CompletionNotice:
    """``provider.read_status`` for a job: with the task's ``provider_urls`` when the job kept some (the
    adapters that return them take them back), else with the task id alone."""
    if provider_urls:
        return provider.read_status(provider_task_id, provider_urls=provider_urls)
    return provider.read_status(provider_task_id)


class Http:
    """A provider's HTTP client, made on first use and shared by the adapters of one function.

    Importing httpx and making a client (which loads the CA bundle) cost ~50 ms of cold start; the
    api never calls a provider and the webhook only to fetch a WaveSpeed secret or the Atlas Cloud
    JWKS, so those functions import httpx only if they make one. ``transport`` is injectable (tests
    pass an ``httpx.MockTransport``); ``verify`` is an ``ssl.SSLContext`` or a callable returning one.
    """

    def __init__(self, timeout_seconds: float, *, transport: httpx.BaseTransport | None = None, verify=True):
        self.timeout_seconds = timeout_seconds
        self.transport = transport
        self.verify = verify
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            verify = self.verify() if callable(self.verify) else self.verify
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout_seconds, connect=min(5.0, self.timeout_seconds)),
                                        transport=self.transport, verify=verify)
        return self._client

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.client.request("GET", url, **kwargs)


def malformed(message: str) -> InvalidRequest:
    """The error for a callback body we cannot read: HTTP 400, code ``callback_malformed``, nothing changes."""
    return InvalidRequest(message, code="callback_malformed", http_status=400)


def callback_object(body: bytes) -> dict:
    """A callback body as a JSON object (a ``{"data": {...}}`` envelope without ``id`` is unwrapped).

    Raises ``InvalidRequest`` (``callback_malformed``)."""
    try:
        document = json.loads(body)
    except ValueError:
        raise malformed("callback body is not JSON") from None
    if isinstance(document, dict) and isinstance(document.get("data"), dict) and "id" not in document:
        document = document["data"]
    if not isinstance(document, dict):
        raise malformed("callback body is not a JSON object")
    return document


def terminal_notice(provider: str, task_id: object, status: str, succeeded: set[str], failed: set[str],
                    **fields) -> CompletionNotice:
    """Our notice for a provider status; raises ``NotTerminal`` unless ``status`` is in ``succeeded`` or ``failed``."""
    if status not in succeeded | failed:
        raise NotTerminal(status)
    return CompletionNotice(provider=provider, provider_task_id=str(task_id), provider_status=status,
                            status="succeeded" if status in succeeded else "failed", **fields)


def error_text(error: object) -> str | None:
    """A provider's error (string or ``{"message"|"code"}`` object) as text, at most 1000 characters."""
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or (json.dumps(error) if error else "")
    return str(error)[:1000] if error else None


def limit_problems(request: JobRequest, limits: ModelLimits) -> list[dict]:
    """Every documented limit ``request`` breaks under ``limits``: ``[{"field", "limit", "value"}]`` in a fixed order,
    ``limit`` naming the rule (``max_input_images``, ``max_outputs``, ``references_plus_outputs``, ``width_range``,
    ``height_range``, ``pixel_range``, ``aspect_ratio``, ``sizes``, ``seed_not_supported``, ``max_prompt_chars``;
    ``model_not_served`` alone for a model the provider does not serve)
    and ``value`` its bound (a count, ``[min, max]`` pixels or ratios, the sizes, or None). No message: see
    :func:`rule_message`."""
    if not limits.served:
        return [{"field": "model", "limit": "model_not_served", "value": None}]
    problems = []
    if len(request.images) > limits.max_input_images:
        problems.append({"field": "images", "limit": "max_input_images", "value": limits.max_input_images})
    if request.max_images > limits.max_outputs:
        problems.append({"field": "max_images", "limit": "max_outputs", "value": limits.max_outputs})
    if len(request.images) + request.max_images > limits.max_references_plus_outputs:
        problems.append({"field": "max_images", "limit": "references_plus_outputs",
                         "value": limits.max_references_plus_outputs})
    for side, value in (("width", request.width), ("height", request.height)):
        if not limits.min_side <= value <= limits.max_side:
            problems.append({"field": "size", "limit": f"{side}_range", "value": [limits.min_side, limits.max_side]})
    if not limits.min_pixels <= request.width * request.height <= limits.max_pixels:
        problems.append({"field": "size", "limit": "pixel_range", "value": [limits.min_pixels, limits.max_pixels]})
    if max(request.width, request.height) > limits.max_aspect * min(request.width, request.height):
        problems.append({"field": "size", "limit": "aspect_ratio", "value": [1 / limits.max_aspect, limits.max_aspect]})
    if limits.sizes and request.size not in limits.sizes:
        problems.append({"field": "size", "limit": "sizes", "value": list(limits.sizes)})
    if request.seed is not None and not limits.accepts_seed:
        problems.append({"field": "seed", "limit": "seed_not_supported", "value": None})
    if len(request.prompt) > limits.max_prompt_chars:
        problems.append({"field": "prompt", "limit": "max_prompt_chars", "value": limits.max_prompt_chars})
    return problems


def rule_message(problem: dict, request: JobRequest, where: str | None) -> str:
    """The sentence for one broken rule (a :func:`limit_problems` entry): what ``request.model`` takes, ``at`` the
    providers named in ``where`` (None: at every provider), and what the request asks instead."""
    subject = request.model + (f" at {where}" if where else "")
    limit, value = problem["limit"], problem["value"]
    images, wanted = len(request.images), request.max_images
    if limit == "model_not_served":
        return f"{request.model} is not served{' at ' + where if where else ''}: choose another model or provider"
    if limit == "max_input_images":
        return f"{subject} takes at most {value} source images, not {images}"
    if limit == "max_outputs":
        return f"{subject} makes at most {value} images, not max_images {wanted}"
    if limit == "references_plus_outputs":
        return (f"{subject} makes at most {value} images counting the references: {images} source image(s) + "
                f"max_images {wanted} = {images + wanted}: ask for at most {max(value - images, 0)} images")
    if limit in ("width_range", "height_range"):
        side = limit.removesuffix("_range")
        return f"{subject} takes a {side} of {value[0]}..{value[1]} px, not {getattr(request, side)}"
    if limit == "pixel_range":
        return (f"{subject} takes {value[0]:,}..{value[1]:,} pixels in all, not {request.width * request.height:,} "
                f"({request.size})")
    if limit == "aspect_ratio":
        return f"{subject} takes an aspect ratio of 1:{value[1]:g} to {value[1]:g}:1, not {request.size}"
    if limit == "sizes":
        return f"{subject} takes only the sizes {', '.join(value)}, not {request.size}"
    if limit == "seed_not_supported":
        return f"{subject}: no seed is documented; leave seed out"
    return f"{subject} takes a prompt of at most {value} characters, not {len(request.prompt)}"


def check_limits(provider: str, request: JobRequest, limits: ModelLimits) -> None:
    """Raise ``InvalidRequest`` (``provider_limit_exceeded``) naming every documented limit of ``provider``
    that ``request`` breaks: one ``details`` entry per rule (``field``, ``limit``, ``value``, ``message``, ``providers``)."""
    problems = [p | {"message": rule_message(p, request, provider), "providers": [provider]}
                for p in limit_problems(request, limits)]
    if problems:
        raise InvalidRequest("; ".join(p["message"] for p in problems), code="provider_limit_exceeded",
                             details=problems)


def estimated_cost_usd(limits: ModelLimits, max_images: int, produced: int) -> float:
    """Documented price of one job in USD: per run, or per image (requested or produced, as the provider bills)."""
    if limits.price_per_run_usd is not None:
        return round(limits.price_per_run_usd, 6)
    count = max_images if limits.bills_requested else produced
    return round((limits.price_per_image_usd or 0.0) * count, 6)


LIMIT_WORDS = re.compile(r"\b(size|pixels?|width|height|ratio|max(imum)?|min(imum)?|limit|exceed\w*|at most|"
                         r"between|range|within|too (many|large|long|small)|not supported|unsupported|"
                         r"(less|greater) than)\b", re.I)
"""Words by which a provider's 4xx names a limit the request broke (``auto`` then fails over); fal's validation
answers say "ensure this value is less than or equal to 6"."""


def post_json(client: Http, provider: str, url: str, api_key: str, body: dict, *, scheme: str = "Bearer") -> dict:
    """POST JSON with a key (``Authorization: <scheme> <key>``); returns the JSON reply. Maps failures to our errors."""
    return _call(client, provider, "POST", url, api_key, scheme=scheme, json=body)


def get_json(client: Http, provider: str, url: str, api_key: str, *, scheme: str = "Bearer") -> dict:
    return _call(client, provider, "GET", url, api_key, scheme=scheme)


def _call(client: Http, provider: str, method: str, url: str, api_key: str, *, scheme: str = "Bearer",
          **kwargs) -> dict:
    import httpx

    try:
        response = client.request(method, url, headers={"Authorization": f"{scheme} {api_key}"}, **kwargs)
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(f"{provider} timed out: {exc}", code="provider_timeout") from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"{provider} could not be reached: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        unavailable = ProviderUnavailable(f"{provider} answered HTTP {response.status_code}: {_message(response)}",
                                          code="provider_rate_limited" if response.status_code == 429 else None)
        unavailable.retry_after = retry_after_seconds(response.headers.get("retry-after"))
        raise unavailable
    if response.status_code >= 400:
        message = _message(response)
        rejected = ProviderRejected(f"{provider} refused the job (HTTP {response.status_code}): {message}")
        rejected.names_limit = bool(LIMIT_WORDS.search(message))
        raise rejected
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderUnavailable(f"{provider} answered HTTP {response.status_code} with a body that is not JSON") from exc


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) in seconds from now, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        for key in ("message", "error", "msg", "detail"):
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:300]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``name``'s value in ``headers``, whatever the case of either; None when absent.

    ``record_callback`` hands adapters the event's headers as Powertools' ``CaseInsensitiveDict`` (what
    ``APIGatewayProxyEventV2.headers`` is; API Gateway v2 lower-cases names): a plain ``get``. Any other mapping
    (an adapter called directly, as its unit tests do) is read through one."""
    from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict

    return (headers if isinstance(headers, CaseInsensitiveDict) else CaseInsensitiveDict(headers)).get(name)
