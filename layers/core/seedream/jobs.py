"""The use cases: accept a job, submit it, record its callback, ingest its outputs, show it.

Each takes a ``Services`` (AWS clients and provider adapters built once per cold start by the
handler) so tests pass moto-backed clients and a simulator. No handler is imported here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from .blobs import Blobs, output_key
from .bus import Bus
from .config import Settings
from .errors import (
    InvalidRequest,
    JobError,
    OutputRejected,
    ProviderFailed,
    ProviderRejected,
    ProviderUnavailable,
    Unauthorized,
)
from .fetch import Fetcher
from .models import (
    TERMINAL,
    Attempt,
    CompletionNotice,
    ErrorInfo,
    IngestMessage,
    Job,
    JobRequest,
    Output,
    SubmitMessage,
    dump,
    now_iso,
)
from .providers.base import NotTerminal, Provider, check_limits, estimated_cost_usd
from .store import Conflict, JobStore
from .tokens import new_token, token_hash, token_matches

logger = Logger(child=True)


@dataclass
class Services:
    settings: Settings
    store: JobStore
    blobs: Blobs
    bus: Bus
    sqs: object
    providers: Mapping[str, Provider]
    fetcher: Fetcher | None = None


# -- accept ---------------------------------------------------------------------------------
def validation_details(exc: ValidationError) -> list[dict]:
    """Pydantic errors → ``[{"field", "message"}]`` a person can act on."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"].removeprefix("Value error, ")}
        for err in exc.errors(include_url=False)
    ]


def parse_request(svc: Services, payload: object) -> tuple[JobRequest, list[str]]:
    """Validate a ``POST /v1/jobs`` body; returns the request and the providers to try, in order.

    Raises ``InvalidRequest`` (HTTP 422, code ``invalid_request``, or ``provider_limit_exceeded``
    naming the provider's documented limit).
    """
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object", http_status=400)
    try:
        request = JobRequest.model_validate(payload, context={"allow_loopback_http": svc.settings.allow_loopback_http})
    except ValidationError as exc:
        details = validation_details(exc)
        raise InvalidRequest("; ".join(f"{d['field']}: {d['message']}" for d in details), details=details) from None
    order = choose_providers(svc, request)
    for url in request.images:
        if url.startswith("s3://"):
            if not url.startswith(f"s3://{svc.settings.bucket}/"):
                raise InvalidRequest(f"{url} is not in this stack's bucket ({svc.settings.bucket})",
                                     details=[{"field": "images", "message": "s3:// URIs must name the stack's bucket"}])
            if not svc.blobs.exists(url):
                raise InvalidRequest(f"{url} does not exist", details=[{"field": "images", "message": "no such object"}])
    return request, order


def check_provider(provider: Provider, request: JobRequest) -> None:
    """Raise ``InvalidRequest`` (``provider_limit_exceeded``) if ``provider`` cannot take ``request``."""
    check_limits(provider.name, request, provider.limits(request.model))
    extra_check = getattr(provider, "check", None)  # limits a ModelLimits cannot express (evolink)
    if extra_check is not None:
        extra_check(request)


def job_price(provider: Provider, request: JobRequest) -> float:
    """Documented price in USD of ``request`` at ``provider`` if it makes all ``max_images``."""
    return estimated_cost_usd(provider.limits(request.model), request.max_images, request.max_images)


