"""The job's lifecycle in one place: its statuses, the moves between them, and when an open job is looked
at again or given up. Pure rules (no AWS, no I/O, no clock of its own): ``store`` and ``ledger`` turn the
moves into conditional DynamoDB writes, ``usecases.reconcile`` acts on ``DeadlinePolicy.judge``.

**Statuses.** ``queued → submitted → succeeded | failed``, and ``cancelled`` from either open status
(``MOVES``). Nothing leaves a terminal status.

**Deadlines measure signs of life, not age.** Durations are seconds (``Settings``; deployed defaults in
``template.yaml``), per stage:

- *queued*: waiting in the submit queue is healthy, however long the queue. A queued job's sign of life
  is its submit message, and it is failed (``submit_failed``) only when that message is gone: by its DLQ
  outcome (its last receive ends the job, in ``usecases.submit``), or by expiry, at ``enqueued_at +
  SUBMIT_MESSAGE_RETENTION_SECONDS`` (the queue's ``MessageRetentionPeriod``) + ``DEADLINE_GRACE_SECONDS``.
  A provider's 429 is back-pressure, not a failure: the message is sent again with a delay (a new message,
  so its receives and retention start again and ``enqueued_at`` moves), for at most
  ``SUBMIT_BACKPRESSURE_MAX_SECONDS`` in all.
- *submitted*: first looked at ``submitted_at`` + expected generation time + ``DEADLINE_GRACE_SECONDS``,
  where expected = ``(DEADLINE_BASE_SECONDS + DEADLINE_SECONDS_PER_IMAGE × max_images × W×H / 2048²)`` ×
  the provider's and the model's ``DEADLINE_FACTORS``. A status read that finds the task running is a sign
  of life: the next look is ``RECONCILE_BACKOFF_SECONDS × 2^(reads − 1)`` later, at most
  ``RECONCILE_BACKOFF_MAX_SECONDS``. The job is given up (``provider_timeout``) only at its task limit,
  ``submitted_at + TASK_TIMEOUT_SECONDS``.
- *ingesting* (a completion recorded): ingest holds a lease on the job until its own invocation's end
  (``lease_until``), and the sweep never fails a job under a live lease. Without one, the sweep looks again
  ``INGEST_DEADLINE_SECONDS`` after the completion was recorded (or after the lease ended): it reads the
  status once more and queues the ingest again (its message was lost or is stuck), or, past the task
  limit, fails the job ``ingest_failed``. A completion being ingested keeps its ingest time past the limit.
  *Outputs the provider deletes early* (a notice's ``outputs_expire_at``: Replicate deletes them an hour after
  the prediction completed) bound all of this: the ingest deadline is brought forward to that moment
  (``ingest_due``), and past it (``outputs_expired``) ingest fetches nothing more and fails the job
  ``outputs_expired`` — on its first try, a retry, or the ingest the sweep queues after a status read.
- *ended*: whoever fails or cancels a job deletes what is under ``outputs/<job_id>/``, and an ingest that
  finds its job ended deletes what it wrote: a failed or cancelled job keeps no output in S3.
- *announced*: whoever moves a job to a terminal status claims its terminal event in the same write
  (``announce_claimed_at``); anyone else may announce it only when no event went out and the claim is older
  than ``ANNOUNCE_CLAIM_SECONDS`` (longer than any function runs: its claimer died). One event per job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from .clock import after, iso, parse_iso

JobStatus = Literal["queued", "submitted", "succeeded", "failed", "cancelled"]
OPEN: tuple[str, ...] = ("queued", "submitted")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

MOVES: dict[str, tuple[str, ...]] = {
    "submitted": ("queued",),
    "succeeded": ("queued", "submitted"),  # a callback may outrun submit's own update
    "failed": ("queued", "submitted"),
    "cancelled": ("queued", "submitted"),
}
"""Target status → the statuses a job may move to it from."""

REFERENCE_PIXELS = 2048 * 2048


def ingest_due(due: str, outputs_expire_at: str | None) -> str:
    """The ingest deadline ``due`` (ISO 8601), brought forward to ``outputs_expire_at`` when the provider deletes the
    outputs sooner: the sweep then looks at the job while they still exist, or the moment they are gone."""
    if outputs_expire_at and parse_iso(outputs_expire_at) < parse_iso(due):
        return iso(parse_iso(outputs_expire_at))
    return due


def outputs_expired(outputs_expire_at: str | None, now: datetime) -> bool:
    """True when the provider has deleted the outputs by ``now`` (``outputs_expire_at`` ISO 8601, None: never)."""
    return bool(outputs_expire_at) and now >= parse_iso(outputs_expire_at)


def may_move(current: str, target: str) -> bool:
    """True when a job in ``current`` may move to ``target`` (``MOVES``)."""
    return current in MOVES.get(target, ())


@dataclass(frozen=True)
class JobClock:
    """What the rules look at on one job (ISO 8601 times, as the jobs table holds them)."""

    status: str
    enqueued_at: str
    """When its current submit message was sent (created, or sent again after a 429)."""
    submitted_at: str | None = None
    completion_at: str | None = None
    """When the completion being ingested was recorded; None when none is, or its ingest failed."""
    completion_failed: bool = False
    """A completion was recorded and its ingest failed (a new one may be recorded)."""
    lease_until: str | None = None
    """The end of the running ingest's lease, if one was taken."""


