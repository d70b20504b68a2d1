"""Reconcile: the scheduled sweep over open jobs past their deadline — no job stays open forever.

Each sweep queries the sparse ``OpenJobsByDeadline`` index (never a scan) for at most
``RECONCILE_BATCH`` overdue jobs and, for each, does one thing (rules in ``seedream.deadlines``):

- past the hard limit (``JOB_TIMEOUT_SECONDS`` after creation): ``failed`` — ``submit_failed``
  (never handed to a provider: the last attempt's error), ``ingest_failed`` (a completion was
  recorded but its outputs not stored) or ``provider_timeout``;
- queued before that: its deadline *is* the hard limit, so nothing (a queued job whose messages
  are still retrying is ended by the submit message's last receive, not here);
- a completion being ingested: wait for ingest, no provider read;
- otherwise **one** status read at the provider (``Provider.read_status``): finished → recorded
  on the job (``callback.via = "reconcile"``) and put on the ingest queue, the same path a
  callback takes; still running (or the read failed) → the next deadline, with backoff.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from ..errors import JobError, ProviderRejected, ProviderUnavailable
from ..models import TERMINAL, iso, parse_iso
from ..models.messages import IngestMessage
from ..models.records import CallbackRecord, JobRecord, ReconcileRecord
from ..providers.base import NotTerminal
from ..services import Services
from ..store import Conflict
from .finish import fail

logger = Logger(child=True)

OUTCOMES = ("ingest_queued", "still_running", "read_failed", "ingesting", "provider_timeout", "submit_failed",
            "ingest_failed", "waiting", "gone")
"""What the sweep did to a job; ``provider_reads`` counts the status reads it made."""


def reconcile(svc: Services, now: datetime | None = None) -> Counter:
    """One sweep. Returns the count of each outcome (``OUTCOMES``) and ``provider_reads``."""
    svc.need("store", "queues", "bus", "providers")
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
    if policy.past_hard_limit(record.created_at, now):
        return _give_up(svc, record), 0
    if record.status == "queued":
        _move(svc, record, policy.queued(record.created_at))
        return "waiting", 0
    if record.callback is not None and record.callback.ingest_failed_at is None:
        _move(svc, record, policy.ingesting(record.created_at, now))
        return "ingesting", 0
    reads = record.reconcile.reads + 1
    try:
        notice = svc.providers[record.provider].read_status(record.provider_task_id)
    except NotTerminal as status:
        _move(svc, record, policy.still_running(record.created_at, reads, now), ReconcileRecord(
            reads=reads, last_read_at=iso(now), last_provider_status=str(status)))
        return "still_running", 1
    except (ProviderUnavailable, ProviderRejected) as exc:
        logger.warning("status read failed", extra={"job_id": job_id, "provider": record.provider, "code": exc.code})
        _move(svc, record, policy.still_running(record.created_at, reads, now), ReconcileRecord(
            reads=reads, last_read_at=iso(now), last_provider_status=f"read failed: {exc.code}"))
        return "read_failed", 1
    callback = CallbackRecord(received_at=iso(now), provider_status=notice.provider_status,
                              provider_task_id=notice.provider_task_id, via="reconcile")
    try:
        svc.store.record_completion(job_id, callback, policy.ingesting(record.created_at, now), ReconcileRecord(
            reads=reads, last_read_at=iso(now), last_provider_status=notice.provider_status))
    except Conflict:
        return "gone", 1  # finished, or a callback got there first
    svc.queues.send_ingest(IngestMessage(job_id=job_id, notice=notice, received_at=callback.received_at))
    logger.info("completion found by the sweep", extra={"job_id": job_id, "provider": record.provider,
                                                        "provider_status": notice.provider_status})
    return "ingest_queued", 1


def _give_up(svc: Services, record: JobRecord) -> str:
    timeout = svc.settings.job_timeout_seconds
    if record.status == "queued":
        last = record.attempts[-1].message if record.attempts else "it was never handed to a provider"
        error = JobError(f"the job was not handed to a provider within {timeout:.0f} s; last error: {last}",
                         code="submit_failed")
    elif record.callback is not None:
        error = JobError(f"the outputs were not stored within {timeout:.0f} s; last error: "
                         f"{record.callback.ingest_error or 'none recorded'}", code="ingest_failed")
    else:
        error = JobError(f"{record.provider} did not finish task {record.provider_task_id} within {timeout:.0f} s "
                         f"({record.reconcile.reads} status read(s), last: {record.reconcile.last_provider_status})",
                         code="provider_timeout")
    fail(svc, record.job_id, error)
    return error.code


def _move(svc: Services, record: JobRecord, deadline_at: str, reconcile: ReconcileRecord | None = None) -> None:
    try:
        svc.store.set_deadline(record.job_id, deadline_at, reconcile)
    except Conflict:
        pass  # finished meanwhile
