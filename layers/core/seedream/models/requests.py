"""``JobRequest``: the body of ``POST /v1/jobs``, held strictly at the door.

Strict types (no coercion: ``"4"``, ``true`` or ``2.0`` are not a ``max_images``), no control, NUL
or bidirectional-override characters in ``prompt`` (newlines allowed) or ``metadata``, and every
source URL checked from its text alone (``seedream.netrules``): ``https://`` to a public host, no
userinfo, a valid port, at most 2,048 characters; or ``s3://`` (the stack's bucket, checked by the
accept use case); or, on the local stack only, ``http://`` to a loopback host. A ``webhook`` is held to
the same rules, ``s3://`` aside (``webhook_problem``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from ..netrules import host_problem, is_loopback_host

Model = Literal["seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"]
SIZE_RE = re.compile(r"^([0-9]{2,5})\*([0-9]{2,5})$")  # ASCII digits: Python's \d takes "２０４８" too
MAX_URL_CHARS = 2048
WebhookEvent = Literal["job.queued", "job.submitted", "job.succeeded", "job.failed", "job.cancelled"]
"""A webhook message ``type``: ``job.<status>``, one per lifecycle event (``Job Queued`` ... ``Job Cancelled``)."""
TERMINAL_WEBHOOK_EVENTS: tuple[str, ...] = ("job.succeeded", "job.failed", "job.cancelled")
"""What ``webhook_events`` is when the request does not say."""
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _no_controls(value: str, allowed: str = "") -> str:
    for char in value:
        if char in allowed:
            continue
        if unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS:
            raise ValueError(f"must not contain control or bidirectional-override characters (found U+{ord(char):04X})")
    return value


def _plain_text(value: str) -> str:
    return _no_controls(value)


def _prompt_text(value: str) -> str:
    return _no_controls(value, allowed="\n\r")


MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]
MetadataValue = Annotated[str, StringConstraints(max_length=256), AfterValidator(_plain_text)]
Prompt = Annotated[str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_prompt_text)]


class JobRequest(BaseModel):
    """``POST /v1/jobs`` body.

    - ``images``: 1–10 source image URLs. ``https://`` always; ``s3://<stack bucket>/<key>``
      (handed to the provider as a presigned GET URL); ``http://`` only to a loopback host and
      only when the stack runs locally (validation context ``allow_loopback_http``).
    - ``max_images``: 1–15 outputs (an upper bound: providers may return fewer).
    - ``size``: ``"W*H"`` in pixels; each provider checks its own range.
    - ``metadata``: at most 16 string pairs, carried to the job and its events.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    provider: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "auto"
    """A provider name, or ``auto``: the cheapest provider that takes the job, failing over to the next."""
    model: Model
    prompt: Prompt
    images: list[Annotated[str, StringConstraints(max_length=MAX_URL_CHARS)]] = Field(min_length=1, max_length=14)
    """Source images; how many a provider takes is its limit (WaveSpeed and Atlas Cloud 10, evolink 14)."""
    max_images: int = Field(ge=1, le=15)
    size: Annotated[str, StringConstraints(max_length=11)] = "2048*2048"
    seed: int | None = Field(default=None, ge=-1, le=2_147_483_647)
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=16)
    webhook: Annotated[str, StringConstraints(max_length=MAX_URL_CHARS)] | None = None
    """An ``https://`` URL to POST this job's lifecycle to, as Standard Webhooks messages signed with the
    deployment's secret (``GET /v1/webhooks/default/secret``); held to the source URLs' rules."""
    webhook_events: list[WebhookEvent] = Field(default_factory=lambda: list(TERMINAL_WEBHOOK_EVENTS), min_length=1,
                                               max_length=5)
    """Which moves the ``webhook`` hears of (default: the terminal three); only with ``webhook``."""

    @field_validator("size")
    @classmethod
    def _size_shape(cls, value: str) -> str:
        if not SIZE_RE.match(value):
            raise ValueError('size must be "W*H" in pixels, for example "2048*2048"')
        return value

    @field_validator("images")
    @classmethod
    def _image_urls(cls, value: list[str], info: ValidationInfo) -> list[str]:
        context = info.context or {}
        if context.get("stored"):  # read back from the table: held to the door's rules when it came in
            return value
        allow_loopback = bool(context.get("allow_loopback_http"))
        for url in value:
            problem = url_problem(url, allow_loopback)
            if problem:
                raise ValueError(f"{url[:120]!r} is not an accepted image URL: {problem}")
        return value

    @field_validator("webhook")
    @classmethod
    def _webhook_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        context = info.context or {}
        if value is None or context.get("stored"):
            return value
        problem = webhook_problem(value, bool(context.get("allow_loopback_http")))
        if problem:
            raise ValueError(f"{value[:120]!r} is not an accepted webhook URL: {problem}")
        return value

    @field_validator("webhook_events")
    @classmethod
    def _each_event_once_with_a_webhook(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # runs only for a given webhook_events (defaults are not validated); webhook is validated before it
        if (info.context or {}).get("stored"):  # read back from the table: held to these rules when it came in
            return value
        if info.data.get("webhook") is None and "webhook" not in info.data:
            return value  # the webhook itself was refused: its own error says why
        if info.data.get("webhook") is None:
            raise ValueError("webhook_events needs a webhook (the URL the events are sent to)")
        if len(set(value)) != len(value):
            raise ValueError("name each event once")
        return value

    @property
    def width(self) -> int:
        """Pixels, from ``size`` (``"W*H"``)."""
        return int(self.size.split("*")[0])

    @property
    def height(self) -> int:
        """Pixels, from ``size`` (``"W*H"``)."""
        return int(self.size.split("*")[1])


def url_problem(url: str, allow_loopback_http: bool = False) -> str | None:
    """Why ``url`` may not be a source image, or None when it may (see the module docstring)."""
    if any(unicodedata.category(c) in ("Cc", "Zs", "Zl", "Zp") for c in url):
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"it is malformed ({exc})"
    if parts.scheme == "s3":
        return None if parts.hostname and parts.path.strip("/") else "use s3://<bucket>/<key>"
    if parts.username is not None or parts.password is not None:
        return "it carries a user name or password"
    if parts.scheme == "http" and allow_loopback_http and is_loopback_host(parts.hostname):
        return None
    if parts.scheme != "https":
        return "use https:// or s3://<bucket>/<key>" + (" (or http:// on a loopback host)" if allow_loopback_http else "")
    if port == 0:
        return "port 0 is not a port"
    return host_problem(parts.hostname)


def webhook_problem(url: str, allow_loopback_http: bool = False) -> str | None:
    """Why ``url`` may not be a ``webhook``, or None when it may: a source URL's rules (``url_problem``), but never
    ``s3://``. The delivery checks the addresses the host resolves to as well (``seedream.webhook_sender``)."""
    if url.startswith("s3:"):
        return "use https://" + (" (or http:// on a loopback host)" if allow_loopback_http else "")
    problem = url_problem(url, allow_loopback_http)
    return problem.replace("use https:// or s3://<bucket>/<key>", "use https://") if problem else None
