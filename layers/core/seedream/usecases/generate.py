"""Generate: run a job at a synchronous provider (BytePlus ModelArk), holding the connection for the generation.

ModelArk has no callback and no task API: its ``POST /api/v3/images/generations`` with ``stream: true`` answers
with one SSE event per image as it is made, then ``image_generation.completed`` (``usage.generated_images``) and
``[DONE]`` (``providers.modelark``). The generate function (its own ModelArk queue, one job per invocation) does:

1. **Claim** the job's one generation (``generation_started_at``, with a lease until the invocation's end, so the
   sweep waits). A redelivered message of a lost invocation finds it claimed and stops: a generation is never
   made, and billed, twice; the sweep ends that job (``provider_stream_lost``, ``usecases.reconcile``).
2. **Stream**: each ``image_generation.partial_succeeded`` is an output handed to ingest's own store step
   (``ingest.store_output``: guarded download, streamed upload, recorded in ``stored_outputs``) as it arrives, our
   output index in arrival order; an output beyond ``max_images`` is not stored. An image the content filter
   refused (``image_generation.partial_failed``) leaves the others. A job found ended (cancelled) at an event
   stops the stream (the connection is closed) and what this invocation wrote is deleted.
3. **Complete**: at ``completed`` + ``[DONE]`` the completion (``via="stream"``, the output URLs, the
   ``generated_images`` billed) is recorded on the job and put on the ingest queue, the path a webhook's takes;
   ingest keeps every output already stored (verified by ETag) and fetches any the stream step could not, then
   ends the job ``succeeded``, its cost from ``generated_images``.

**A cut stream** (dropped connection, silence past ``MODELARK_READ_TIMEOUT_SECONDS``, an ``error`` event, no
``completed``/``[DONE]``) is a provider failure, not the model choosing fewer images: ``max_images`` is a maximum
the model reports against in ``completed``, and without it we cannot tell "fewer" from "broken". The job ends
``failed`` (``provider_stream_cut``) and the outputs stored so far are deleted — a failed job keeps nothing, never
a half-stored set. A request refused for now before the stream began (429 with ``Retry-After``, 5xx, unreachable)
is queued again with a delay, at most ``MODELARK_MAX_ATTEMPTS`` tries in all (then ``submit_failed``); a 4xx fails
the job (``provider_rejected``).
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Literal

from aws_lambda_powertools import Logger

from ..errors import JobError, OutputRejected, OutputUnavailable, ProviderFailed, ProviderRejected, ProviderUnavailable
from ..models import TERMINAL, iso, now_iso
from ..models.messages import CompletionNotice, GenerateMessage, IngestMessage
from ..models.records import CallbackRecord, JobRecord
from ..providers.modelark import StreamCut
from ..services import Services
from ..store import Conflict
from .finish import discard_outputs, fail
from .ingest import store_output
from .submit import provider_image_urls, throttle_delay

logger = Logger(child=True)

GenerateOutcome = Literal["completed", "failed", "skipped", "cancelled", "retrying"]


class JobEnded(Exception):
    """The job ended (cancelled, or failed by someone else) while its generation streamed."""


def generate(svc: Services, message: GenerateMessage, *, lease_seconds: float = 900.0,
             owner: str | None = None) -> GenerateOutcome:
    """Run ``message``'s job at its synchronous provider (module docstring); returns the outcome.

    ``completed``: the completion is on the ingest queue; ``failed``: the job ended failed here (cut stream, refused,
    nothing generated, an output refused); ``cancelled``: the job ended while streaming (what was stored is
    deleted); ``retrying``: the provider refused for now, the job is queued again; ``skipped``: ended, not ours,
    or its generation was already started (never twice). ``lease_seconds``: the invocation's remaining time."""
    svc.need("store", "blobs", "uploader", "bus", "providers", "fetcher", "queues")
    owner = owner or uuid.uuid4().hex
    record = svc.store.find(message.job_id)
    if record is None or record.status in TERMINAL or record.provider not in svc.providers:
        return "skipped"
    provider = svc.providers[record.provider]
    until = iso(datetime.now(UTC) + timedelta(seconds=lease_seconds))
    try:
        record = svc.store.start_generation(record.job_id, owner, until, now_iso())
    except Conflict as conflict:
        logger.warning("generation already started or job ended; not generated again",
                       extra={"job_id": message.job_id, "status": conflict.current.status if conflict.current else None})
        return "skipped"
    try:
        return _stream(svc, provider, record, message, owner)
    except JobEnded:
        discard_outputs(svc, record.job_id)
        logger.info("job ended while its generation streamed; stream closed", extra={"job_id": record.job_id})
        return "cancelled"
    except (StreamCut, ProviderRejected, ProviderFailed, OutputRejected) as exc:
        return _failed(svc, record, exc)
    except ProviderUnavailable as exc:
        return _again(svc, record, message, owner, exc)


