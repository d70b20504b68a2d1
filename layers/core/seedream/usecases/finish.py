"""The terminal moves every use case shares: fail a job, or announce one that finished."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from ..errors import JobError
from ..models.records import ErrorInfo, JobRecord
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
    """Publish the job's terminal event, then note that it went out."""
    svc.need("store", "bus")
    svc.bus.job_finished(record)
    svc.store.mark_event_published(record.job_id)
