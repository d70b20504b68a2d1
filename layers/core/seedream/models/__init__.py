"""Pydantic models, one module per kind, so each function imports only the shapes it uses.

- ``requests``  ``JobRequest``: what a caller sends (``POST /v1/jobs``)
- ``records``   ``JobRecord`` and its parts: the job as the jobs table keeps it
- ``views``     ``JobView``: the job as ``GET /v1/jobs/{job_id}`` shows it
- ``messages``  ``CompletionNotice``, ``SubmitMessage``, ``IngestMessage``: what moves between functions
- ``events``    ``JobEvent``: the ``detail`` of the events on the bus

This module holds only what they share and imports no pydantic model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

MODELS: tuple[str, ...] = ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite")
JobStatus = Literal["queued", "submitted", "succeeded", "failed"]
OPEN: tuple[str, ...] = ("queued", "submitted")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})


def now_iso() -> str:
    """Current UTC time as ISO 8601 with milliseconds and ``Z`` (``2026-11-21T10:00:00.123Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
