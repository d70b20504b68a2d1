"""Pydantic models, one module per kind, so each function imports only the shapes it uses.

- ``requests``  ``JobRequest``: what a caller sends (``POST /v1/jobs``)
- ``records``   ``JobRecord`` and its parts: the job as the jobs table keeps it
- ``views``     ``JobView``: the job as ``GET /v1/jobs/{job_id}`` shows it
- ``messages``  ``CompletionNotice``, ``SubmitMessage``, ``IngestMessage``: what moves between functions
- ``events``    ``JobEvent``: the ``detail`` of the events on the bus

This module holds only what they share and imports no pydantic model.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

MODELS: tuple[str, ...] = ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite")
JobStatus = Literal["queued", "submitted", "succeeded", "failed", "cancelled"]
OPEN: tuple[str, ...] = ("queued", "submitted")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


def now_iso() -> str:
    """Current UTC time as ISO 8601 with milliseconds and ``Z`` (``2026-11-21T10:00:00.123Z``)."""
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with milliseconds and ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time as written by ``now_iso``/``iso`` (``Z`` suffix) → an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def after(text: str, seconds: float) -> str:
    """The ISO time ``seconds`` after the ISO time ``text``."""
    return iso(parse_iso(text) + timedelta(seconds=seconds))