def _stream(svc: Services, provider, record: JobRecord, message: GenerateMessage, owner: str) -> GenerateOutcome:
    urls: list[str] = []
    refused: list[str] = []
    dropped = 0
    generated = None
    events = provider.stream(record.request, provider_image_urls(svc, record.request))
    try:
        for event in events:
            if event.kind == "image":
                if len(urls) >= record.request.max_images:  # the provider is held to the request
                    dropped += 1
                    continue
                urls.append(event.url)
                _store(svc, record, message.provider_task_id, len(urls) - 1, event.url)
            elif event.kind == "image_failed":
                refused.append(f"image {event.index}: {event.error}")
            elif event.kind == "completed":
                generated = event.generated_images
    finally:
        events.close()  # a job that ended, or an output refused: the connection is closed now
    if not urls:
        raise ProviderFailed(f"{provider.name} completed without an image"
                             + (f" ({'; '.join(refused)})" if refused else ""))
    notice = CompletionNotice(provider=provider.name, provider_task_id=message.provider_task_id, status="succeeded",
                              provider_status="completed", output_urls=urls, via="stream",
                              error_message="; ".join(refused)[:1000] or None,
                              generated_images=generated if generated is not None else len(urls) + dropped)
    received_at = now_iso()
    callback = CallbackRecord(received_at=received_at, provider_status="completed",
                              provider_task_id=message.provider_task_id, via="stream")
    try:
        svc.store.record_completion(record.job_id, callback, svc.settings.deadlines().ingesting(datetime.now(UTC)))
    except Conflict:
        raise JobEnded from None
    svc.store.release_lease(record.job_id, owner)  # before the message: ingest takes its own lease
    svc.queues.send_ingest(IngestMessage(job_id=record.job_id, notice=notice, received_at=received_at))
    logger.info("generation streamed", extra={"job_id": record.job_id, "outputs": len(urls), "refused": len(refused),
                                              "generated_images": notice.generated_images, "dropped": dropped})
    return "completed"


def _store(svc: Services, record: JobRecord, task_id: str, index: int, url: str) -> None:
    """Store one streamed output now; a download that fails for now is left to ingest (the URL lives 24 h). Raises
    ``OutputRejected`` (the job fails) or ``JobEnded``."""
    try:
        store_output(svc, record, task_id, index, url)
    except Conflict:
        raise JobEnded from None
    except OutputUnavailable as exc:
        logger.warning("streamed output not stored yet; ingest fetches it", extra={"job_id": record.job_id,
                                                                                  "index": index, "error": exc.message})


def _failed(svc: Services, record: JobRecord, error: JobError) -> GenerateOutcome:
    """End the job ``failed`` with ``error``; what the stream stored goes with it (``finish.fail``)."""
    if not fail(svc, record.job_id, error):
        discard_outputs(svc, record.job_id)  # it ended meanwhile: nothing this invocation wrote stays
        return "cancelled"
    return "failed"


def _again(svc: Services, record: JobRecord, message: GenerateMessage, owner: str,
           exc: ProviderUnavailable) -> GenerateOutcome:
    """The provider refused the request for now (before any image): queue the job again with a delay, or, after
    ``MODELARK_MAX_ATTEMPTS`` tries, fail it ``submit_failed``."""
    tries = svc.settings.modelark_max_attempts
    if message.attempt >= tries:
        return _failed(svc, record, JobError(f"{record.provider} did not take the job in {tries} tries; last error: "
                                             f"{exc.message}", code="submit_failed"))
    svc.store.release_generation(record.job_id, owner)
    delay = throttle_delay(message.attempt - 1, [exc.retry_after] if exc.retry_after is not None else [])
    svc.queues.send_generate(GenerateMessage(job_id=record.job_id, provider_task_id=message.provider_task_id,
                                             attempt=message.attempt + 1), delay_seconds=round(delay))
    with suppress(Conflict):
        svc.store.set_deadline(record.job_id, _retry_deadline(svc, record, delay))
    logger.warning("provider refused for now; generation queued again",
                   extra={"job_id": record.job_id, "attempt": message.attempt, "delay_seconds": round(delay),
                          "code": exc.code})
    return "retrying"


def _retry_deadline(svc: Services, record: JobRecord, delay: float) -> str:
    """The job's next deadline: the delay plus its generation time from now (within its task limit)."""
    request = record.request
    start = iso(datetime.now(UTC) + timedelta(seconds=delay))
    return svc.settings.deadlines().submitted(start, record.provider, request.model, request.max_images,
                                              request.width, request.height)