class Verdict(NamedTuple):
    """``judge``'s answer: ``wait`` until ``deadline_at``; ``read_status`` at the provider; ``fail`` with
    ``code``; ``gone`` (the job has ended)."""

    action: Literal["wait", "read_status", "fail", "gone"]
    deadline_at: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class DeadlinePolicy:
    """The rules above, in seconds; built by ``Settings.deadlines()``, where the defaults live."""

    base_seconds: float
    seconds_per_image: float
    grace_seconds: float
    factors: Mapping[str, float]
    task_timeout_seconds: float
    backoff_seconds: float
    backoff_max_seconds: float
    ingest_seconds: float
    queue_retention_seconds: float
    announce_claim_seconds: float

    def expected_seconds(self, provider: str, model: str, max_images: int, width: int, height: int) -> float:
        """Expected generation time of one job at ``provider``."""
        megapixel_factor = (width * height) / REFERENCE_PIXELS
        seconds = self.base_seconds + self.seconds_per_image * max_images * megapixel_factor
        return seconds * self.factors.get(provider, 1.0) * self.factors.get(model, 1.0)

    def queued(self, enqueued_at: str) -> str:
        """A queued job's deadline: when its submit message has expired for certain."""
        return after(enqueued_at, self.queue_retention_seconds + self.grace_seconds)

    def task_limit(self, submitted_at: str) -> str:
        """When a handed-off job is given up, whatever its status reads say."""
        return after(submitted_at, self.task_timeout_seconds)

    def submitted(self, submitted_at: str, provider: str, model: str, max_images: int, width: int, height: int) -> str:
        """The first deadline after a hand-off."""
        seconds = self.expected_seconds(provider, model, max_images, width, height) + self.grace_seconds
        return self._capped(submitted_at, parse_iso(submitted_at) + timedelta(seconds=seconds))

    def still_running(self, submitted_at: str, reads: int, read_at: datetime) -> str:
        """The next deadline after the ``reads``-th status read found the task running (or could not read it)."""
        delay = min(self.backoff_seconds * 2 ** max(reads - 1, 0), self.backoff_max_seconds)
        return self._capped(submitted_at, read_at + timedelta(seconds=delay))

    def ingesting(self, recorded_at: datetime, lease_until: str | None = None) -> str:
        """The deadline of a recorded completion: time for ingest after it was recorded or its lease ended."""
        due = recorded_at + timedelta(seconds=self.ingest_seconds)
        if lease_until:
            due = max(due, parse_iso(lease_until) + timedelta(seconds=self.grace_seconds))
        return iso(due)

    def announce_stale_before(self, now: datetime) -> str:
        """A terminal event claimed before this moment and not published was abandoned by its claimer."""
        return iso(now - timedelta(seconds=self.announce_claim_seconds))

    def judge(self, job: JobClock, now: datetime) -> Verdict:
        """What the sweep does with an overdue ``job`` at ``now`` (the rules in the module docstring)."""
        if job.status in TERMINAL:
            return Verdict("gone")
        if job.lease_until and parse_iso(job.lease_until) > now:
            return Verdict("wait", self.ingesting(now, job.lease_until))  # ingest is at work
        if job.completion_at:
            due = self.ingesting(parse_iso(job.completion_at), job.lease_until)
            if now < parse_iso(due):
                return Verdict("wait", due)
            past_limit = now >= parse_iso(self.task_limit(job.submitted_at or job.enqueued_at))
            return Verdict("fail", code="ingest_failed") if past_limit else Verdict("read_status")
        if job.status == "queued":
            due = self.queued(job.enqueued_at)
            return Verdict("fail", code="submit_failed") if now >= parse_iso(due) else Verdict("wait", due)
        if now >= parse_iso(self.task_limit(job.submitted_at or job.enqueued_at)):
            return Verdict("fail", code="ingest_failed" if job.completion_failed else "provider_timeout")
        return Verdict("read_status")

    def _capped(self, submitted_at: str, moment: datetime) -> str:
        return iso(min(moment, parse_iso(self.task_limit(submitted_at))))

