"""``JobRequest``: the body of ``POST /v1/jobs``."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

Model = Literal["seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"]
SIZE_RE = re.compile(r"^(\d{2,5})\*(\d{2,5})$")
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]
MetadataValue = Annotated[str, StringConstraints(max_length=256)]


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP literals (``127.0.0.1``, ``::1``)."""
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