def choose_providers(svc: Services, request: JobRequest) -> list[str]:
    """The providers to try for ``request``, in order.

    A named provider: just that one (its limits checked). ``auto``: the configured preference for
    the model (``PROVIDER_PREFERENCE``), else every provider cheapest first by documented price,
    keeping those whose limits the request meets.
    """
    if request.provider != "auto":
        provider = svc.providers.get(request.provider)
        if provider is None:
            raise InvalidRequest(f"unknown provider {request.provider!r}; choose auto or one of {sorted(svc.providers)}",
                                 details=[{"field": "provider", "message": "unknown provider"}])
        check_provider(provider, request)
        return [provider.name]
    configured = [n for n in svc.settings.provider_preference.get(request.model, ()) if n in svc.providers]
    names = configured or sorted(svc.providers, key=lambda n: (job_price(svc.providers[n], request), n))
    eligible, problems = [], []
    for name in names:
        try:
            check_provider(svc.providers[name], request)
        except InvalidRequest as exc:
            problems.extend(exc.details or [])
            continue
        eligible.append(name)
    if not eligible:
        raise InvalidRequest("no provider takes this job: " + "; ".join(p["message"] for p in problems),
                             code="provider_limit_exceeded", details=problems)
    return eligible


def accept_job(svc: Services, payload: object) -> Job:
    """Validate, store the job as ``queued`` and put it on the submit queue. Returns the job.

    Raises ``InvalidRequest`` (nothing stored) or ``ProviderUnavailable`` with code
    ``queue_unavailable`` when the job cannot be enqueued (the stored job is removed again).
    """
    request, order = parse_request(svc, payload)
    stamp = now_iso()
    job = Job(job_id=str(uuid.uuid4()), status="queued", provider=order[0], model=request.model,
              request=request, metadata=request.metadata, created_at=stamp, updated_at=stamp, provider_order=order)
    svc.store.create(job)
    try:
        svc.sqs.send_message(QueueUrl=svc.settings.submit_queue_url,
                             MessageBody=SubmitMessage(job_id=job.job_id).model_dump_json())
    except Exception as exc:  # any SQS failure: leave nothing behind, tell the caller to retry
        svc.store.delete_queued(job.job_id)
        raise ProviderUnavailable(f"the job could not be queued, nothing was stored; retry: {exc}",
                                  code="queue_unavailable") from exc
    logger.info("job accepted", extra={"job_id": job.job_id, "provider": job.provider, "model": job.model})
    return job


def job_view(svc: Services, job_id: str) -> dict:
    """The job as the API shows it: stored fields plus a presigned ``url`` per output. Raises ``JobNotFound``."""
    job = svc.store.get(job_id)
    for output in job.outputs:
        output.url = svc.blobs.presign_get(output.s3_uri, svc.settings.presign_seconds)
    return dump(job)


# -- submit ---------------------------------------------------------------------------------
def callback_url(settings: Settings, provider: str, job_id: str, token: str) -> str:
    if not settings.public_base_url:
        raise JobError("PUBLIC_BASE_URL is not set: providers would have nowhere to call back", code="misconfigured")
    return f"{settings.public_base_url}/v1/webhooks/{provider}/{job_id}?token={token}"


def provider_image_urls(svc: Services, request: JobRequest) -> list[str]:
    """Source URLs as the provider receives them: ``s3://`` becomes a presigned GET URL."""
    return [svc.blobs.presign_get(u, svc.settings.presign_seconds) if u.startswith("s3://") else u
            for u in request.images]


