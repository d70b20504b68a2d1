"""Submit a job: hand it to its providers in order, each time with a fresh callback URL."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools import Logger

from ..errors import JobError, ProviderRejected, ProviderUnavailable
from ..models import now_iso
from ..models.records import Attempt
from ..models.requests import JobRequest
from ..services import Services
from ..settings import Settings
from ..store import Conflict
from ..tokens import new_token, token_hash
from .finish import fail, progressed

logger = Logger(child=True)

SubmitOutcome = Literal["submitted", "skipped", "rejected"]


def callback_url(settings: Settings, provider: str, job_id: str, token: str) -> str:
    """``{PUBLIC_BASE_URL}/v1/webhooks/{provider}/{job_id}?token=…``; raises ``JobError`` (``misconfigured``)."""
    if not settings.public_base_url:
        raise JobError("PUBLIC_BASE_URL is not set: providers would have nowhere to call back", code="misconfigured")
    return f"{settings.public_base_url}/v1/webhooks/{provider}/{job_id}?token={token}"


def provider_image_urls(svc: Services, request: JobRequest) -> list[str]:
    """Source URLs as the provider receives them: ``s3://`` becomes a presigned GET URL."""
    return [svc.blobs.presign_get(u, svc.settings.presign_seconds) if u.startswith("s3://") else u
            for u in request.images]


def submit(svc: Services, job_id: str, final_attempt: bool = False) -> SubmitOutcome:
    """Hand a ``queued`` job to its providers, in order, each with a fresh callback token; returns the outcome.

    ``submitted`` (with its first deadline; ``Job Submitted`` is published, best effort); ``skipped``
    (not queued any more); ``rejected`` (a provider refused it for good: the job is ``failed`` with
    ``provider_rejected`` and ``Job Failed`` is published — unless the refusal names a limit and another
    provider is left to try). A 429,
    5xx, timeout or refused connection moves on to the next provider (failover); every attempt is
    recorded on the job. When all are unavailable, raises ``ProviderUnavailable`` so SQS retries; on
    the ``final_attempt`` (the message's last receive before the DLQ) the job is first ended
    ``failed`` with ``submit_failed`` and the last error.
    """
    svc.need("store", "blobs", "providers")
    record = svc.store.get(job_id)
    if record.status != "queued":
        return "skipped"
    unavailable: ProviderUnavailable | None = None
    order = record.provider_order or [record.request.provider]
    for name in order:
        provider = svc.providers[name]
        token = new_token()
        try:
            svc.store.arm_callback(job_id, provider.name, token_hash(token))
            images = provider_image_urls(svc, record.request)
            result = provider.submit(record.request, images, callback_url(svc.settings, provider.name, job_id, token))
        except Conflict:
            return "skipped"
        except ProviderRejected as exc:
            _add_attempt(svc, job_id, Attempt(provider=name, at=now_iso(), outcome="provider_rejected",
                                              message=exc.message))
            if exc.names_limit and name != order[-1]:
                logger.warning("provider refused a limit; trying the next", extra={"job_id": job_id, "provider": name})
                continue
            fail(svc, job_id, exc)
            return "rejected"
        except ProviderUnavailable as exc:
            _add_attempt(svc, job_id, Attempt(provider=name, at=now_iso(), outcome="provider_unavailable",
                                              message=exc.message))
            logger.warning("provider unavailable", extra={"job_id": job_id, "provider": name, "code": exc.code})
            unavailable = exc
            continue
        submitted_at = now_iso()
        attempt = Attempt(provider=name, at=submitted_at, outcome="submitted", provider_task_id=result.provider_task_id)
        request = record.request
        deadline = svc.settings.deadlines().submitted(record.created_at, submitted_at, name, request.model,
                                                      request.max_images, request.width, request.height)
        try:
            svc.store.mark_submitted(job_id, attempt, submitted_at, deadline)
        except Conflict as conflict:
            # The provider's callback outran us and already finished the job: nothing left to change.
            logger.info("job moved on before it was marked submitted",
                        extra={"job_id": job_id, "status": conflict.current.status if conflict.current else None})
        else:
            progressed(svc, record.model_copy(update={
                "status": "submitted", "provider": name, "provider_task_id": result.provider_task_id,
                "submitted_at": submitted_at, "updated_at": submitted_at}))
        logger.info("job submitted", extra={"job_id": job_id, "provider": name,
                                            "provider_task_id": result.provider_task_id})
        return "submitted"
    assert unavailable is not None
    if final_attempt:
        tried = len(order)
        fail(svc, job_id, JobError(f"no provider took the job on the last try ({tried} provider(s) each time); "
                                   f"last error: {unavailable.message}", code="submit_failed"))
    raise unavailable


def _add_attempt(svc: Services, job_id: str, attempt: Attempt) -> None:
    try:
        svc.store.add_attempt(job_id, attempt)
    except Conflict:
        pass
