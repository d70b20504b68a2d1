"""Pydantic models: what a caller sends, what a job is, what a provider tells us, what the bus carries.

Shapes only; rules that need AWS or a provider live in ``jobs`` and ``providers``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

Model = Literal["seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"]
MODELS: tuple[str, ...] = ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite")
JobStatus = Literal["queued", "submitted", "succeeded", "failed"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})
OPEN: tuple[str, ...] = ("queued", "submitted")

SIZE_RE = re.compile(r"^(\d{2,5})\*(\d{2,5})$")
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]
MetadataValue = Annotated[str, StringConstraints(max_length=256)]


def now_iso() -> str:
    """Current UTC time as ISO 8601 with milliseconds and ``Z`` (``2026-11-21T10:00:00.123Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JobRequest(BaseModel):
    """``POST /v1/jobs`` body.

    - ``images``: 1–10 source image URLs. ``https://`` always; ``s3://<stack bucket>/<key>``
      (handed to the provider as a presigned GET URL); ``http://`` only to a loopback host and
      only when the stack runs locally (validation context ``allow_loopback_http``).
    - ``max_images``: 1–15 outputs (an upper bound: providers may return fewer).
    - ``size``: ``"W*H"`` in pixels; each provider checks its own range.
    - ``metadata``: at most 16 string pairs, carried to the job and its events.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: str = "auto"
    """A provider name, or ``auto``: the cheapest provider that takes the job, failing over to the next."""
    model: Model
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    images: list[str] = Field(min_length=1, max_length=10)
    max_images: int = Field(ge=1, le=15)
    size: str = "2048*2048"
    seed: int | None = Field(default=None, ge=-1, le=2_147_483_647)
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=16)

    @field_validator("size")
    @classmethod
    def _size_shape(cls, value: str) -> str:
        if not SIZE_RE.match(value):
            raise ValueError('size must be "W*H" in pixels, for example "2048*2048"')
        return value

    @field_validator("images")
    @classmethod
    def _image_urls(cls, value: list[str], info: ValidationInfo) -> list[str]:
        allow_loopback = bool((info.context or {}).get("allow_loopback_http"))
        for url in value:
            parts = urlsplit(url)
            if parts.scheme == "https" and parts.hostname:
                continue
            if parts.scheme == "s3" and parts.hostname and parts.path.strip("/"):
                continue
            if parts.scheme == "http" and allow_loopback and is_loopback_host(parts.hostname):
                continue
            raise ValueError(
                f"{url[:120]!r} is not an accepted image URL: use https:// or s3://<bucket>/<key>"
                + (" (or http:// on a loopback host)" if allow_loopback else "")
            )
        return value

    @property
    def width(self) -> int:
        return int(self.size.split("*")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("*")[1])


class Output(BaseModel):
    """One stored output image. ``bytes`` is the object size; ``width``/``height`` in pixels."""

    index: int
    s3_uri: str
    content_type: str
    bytes: int
    width: int
    height: int
    sha256: str
    url: str | None = None
    """Presigned GET URL, added when the job is read through the API; never stored."""


class ErrorInfo(BaseModel):
    code: str
    message: str


class Attempt(BaseModel):
    """One hand-off of the job to a provider, successful or not."""

    provider: str
    at: str
    outcome: Literal["submitted", "provider_unavailable", "provider_rejected"]
    provider_task_id: str | None = None
    message: str | None = None


class Job(BaseModel):
    """The job as ``GET /v1/jobs/{job_id}`` returns it and as DynamoDB keeps it."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    status: JobStatus
    provider: str
    model: str
    request: JobRequest
    metadata: dict[str, str] = Field(default_factory=dict)
    provider_task_id: str | None = None
    created_at: str
    updated_at: str
    submitted_at: str | None = None
    completed_at: str | None = None
    outputs: list[Output] = Field(default_factory=list)
    error: ErrorInfo | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    provider_order: list[str] = Field(default_factory=list)
    """Providers to try, in order (one entry unless ``request.provider`` is ``auto``)."""
    estimated_cost_usd: float | None = None
    """Documented price of the job in USD (set when it succeeds)."""


class CompletionNotice(BaseModel):
    """What a provider's completion callback says, in our terms (built by the provider's adapter).

    ``status`` is ``succeeded`` or ``failed``; ``output_urls`` are the provider's (short-lived)
    URLs in output order; ``nsfw`` holds the provider's per-output flags where it sends them.
    """

    provider: str
    provider_task_id: str
    status: Literal["succeeded", "failed"]
    provider_status: str
    output_urls: list[str] = Field(default_factory=list)
    nsfw: list[bool] = Field(default_factory=list)
    error_message: str | None = None
    webhook_id: str | None = None


class IngestMessage(BaseModel):
    """Body of a message on the ingest queue: which job, and what its callback said."""

    job_id: str
    notice: CompletionNotice
    received_at: str


class SubmitMessage(BaseModel):
    """Body of a message on the submit queue."""

    job_id: str


class JobEvent(BaseModel):
    """``detail`` of the ``Job Succeeded`` / ``Job Failed`` EventBridge events."""

    job_id: str
    status: JobStatus
    provider: str
    model: str
    outputs: list[str]
    """Output S3 URIs, in order."""
    metadata: dict[str, str]
    error: ErrorInfo | None = None
    completed_at: str | None = None


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a model (``None`` kept, so the API shape is stable)."""
    return model.model_dump(mode="json")
