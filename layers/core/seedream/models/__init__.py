"""Pydantic models, one module per kind, so each function imports only the shapes it uses.

- ``requests``  ``JobRequest``: what a caller sends (``POST /v1/jobs``)
- ``records``   ``JobRecord`` and its parts: the job as the jobs table keeps it
- ``views``     ``JobView``: the job as ``GET /v1/jobs/{job_id}`` shows it
- ``messages``  ``CompletionNotice``, ``SubmitMessage``, ``IngestMessage``: what moves between functions
- ``events``    ``JobEvent``: the ``detail`` of the events on the bus

This module holds only what they share (the statuses come from ``seedream.lifecycle``, the time helpers
from ``seedream.clock``) and imports no pydantic model.
"""

from __future__ import annotations

from ..clock import after, iso, now_iso, parse_iso
from ..lifecycle import OPEN, TERMINAL, JobStatus

MODELS: tuple[str, ...] = ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite")

__all__ = ["MODELS", "OPEN", "TERMINAL", "JobStatus", "after", "iso", "now_iso", "parse_iso"]
