"""Accept a job: validate the request, store the job ``queued``, put it on the submit queue."""

from __future__ import annotations

import uuid

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from ..errors import InvalidRequest, ServiceUnavailable
from ..models import now_iso
from ..models.messages import SubmitMessage
from ..models.origins import Entry, HttpOrigin
from ..models.records import JobRecord
from ..models.requests import JobRequest
from ..providers.selection import choose_providers, job_price
from ..services import Services
from ..store import OPEN_SHARD, Conflict
from .progress import progressed

logger = Logger(child=True)


def validation_details(exc: ValidationError) -> list[dict]:
    """Pydantic errors → ``[{"field", "message"}]`` a person can act on (at most 20: see ``errors.capped``)."""
    return [
        {"field": ".".join(str(p) for p in err["loc"])[:200] or "body",
         "message": err["msg"].removeprefix("Value error, ")[:500]}
        for err in exc.errors(include_url=False, include_input=False)[:21]
    ]


def check_request(svc: Services, payload: object) -> tuple[JobRequest, list[str]]:
    """Every rule of a ``POST /v1/jobs`` body but the existence of its ``s3://`` sources: the request and the
    providers to try, in order (what a dry run answers with).

    Raises ``InvalidRequest``: 400 when the body is not a JSON object; 422 ``invalid_request`` (with ``details``
    per field, or an ``s3://`` source outside the stack's bucket), or ``provider_limit_exceeded`` (one ``details``
    entry per broken rule, with the models and providers that take it: ``providers.selection.refusal``).
    """
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object", http_status=400)
    try:
        request = JobRequest.model_validate(payload, context={"allow_loopback_http": svc.settings.allow_loopback_http})
    except ValidationError as exc:
        details = validation_details(exc)
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise InvalidRequest(summary + more, details=details) from None
    order = choose_providers(svc.providers, svc.settings.provider_preference, request, svc.settings.enabled_providers)
    for url in request.images:
        if url.startswith("s3://") and not url.startswith(f"s3://{svc.settings.bucket}/"):
            raise InvalidRequest(f"{url} is not in this stack's bucket ({svc.settings.bucket})",
                                 details=[{"field": "images", "message": "s3:// URIs must name the stack's bucket"}])
    return request, order


def missing_sources(svc: Services, request: JobRequest) -> list[str]:
    """The request's ``s3://`` sources (all in the stack's bucket: :func:`check_request`) that do not exist; one
    HeadObject each."""
    svc.need("blobs")
    return [url for url in request.images if url.startswith("s3://") and not svc.blobs.exists(url)]


def parse_request(svc: Services, payload: object) -> tuple[JobRequest, list[str]]:
    """Validate a ``POST /v1/jobs`` body; returns the request and the providers to try, in order.

    Raises ``InvalidRequest`` as :func:`check_request`, and 422 ``invalid_request`` when an ``s3://`` source
    does not exist.
    """
    svc.need("blobs")
    request, order = check_request(svc, payload)
    missing = missing_sources(svc, request)
    if missing:
        raise InvalidRequest(f"{missing[0]} does not exist" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                             details=[{"field": "images", "message": f"no such object: {url}"} for url in missing])
    return request, order


def accept(svc: Services, payload: object, owner: str | None = None, entry: Entry | None = None) -> JobRecord:
    """Validate, store the job as ``queued`` (owned by ``owner``, the caller) and put it on the submit queue;
    publish ``Job Queued`` (best effort). Returns the stored job.

    ``entry`` is what another door adds (``usecases.intake``: its origin, reference, task token and
    deterministic job id); without it the job's origin is ``{"type": "http", "caller": owner}``.
    Raises ``InvalidRequest`` (nothing stored) or ``ServiceUnavailable`` (``queue_unavailable``)
    when the job cannot be enqueued (the stored job is removed again, so the caller can retry);
    ``store.Conflict`` when ``entry.job_id`` is already taken.
    """
    svc.need("store", "queues")
    request, order = parse_request(svc, payload)
    stamp = now_iso()
    entry = entry or Entry(origin=HttpOrigin(caller=owner))
    record = JobRecord(job_id=entry.job_id or str(uuid.uuid4()), status="queued", provider=order[0],
                       estimated_cost_usd=job_price(svc.providers[order[0]], request),
                       model=request.model, request=request, metadata=request.metadata, created_at=stamp,
                       updated_at=stamp, provider_order=order, owner=owner, open_shard=OPEN_SHARD, enqueued_at=stamp,
                       deadline_at=svc.settings.deadlines().queued(stamp), origin=entry.origin,
                       reference=entry.reference, task_token=entry.task_token,
                       webhook_messages={} if request.webhook else None)
    try:
        svc.store.create(record)
    except Conflict:
        if entry.job_id:  # a door's deterministic id: the request was taken before
            raise
        # a fresh uuid4 exists only if this very put was stored on a first try that timed out and botocore
        # retried it (seen under a 1,000-request burst on the local stack): the job is ours, go on
        logger.info("job stored by an earlier try of the same put", extra={"job_id": record.job_id})
    try:
        svc.queues.send_submit(SubmitMessage(job_id=record.job_id))
    except Exception as exc:  # any SQS failure: leave nothing behind, tell the caller to retry
        svc.store.delete_queued(record.job_id)
        raise ServiceUnavailable(f"the job could not be queued, nothing was stored; retry: {exc}") from exc
    logger.info("job accepted", extra={"job_id": record.job_id, "provider": record.provider, "model": record.model,
                                       "origin": record.origin.type})
    progressed(svc, record)
    return record
