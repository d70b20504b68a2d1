"""When an open job is looked at again, and when it is given up: the reconcile sweep's rules.

All durations are seconds, configurable (``Settings``; deployed defaults in ``template.yaml``):

- **queued**: a job's first deadline is its hard limit, ``created_at + JOB_TIMEOUT_SECONDS``. A
  queued job is normally ended sooner by its submit message's last receive (``submit_failed``);
  the sweep ends it at the hard limit if its message was lost altogether.
- **submitted**: ``submitted_at + expected + DEADLINE_GRACE_SECONDS``, where expected generation time is
  ``(DEADLINE_BASE_SECONDS + DEADLINE_SECONDS_PER_IMAGE × max_images × megapixels / 4.19) × factors``;
  megapixels are the requested ``W×H`` (4.19 MP = 2048×2048, so the per-image figure is at that size)
  and ``DEADLINE_FACTORS`` multiplies by the provider's and the model's factor
  (``evolink=1.5,seedream-v4.5=1.2``; unnamed = 1).
- **still running at the provider**: the next look is ``RECONCILE_BACKOFF_SECONDS × 2^(reads − 1)``
  after the read, at most ``RECONCILE_BACKOFF_MAX_SECONDS``, never past the hard limit.
- **a completion recorded** (callback or sweep): ingest has ``INGEST_DEADLINE_SECONDS`` before the
  sweep looks again.
- **hard limit**: ``created_at + JOB_TIMEOUT_SECONDS``: still open then → ``failed`` with
  ``provider_timeout`` (submitted) or ``submit_failed`` (queued).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import iso, parse_iso

REFERENCE_PIXELS = 2048 * 2048


@dataclass(frozen=True)
class DeadlinePolicy:
    """The sweep's rules, in seconds; built by ``Settings.deadlines()``, where the defaults live."""

    base_seconds: float
    seconds_per_image: float
    grace_seconds: float
    factors: Mapping[str, float]
    job_timeout_seconds: float
    backoff_seconds: float
    backoff_max_seconds: float
    ingest_seconds: float

    def expected_seconds(self, provider: str, model: str, max_images: int, width: int, height: int) -> float:
        """Expected generation time of one job at ``provider``."""
        megapixel_factor = (width * height) / REFERENCE_PIXELS
        seconds = self.base_seconds + self.seconds_per_image * max_images * megapixel_factor
        return seconds * self.factors.get(provider, 1.0) * self.factors.get(model, 1.0)

    def hard_limit(self, created_at: str) -> str:
        return iso(parse_iso(created_at) + timedelta(seconds=self.job_timeout_seconds))

    def queued(self, created_at: str) -> str:
        """The deadline of a job that has not been handed to a provider yet: its hard limit."""
        return self.hard_limit(created_at)

    def submitted(self, created_at: str, submitted_at: str, provider: str, model: str, max_images: int,
                  width: int, height: int) -> str:
        """The first deadline after a hand-off."""
        seconds = self.expected_seconds(provider, model, max_images, width, height) + self.grace_seconds
        return self._capped(created_at, parse_iso(submitted_at) + timedelta(seconds=seconds))

    def still_running(self, created_at: str, reads: int, read_at: datetime) -> str:
        """The next deadline after the ``reads``-th status read found the task still running."""
        delay = min(self.backoff_seconds * 2 ** max(reads - 1, 0), self.backoff_max_seconds)
        return self._capped(created_at, read_at + timedelta(seconds=delay))

    def ingesting(self, created_at: str, recorded_at: datetime) -> str:
        """The deadline once a completion is recorded: time for ingest (with its retries)."""
        return self._capped(created_at, recorded_at + timedelta(seconds=self.ingest_seconds))

    def past_hard_limit(self, created_at: str, now: datetime) -> bool:
        return now >= parse_iso(self.hard_limit(created_at))

    def _capped(self, created_at: str, moment: datetime) -> str:
        return iso(min(moment, parse_iso(self.hard_limit(created_at))))
