"""The terminal moves every use case shares: end a job, announce one that ended.

- ``fail`` moves an open job to ``failed`` and announces it; ``discard_outputs`` deletes what is under
  ``outputs/<job_id>/``, which whoever ends a job without success does (``seedream.lifecycle``).
- Terminal events (``Job Succeeded``/``Failed``/``Cancelled``) go out once: the terminal move claims the
  announcement in the same write, its maker calls ``announce``; anyone else who finds an ended job without
  ``event_published_at`` calls ``announce_unclaimed``, which announces only an abandoned claim (its holder
  died, or gave it back when its reply or event was refused).

The non-terminal events (``Job Queued``, ``Job Submitted``) are ``usecases.progress``'s.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ..errors import JobError
from ..models.records import ErrorInfo, JobRecord
from ..replies import owes_reply
from ..services import Services
from ..store import Conflict

logger = Logger(child=True)
metrics = Metrics()  # Powertools' metric set is shared per process: the function's @log_metrics flushes these


def fail(svc: Services, job_id: str, error: JobError, extra: dict | None = None, *, unleased: bool = False) -> bool:
    """Move an open job to ``failed`` with ``error``, delete any output it stored, and announce it. False if it had
    already ended (or, with ``unleased``, an ingest holds a live lease on it: the sweep's condition)."""
    svc.need("store", "bus")
    try:
        record = svc.store.mark_failed(job_id, ErrorInfo(code=error.code, message=error.message), extra,
                                       unleased=unleased)
    except Conflict:
        return False
    if may_have_outputs(record):
        discard_outputs(svc, job_id)
    announce(svc, record)
    logger.info("job failed", extra={"job_id": job_id, "code": error.code})
    return True


def may_have_outputs(record: JobRecord) -> bool:
    """True when ``record`` may have objects under ``outputs/<job_id>/``: a completion was recorded (an ingest may
    have stored some), or a streamed generation began (the generate function stores each image as it arrives)."""
    return record.callback is not None or record.generation_started_at is not None


def discard_outputs(svc: Services, job_id: str) -> None:
    """Delete every object under ``outputs/<job_id>/``: a job that did not succeed keeps no output. Keys S3 would
    not delete after its retries are logged (error, with the keys) and counted (metric ``OutputsLeftBehind``, with
    an alarm): the job has ended, so no one else will come back for them."""
    left = svc.need("blobs").blobs.delete_prefix(f"outputs/{job_id}/")
    if left:
        logger.error("outputs left behind", extra={"job_id": job_id, "keys": left[:20], "count": len(left)})
        metrics.add_metric(name="OutputsLeftBehind", unit=MetricUnit.Count, value=len(left))


def announce(svc: Services, record: JobRecord) -> None:
    """Tell the job's door it ended (``replies``: the Step Functions task token, ``results/<name>.json``),
    publish its terminal event, then note that it went out. Only the holder of the claim calls this."""
    svc.need("store", "bus")
    try:
        if owes_reply(record):
            svc.need("replies").replies.job_finished(record)
        svc.bus.job_finished(record)
    except Exception:  # not announced: let the next who finds it so (a redelivered message) try at once
        with suppress(Exception):
            svc.store.release_announcement(record.job_id)
        raise
    svc.store.mark_event_published(record.job_id)


def announce_unclaimed(svc: Services, record: JobRecord, now: datetime | None = None) -> bool:
    """Announce an ended job whose event never went out, if its claim was abandoned (older than
    ``ANNOUNCE_CLAIM_SECONDS``) and this caller wins the new claim. True when it announced."""
    if record.event_published_at:
        return False
    stale_before = svc.settings.deadlines().announce_stale_before(now or datetime.now(UTC))
    if not svc.store.claim_announcement(record.job_id, stale_before):
        return False
    announce(svc, record)
    return True
