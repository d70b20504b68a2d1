"""The moves every use case shares: fail a job, announce one that finished, tell that one moved on.

Terminal events (``Job Succeeded``/``Failed``/``Cancelled``) go out exactly once: ``announce`` notes
``event_published_at`` after them, and whoever finds a finished job without it announces again.
``Job Queued`` and ``Job Submitted`` are best effort (``progressed``): a failure to publish one is logged
and never fails or repeats the move it reports.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from ..errors import JobError
from ..models.records import ErrorInfo, JobRecord
from ..replies import owes_reply
from ..services import Services
from ..store import Conflict

logger = Logger(child=True)


def fail(svc: Services, job_id: str, error: JobError, extra: dict | None = None) -> bool:
    """Move an open job to ``failed`` with ``error`` and announce it. False if it had already finished."""
    svc.need("store", "bus")
    try:
        record = svc.store.mark_failed(job_id, ErrorInfo(code=error.code, message=error.message), extra)
    except Conflict:
        return False
    announce(svc, record)
    logger.info("job failed", extra={"job_id": job_id, "code": error.code})
    return True


def announce(svc: Services, record: JobRecord) -> None:
    """Tell the job's door it finished (``replies``: the Step Functions task token, ``results/<name>.json``),
    publish its terminal event, then note that it went out."""
    svc.need("store", "bus")
    if owes_reply(record):
        svc.need("replies").replies.job_finished(record)
    svc.bus.job_finished(record)
    svc.store.mark_event_published(record.job_id)


def progressed(svc: Services, record: JobRecord) -> bool:
    """Publish ``Job Queued`` or ``Job Submitted`` for ``record`` (as it is now); best effort: False, logged,
    when EventBridge could not take it."""
    svc.need("bus")
    try:
        svc.bus.job_event(record)
    except Exception:  # the move it reports has happened: never undo or repeat it for its event
        logger.warning("lifecycle event not published", exc_info=True,
                       extra={"job_id": record.job_id, "status": record.status})
        return False
    return True
