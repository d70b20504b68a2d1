"""Reconcile: the scheduled sweep over open jobs past their deadline — no job stays open forever.

Each sweep queries the sparse ``OpenJobsByDeadline`` index (never a scan) for at most
``RECONCILE_BATCH`` overdue jobs and does, for each, what ``seedream.lifecycle``'s rules say
(``DeadlinePolicy.judge``): wait (an ingest holds a lease, a completion is fresh, a queued job's message can
still be there); fail it — never under a live ingest lease, and deleting any output it stored —
(``submit_failed``: its submit message is gone; ``provider_timeout`` / ``ingest_failed``: its task limit
passed); or make **one** status read at the provider (``Provider.read_status``): finished → recorded on the
job (``callback.via = "reconcile"``, in place of a recorded completion whose ingest never came) and put on
the ingest queue, the same path a callback takes; still running (or the read failed) → the next deadline,
with backoff.

A synchronous provider (ModelArk: ``synchronous`` on its adapter) has no status API. Its job is run by the generate
function, which holds a lease for its invocation (the sweep waits meanwhile). Past its deadline without a lease:
not generated yet (its message waits in the ModelArk queue) → looked at again with backoff, like a task still
running; generation begun and its invocation over (timed out or crashed) without a completion, or a completion
whose ingest never came (the URLs it carried are on no record) → given up at once, ``provider_stream_lost``, its
outputs deleted: there is nothing left to read or wait for.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from ..errors import JobError, ProviderRejected, ProviderUnavailable
from ..lifecycle import ingest_due
from ..models import TERMINAL, iso, parse_iso
from ..models.messages import IngestMessage
from ..models.records import CallbackRecord, JobRecord, ReconcileRecord
from ..providers.base import NotTerminal, read_status_of
from ..services import Services
from ..store import Conflict
from .finish import fail

logger = Logger(child=True)

OUTCOMES = ("ingest_queued", "still_running", "read_failed", "ingesting", "provider_timeout", "submit_failed",
            "ingest_failed", "waiting", "gone", "provider_stream_lost")
"""What the sweep did to a job; ``provider_reads`` counts the status reads it made."""


def reconcile(svc: Services, now: datetime | None = None) -> Counter:
    """One sweep. Returns the count of each outcome (``OUTCOMES``) and ``provider_reads``."""
    svc.need("store", "blobs", "queues", "bus", "providers")
    now = now or datetime.now(UTC)
    counts: Counter = Counter()
    for job_id in svc.store.overdue(iso(now), svc.settings.reconcile_batch):
        outcome, read = reconcile_job(svc, job_id, now)
        counts[outcome] += 1
        if read:
            counts["provider_reads"] += read
    if counts:
        logger.info("reconciled", extra={"outcomes": dict(counts)})
    return counts


def reconcile_job(svc: Services, job_id: str, now: datetime) -> tuple[str, int]:
    """Reconcile one overdue job; returns ``(outcome, provider reads made)``."""
    record = svc.store.find(job_id)
    if record is None or record.status in TERMINAL:
        return "gone", 0
    if record.deadline_at and parse_iso(record.deadline_at) > now:
        return "waiting", 0  # the index lags the table: not due after all
    policy = svc.settings.deadlines()
    clock = record.clock()
    verdict = policy.judge(clock, now)
    if verdict.action == "fail":
        return _give_up(svc, record, verdict.code), 0
    if verdict.action == "wait":
        _move(svc, record, verdict.deadline_at)
        return ("ingesting" if clock.lease_until or clock.completion_at else "waiting"), 0
    if verdict.action == "gone":
        return "gone", 0
    submitted_at = record.submitted_at or record.created_at
    reads = record.reconcile.reads + 1
    if getattr(svc.providers[record.provider], "synchronous", False):
        return _synchronous(svc, record, now, reads), 0
    try:
        notice = read_status_of(svc.providers[record.provider], record.provider_task_id, record.provider_urls)
    except NotTerminal as status:
        _move(svc, record, policy.still_running(submitted_at, reads, now), ReconcileRecord(
            reads=reads, last_read_at=iso(now), last_provider_status=str(status)))
        return "still_running", 1
    except (ProviderUnavailable, ProviderRejected) as exc:
        logger.warning("status read failed", extra={"job_id": job_id, "provider": record.provider, "code": exc.code})
        _move(svc, record, policy.still_running(submitted_at, reads, now), ReconcileRecord(
            reads=reads, last_read_at=iso(now), last_provider_status=f"read failed: {exc.code}"))
        return "read_failed", 1
    callback = CallbackRecord(received_at=iso(now), provider_status=notice.provider_status,
                              provider_task_id=notice.provider_task_id, via="reconcile")
    stale = clock.completion_at  # a completion recorded whose ingest never came: this one replaces it
    try:
        svc.store.record_completion(job_id, callback, ingest_due(policy.ingesting(now), notice.outputs_expire_at),
                                    ReconcileRecord(
            reads=reads, last_read_at=iso(now), last_provider_status=notice.provider_status), replacing=stale)
    except Conflict:
        return "gone", 1  # finished, or a callback got there first
    svc.queues.send_ingest(IngestMessage(job_id=job_id, notice=notice, received_at=callback.received_at))
    logger.info("completion found by the sweep", extra={"job_id": job_id, "provider": record.provider,
                                                        "provider_status": notice.provider_status,
                                                        "replaced": stale})
    return "ingest_queued", 1


def _synchronous(svc: Services, record: JobRecord, now: datetime, reads: int) -> str:
    """An overdue job at a provider without a status API, no lease on it (module docstring)."""
    if record.generation_started_at is None:
        _move(svc, record, svc.settings.deadlines().still_running(record.submitted_at or record.created_at, reads, now),
              ReconcileRecord(reads=reads, last_read_at=iso(now), last_provider_status="waiting for the generate function"))
        return "still_running"
    what = ("its completion was recorded but never ingested" if record.callback is not None
            else "its generate invocation ended without a completion (timed out or crashed)")
    error = JobError(f"{record.provider} generation {record.provider_task_id} begun at {record.generation_started_at} "
                     f"is lost: {what}; {record.provider} has no task API to read it back", code="provider_stream_lost")
    return error.code if fail(svc, record.job_id, error, unleased=True) else "gone"


def _give_up(svc: Services, record: JobRecord, code: str) -> str:
    """Fail the job with ``code`` unless an ingest took a lease on it meanwhile; its outputs go with it."""
    policy = svc.settings.deadlines()
    if code == "submit_failed":
        last = record.attempts[-1].message if record.attempts else "it was never handed to a provider"
        error = JobError(f"its submit message was not received within {policy.queue_retention_seconds:.0f} s of being "
                         f"sent at {record.enqueued_at or record.created_at} (expired or lost); last error: {last}",
                         code=code)
    elif code == "ingest_failed":
        error = JobError(f"the outputs were not stored within {policy.task_timeout_seconds:.0f} s of the hand-off; "
                         f"last error: {(record.callback.ingest_error if record.callback else None) or 'none recorded'}",
                         code=code)
    else:
        error = JobError(f"{record.provider} did not finish task {record.provider_task_id} within "
                         f"{policy.task_timeout_seconds:.0f} s of the hand-off ({record.reconcile.reads} status read(s), "
                         f"last: {record.reconcile.last_provider_status})", code=code)
    return error.code if fail(svc, record.job_id, error, unleased=True) else "gone"


def _move(svc: Services, record: JobRecord, deadline_at: str, reconcile: ReconcileRecord | None = None) -> None:
    try:
        svc.store.set_deadline(record.job_id, deadline_at, reconcile)
    except Conflict:
        pass  # finished meanwhile
