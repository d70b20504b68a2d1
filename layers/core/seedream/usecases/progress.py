"""The non-terminal lifecycle events: ``Job Queued`` (``accept``) and ``Job Submitted`` (``submit``).

Best effort, unlike the terminal ones (``usecases.finish``): the move they report has happened and stays; a
failure to publish one is logged and never fails or repeats that move.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from ..models.records import JobRecord
from ..services import Services

logger = Logger(child=True)


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