def submit_job(svc: Services, job_id: str) -> str:
    """Hand a ``queued`` job to its providers, in order, each time with a fresh callback URL; returns the outcome.

    Outcomes: ``submitted``, ``skipped`` (not queued any more), ``rejected`` (a provider refused
    it for good: the job is ``failed`` and ``Job Failed`` is published). A 429, 5xx, timeout or
    refused connection moves on to the next provider (failover); every attempt is recorded on the
    job. When all are unavailable, raises ``ProviderUnavailable`` so the message is retried.
    """
    job = svc.store.get(job_id)
    if job.status != "queued":
        return "skipped"
    unavailable: ProviderUnavailable | None = None
    for name in job.provider_order or [job.request.provider]:
        provider = svc.providers[name]
        token = new_token()
        try:
            svc.store.arm_callback(job_id, provider.name, token_hash(token))
            images = provider_image_urls(svc, job.request)
            result = provider.submit(job.request, images, callback_url(svc.settings, provider.name, job_id, token))
        except Conflict:
            return "skipped"
        except ProviderRejected as exc:
            _add_attempt(svc, job_id, Attempt(provider=name, at=now_iso(), outcome="provider_rejected",
                                              message=exc.message))
            _fail(svc, job_id, exc)
            return "rejected"
        except ProviderUnavailable as exc:
            _add_attempt(svc, job_id, Attempt(provider=name, at=now_iso(), outcome="provider_unavailable",
                                              message=exc.message))
            logger.warning("provider unavailable", extra={"job_id": job_id, "provider": name, "code": exc.code})
            unavailable = exc
            continue
        attempt = Attempt(provider=name, at=now_iso(), outcome="submitted", provider_task_id=result.provider_task_id)
        try:
            svc.store.mark_submitted(job_id, attempt)
        except Conflict as conflict:
            # The provider's callback outran us and already finished the job: nothing left to change.
            logger.info("job moved on before it was marked submitted",
                        extra={"job_id": job_id, "status": (conflict.current or {}).get("status")})
        logger.info("job submitted", extra={"job_id": job_id, "provider": name,
                                            "provider_task_id": result.provider_task_id})
        return "submitted"
    assert unavailable is not None
    raise unavailable


def _add_attempt(svc: Services, job_id: str, attempt: Attempt) -> None:
    try:
        svc.store.add_attempt(job_id, attempt)
    except Conflict:
        pass


# -- callback -------------------------------------------------------------------------------
def record_callback(svc: Services, provider_name: str, job_id: str, token: str | None,
                    headers: Mapping[str, str], body: bytes, now: float | None = None) -> tuple[int, dict]:
    """Authenticate a provider callback, record it and put it on the ingest queue. Returns ``(http_status, body)``.

    401 (``Unauthorized``: token, signature, timestamp, key id) changes nothing. A callback for a
    job that already has one, or is finished, is answered 200 ``duplicate`` and changes nothing.
    Nothing is downloaded here.
    """
    now = time.time() if now is None else now
    item = svc.store.get_item(job_id)
    provider = svc.providers.get(provider_name)
    if item is None or provider is None or item.get("provider") != provider_name \
            or not token_matches(token, item.get("callback_token_sha256")):
        raise Unauthorized("the callback URL's token does not match this job", code="token_invalid")
    provider.verify_callback(headers, body, now)
    try:
        notice = provider.parse_callback(headers, body)
    except NotTerminal as status:
        return 200, {"status": "ignored", "reason": f"provider status {status} is not final"}
    expected_task = item.get("provider_task_id")
    if expected_task and notice.provider_task_id != expected_task:
        return 200, {"status": "ignored", "reason": "callback is for another provider task"}
    received_at = now_iso()
    try:
        svc.store.record_callback(job_id, notice, received_at)
    except Conflict:
        return 200, {"status": "duplicate"}
    try:
        svc.sqs.send_message(QueueUrl=svc.settings.ingest_queue_url,
                             MessageBody=IngestMessage(job_id=job_id, notice=notice, received_at=received_at)
                             .model_dump_json())
    except Exception:
        svc.store.forget_callback(job_id)  # let the provider's retry try again
        raise
    logger.info("callback accepted", extra={"job_id": job_id, "provider": provider_name,
                                            "provider_status": notice.provider_status})
    return 202, {"status": "accepted"}


