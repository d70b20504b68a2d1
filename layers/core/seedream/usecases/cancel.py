"""Cancel a job that has not finished."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import JobError, JobNotFound
from ..models.messages import SubmitMessage
from ..models.records import JobRecord
from ..services import Services
from ..store import Conflict
from .finish import announce, discard_outputs, may_have_outputs
from .provider_cancel import wants_provider_cancel
from .read import owned

logger = Logger(child=True)


class JobFinished(JobError):
    """The job already finished; it cannot be cancelled. HTTP 409."""

    code = "job_finished"
    http_status = 409


def cancel(svc: Services, job_id: str, owner: str | None = None) -> JobRecord:
    """Move an open job to ``cancelled`` and publish ``Job Cancelled``; returns the job.

    A callback that arrives later is acknowledged and ignored; what an ingest stored is deleted, here, and
    by an ingest still running when it finds the job cancelled (``seedream.lifecycle``). A job handed to a
    provider that documents a cancel (fal.ai: ``PUT cancel_url``; Replicate: ``POST .../cancel``) is cancelled there
    too: this function holds no provider keys, so it queues a ``SubmitMessage(provider_cancel=True)`` for the submit
    function (``usecases.provider_cancel``); a failure there is logged and counted and never un-cancels the job.
    WaveSpeed, Atlas Cloud and evolink document no cancel call we could verify (evolink's task object shows
    ``task_info.can_cancel`` but no endpoint): their tasks run to their end. A ModelArk generation being streamed
    stops at its next event (the generate function finds the job ended, closes the connection and deletes what it
    stored). Only the job's owner may cancel it.
    Raises ``JobNotFound`` or ``JobFinished`` (409, ``job_finished``).
    """
    svc.need("store", "bus")
    owned(svc, job_id, owner)
    try:
        record = svc.store.mark_cancelled(job_id)
    except Conflict as conflict:
        if conflict.current is None:
            raise JobNotFound(f"no job with id {job_id!r}") from None
        raise JobFinished(f"job {job_id} already {conflict.current.status}; only an open job can be cancelled",
                          details={"status": conflict.current.status}) from None
    if may_have_outputs(record):  # an ingest, or a streamed generation, may have stored outputs
        discard_outputs(svc, job_id)
    announce(svc, record)
    logger.info("job cancelled", extra={"job_id": job_id})
    if wants_provider_cancel(svc, record.provider, record.provider_task_id):
        _queue_provider_cancel(svc, job_id)
    return record


def _queue_provider_cancel(svc: Services, job_id: str) -> None:
    """Hand the provider cancel to the submit function; the job is cancelled whatever happens to this message."""
    try:
        svc.need("queues").queues.send_submit(SubmitMessage(job_id=job_id, provider_cancel=True))
    except (BotoCoreError, ClientError) as exc:  # the cancel stands; the provider's task runs on, and we say so
        logger.warning("could not queue the provider cancel; the provider's task runs on",
                       extra={"job_id": job_id, "error": f"{type(exc).__name__}: {exc}"})