# -- ingest ---------------------------------------------------------------------------------
def ingest(svc: Services, message: IngestMessage) -> str:
    """Store a finished job's outputs in S3 and move it to ``succeeded`` or ``failed``; publish the event.

    Outcomes: ``succeeded``, ``failed``, ``skipped`` (already finished and announced).
    Raises ``OutputUnavailable`` / ``ProviderUnavailable`` for transient trouble: the message is
    retried and the job stays ``submitted`` with no outputs recorded.
    """
    item = svc.store.get_item(message.job_id)
    if item is None:
        logger.warning("ingest for an unknown job", extra={"job_id": message.job_id})
        return "skipped"
    if item["status"] in TERMINAL:
        if not item.get("event_published_at"):
            _announce(svc, Job.model_validate(item))
        return "skipped"
    provider = svc.providers[message.notice.provider]
    notice = provider.resolve(message.notice)
    extra = {"provider_task_id": notice.provider_task_id, "provider": notice.provider}
    if notice.status == "failed":
        return _finish_failed(svc, message.job_id, ProviderFailed(
            f"{notice.provider} reported {notice.provider_status}: {notice.error_message or 'no message'}"), extra)
    if any(notice.nsfw):
        flagged = [i for i, flag in enumerate(notice.nsfw) if flag]
        return _finish_failed(svc, message.job_id, ProviderFailed(
            f"{notice.provider} flagged output(s) {flagged} as NSFW; nothing was stored"), extra)
    if not notice.output_urls:
        return _finish_failed(svc, message.job_id, ProviderFailed(
            f"{notice.provider} reported {notice.provider_status} with no outputs"), extra)
    try:
        outputs = store_outputs(svc, message.job_id, notice)
    except OutputRejected as exc:
        svc.blobs.delete_prefix(f"outputs/{message.job_id}/")
        return _finish_failed(svc, message.job_id, exc, extra)
    except Exception:
        svc.blobs.delete_prefix(f"outputs/{message.job_id}/")  # no partial set in S3 while the message is retried
        raise
    cost = estimated_cost_usd(provider.limits(item["model"]), item["request"]["max_images"], len(outputs))
    try:
        new = svc.store.mark_succeeded(message.job_id, outputs, extra | {"estimated_cost_usd": cost})
    except Conflict:
        return "skipped"
    _announce(svc, Job.model_validate(new))
    logger.info("job succeeded", extra={"job_id": message.job_id, "outputs": len(outputs)})
    return "succeeded"


def store_outputs(svc: Services, job_id: str, notice: CompletionNotice) -> list[Output]:
    """Download every output URL (guarded, streamed) to ``outputs/{job_id}/NN.ext``; returns the manifest."""
    if svc.fetcher is None:
        raise JobError("ingest has no fetcher configured", code="misconfigured")

    def one(indexed: tuple[int, str]) -> Output:
        index, url = indexed
        download, close = svc.fetcher.open(url)
        try:
            uri = svc.blobs.upload_stream(output_key(job_id, index, download.extension), download.stream,
                                          download.content_type)
        finally:
            close()
        return Output(index=index, s3_uri=uri, content_type=download.content_type, bytes=download.stream.bytes,
                      width=download.width, height=download.height, sha256=download.stream.sha256.hexdigest())

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, enumerate(notice.output_urls)))


def _finish_failed(svc: Services, job_id: str, error: JobError, extra: dict) -> str:
    if not _fail(svc, job_id, error, extra):
        return "skipped"
    return "failed"


def _fail(svc: Services, job_id: str, error: JobError, extra: dict | None = None) -> bool:
    try:
        new = svc.store.mark_failed(job_id, ErrorInfo(code=error.code, message=error.message), extra)
    except Conflict:
        return False
    _announce(svc, Job.model_validate(new))
    logger.info("job failed", extra={"job_id": job_id, "code": error.code})
    return True


def _announce(svc: Services, job: Job) -> None:
    svc.bus.job_finished(job)
    svc.store.mark_event_published(job.job_id)


def parse_message(body: str, model):
    """Validate a queue message body (JSON) into ``model``; raises ``InvalidRequest``."""
    try:
        return model.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise InvalidRequest(f"malformed queue message: {exc}") from exc


__all__ = ["Services", "accept_job", "ingest", "job_view", "record_callback", "submit_job"]
