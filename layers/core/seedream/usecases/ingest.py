"""Ingest a finished job: store its outputs in S3 and move it to ``succeeded`` or ``failed``.

The provider is held to the request: outputs beyond ``max_images`` are never stored (counted on the
job as ``outputs_dropped``), and an output whose pixel size is not the requested ``W*H`` is kept but
flagged (``size_mismatch`` on the output; the ingest function counts ``OutputSizeMismatch``) — a
provider may legitimately round a size, so a mismatch is news, not a failure. NSFW flags fail the
job whichever provider sends them (WaveSpeed and Atlas Cloud ``has_nsfw_contents``; evolink documents none).
Outputs a provider deletes early (``CompletionNotice.outputs_expire_at``: Replicate's hour) are never fetched past
that moment: the job fails ``outputs_expired`` instead — before a fetch, on a 4xx, or on a transient failure that a
retry could not outlive — and keeps nothing.

Resuming: each output, once streamed to S3, is recorded on the job (``stored_outputs``: size,
sha256 computed while streaming, the object's ETag, the provider task). A retried message keeps
every recorded output of the same task whose object still has that ETag and size, and fetches
only the rest. The job's ``outputs`` are set only with ``succeeded``, all at once, so a
finished job never shows a partial set; a job that fails or is cancelled keeps no objects, whoever ends
it and whenever (``seedream.lifecycle``).
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ..blobs import output_key
from ..errors import JobError, OutputRejected, OutputUnavailable, ProviderFailed, ProviderUnavailable
from ..lifecycle import outputs_expired
from ..models import TERMINAL, iso
from ..models.messages import CompletionNotice, IngestMessage
from ..models.records import JobRecord, Output, StoredOutput
from ..providers.base import NotTerminal
from ..providers.limits import estimated_cost_usd
from ..services import Services
from ..store import Conflict
from ..uploads import DOWNLOAD_CONCURRENCY
from .finish import announce, announce_unclaimed, discard_outputs, fail

logger = Logger(child=True)
metrics = Metrics()  # Powertools' metric set is shared per process: the function's @log_metrics flushes these

IngestOutcome = Literal["succeeded", "failed", "skipped", "pending"]


def ingest(svc: Services, message: IngestMessage, final_attempt: bool = False, *, lease_seconds: float = 300.0,
           lease_owner: str | None = None) -> IngestOutcome:
    """Store a finished job's outputs and finish it; publish the event. Returns the outcome.

    The job is leased to this ingest for ``lease_seconds`` (the invocation's remaining time: no ingest outlives
    it), so the sweep never fails it meanwhile (``seedream.lifecycle``). ``skipped``: unknown job, ended
    (whatever an earlier attempt stored for a job that did not succeed is deleted, and an abandoned terminal
    event is sent), or leased to another ingest; ``pending``: the provider's status API does not confirm the
    completion yet (evolink's early "completed"): it is forgotten and the job left to its deadline, not retried.
    Raises ``OutputUnavailable`` / ``ProviderUnavailable`` for transient trouble: the message is
    retried, the job stays open (a later genuine callback or the sweep may record the completion
    again), and the outputs stored so far are kept for the retry. On the ``final_attempt`` (the
    message's last receive before the DLQ) the job is first ended ``failed`` with ``ingest_failed``
    and the last error, and whatever it had stored is deleted.
    """
    svc.need("store", "blobs", "uploader", "bus", "providers", "fetcher")
    owner = lease_owner or uuid.uuid4().hex
    record = svc.store.find(message.job_id)
    if record is None:
        logger.warning("ingest for an unknown job", extra={"job_id": message.job_id})
        return "skipped"
    if record.status not in TERMINAL:
        until = iso(datetime.now(UTC) + timedelta(seconds=lease_seconds))
        try:
            record = svc.store.take_lease(record.job_id, owner, until)
        except Conflict as conflict:
            if conflict.current is None or conflict.current.status not in TERMINAL:
                logger.info("another ingest holds the job", extra={"job_id": message.job_id})
                return "skipped"
            record = conflict.current
    if record.status in TERMINAL:
        _ended(svc, record)
        return "skipped"
    try:
        return _ingest(svc, record, message.notice, owner)
    except (OutputUnavailable, ProviderUnavailable) as exc:
        _ingest_failed(svc, record, exc, final_attempt)
        raise
    except Exception:  # anything else: give the lease back so the message's retry can take it at once
        with suppress(Exception):
            svc.store.release_lease(record.job_id, owner)
        raise


def _ended(svc: Services, record: JobRecord) -> None:
    """An ingest found its job ended: nothing of a job that did not succeed stays in S3; an abandoned terminal
    event goes out."""
    if record.status != "succeeded":
        discard_outputs(svc, record.job_id)
    announce_unclaimed(svc, record)


def _ingest(svc: Services, record: JobRecord, notice: CompletionNotice, owner: str) -> IngestOutcome:
    provider = svc.providers[notice.provider]
    try:
        notice = provider.resolve(notice)
    except NotTerminal as status:
        recheck = svc.settings.deadlines().still_running(record.submitted_at or record.created_at, 1, datetime.now(UTC))
        with suppress(Conflict):
            svc.store.release_completion(record.job_id, recheck)
        logger.info("completion not confirmed by the provider yet", extra={"job_id": record.job_id,
                                                                           "provider_status": str(status)})
        return "pending"
    extra = {"provider_task_id": notice.provider_task_id, "provider": notice.provider}
    if notice.status == "failed":
        return _failed(svc, record.job_id, ProviderFailed(
            f"{notice.provider} reported {notice.provider_status}: {notice.error_message or 'no message'}"), extra)
    if any(notice.nsfw):
        flagged = [i for i, flag in enumerate(notice.nsfw) if flag]
        return _failed(svc, record.job_id, ProviderFailed(
            f"{notice.provider} flagged output(s) {flagged} as NSFW; nothing was stored"), extra)
    if not notice.output_urls:
        return _failed(svc, record.job_id, ProviderFailed(
            f"{notice.provider} reported {notice.provider_status} with no outputs"), extra)
    if len(notice.output_urls) > record.request.max_images:  # the provider is held to the request
        dropped = len(notice.output_urls) - record.request.max_images
        logger.warning("provider sent more outputs than asked for; the extra ones are not stored",
                       extra={"job_id": record.job_id, "asked": record.request.max_images, "sent": len(notice.output_urls)})
        notice = replace(notice, output_urls=notice.output_urls[:record.request.max_images],
                         nsfw=notice.nsfw[:record.request.max_images])
        extra["outputs_dropped"] = dropped
        metrics.add_metric(name="OutputsDropped", unit=MetricUnit.Count, value=dropped)
    if expired := _expiry(notice):  # nothing is fetched past the provider's deletion of its outputs
        return _failed(svc, record.job_id, expired, extra)
    try:
        outputs = store_outputs(svc, record, notice)
    except OutputRejected as exc:  # a 4xx past the expiry is the deletion, said as such
        return _failed(svc, record.job_id, _expiry(notice) or exc, extra)
    except OutputUnavailable:
        if expired := _expiry(notice):  # a retry could only find them deleted
            return _failed(svc, record.job_id, expired, extra)
        raise
    except Conflict:  # the job ended while its outputs were being stored (every upload has finished by now)
        _ended_meanwhile(svc, record.job_id)
        return "skipped"
    # a provider that reports what it made and bills (ModelArk's usage.generated_images) is taken at its word
    produced = len(outputs) if notice.generated_images is None else notice.generated_images
    cost = estimated_cost_usd(provider.limits(record.model), record.request.max_images, produced)
    try:
        finished = svc.store.mark_succeeded(record.job_id, outputs, extra | {"estimated_cost_usd": cost},
                                            lease_owner=owner)
    except Conflict:
        _ended_meanwhile(svc, record.job_id)
        return "skipped"
    announce(svc, finished)
    logger.info("job succeeded", extra={"job_id": record.job_id, "outputs": len(outputs)})
    return "succeeded"


def _expiry(notice: CompletionNotice) -> OutputRejected | None:
    """``outputs_expired`` once the provider has deleted the notice's outputs (``lifecycle.outputs_expired``), else None."""
    if not outputs_expired(notice.outputs_expire_at, datetime.now(UTC)):
        return None
    return OutputRejected(f"{notice.provider} deleted the outputs of task {notice.provider_task_id} at "
                          f"{notice.outputs_expire_at} (it keeps them for a limited time after the task completed) "
                          "before they were stored; nothing was kept: submit the job again", code="outputs_expired")


def _ended_meanwhile(svc: Services, job_id: str) -> None:
    """The job was cancelled (or failed) while this ingest wrote its outputs: what it wrote goes."""
    current = svc.store.find(job_id)
    if current is not None and current.status in TERMINAL:
        _ended(svc, current)


def _ingest_failed(svc: Services, record: JobRecord, exc: JobError, final_attempt: bool) -> None:
    """A transient failure: noted on the recorded completion (the lease ends), or (last receive) the end of the job."""
    if final_attempt:
        fail(svc, record.job_id, JobError(f"the outputs could not be stored after "
                                          f"{svc.settings.ingest_max_receives} tries; last error: {exc.message}",
                                          code="ingest_failed"))
        return
    with suppress(Conflict):
        svc.store.note_ingest_failure(record.job_id, exc.message)


def store_outputs(svc: Services, record: JobRecord, notice: CompletionNotice) -> list[Output]:
    """Every output of ``notice`` in S3 at ``outputs/{job_id}/NN.ext``, in order: kept from an earlier
    attempt when still verified, else downloaded (guarded, streamed) and recorded as stored.

    Raises ``OutputRejected`` (final) or ``OutputUnavailable`` (retry) from the first output that fails."""
    job_id, task_id = record.job_id, notice.provider_task_id
    kept = {index: stored for index, stored in kept_outputs(svc, record, task_id).items()
            if index < len(notice.output_urls)}
    if len(kept) < len(notice.output_urls):
        svc.store.open_stored_outputs(job_id)
    # Notes are written one at a time: they are small, and moto (the local stack) is not safe for
    # concurrent updates of one item (DynamoDB is).
    noting = threading.Lock()

    def one(index: int) -> Output:
        if index in kept:
            return Output(**kept[index].model_dump(include=set(Output.model_fields)))
        return store_output(svc, record, task_id, index, notice.output_urls[index], noting)

    if kept:
        logger.info("ingest resumes", extra={"job_id": job_id, "kept": sorted(kept), "total": len(notice.output_urls)})
    with ThreadPoolExecutor(max_workers=DOWNLOAD_CONCURRENCY) as pool:
        return list(pool.map(one, range(len(notice.output_urls))))


def store_output(svc: Services, record: JobRecord, task_id: str, index: int, url: str,
                 noting: threading.Lock | None = None) -> Output:
    """Download output ``url`` (guarded, streamed) to ``outputs/{job_id}/NN.ext`` and record it on the open job as
    stored (``stored_outputs``; under ``noting`` when several run at once). Raises ``OutputRejected``,
    ``OutputUnavailable``, or ``Conflict`` when the job ended meanwhile (the object is written: the caller deletes)."""
    job_id = record.job_id
    download, close = svc.fetcher.open(url)
    try:
        uri, etag = svc.uploader.upload_stream(output_key(job_id, index, download.extension), download.stream,
                                            download.content_type)
    finally:
        close()
    mismatch = (download.width, download.height) != (record.request.width, record.request.height)
    if mismatch:
        metrics.add_metric(name="OutputSizeMismatch", unit=MetricUnit.Count, value=1)
        logger.warning("output size differs from the request", extra={
            "job_id": job_id, "index": index, "asked": record.request.size,
            "got": f"{download.width}*{download.height}"})
    stored = StoredOutput(index=index, s3_uri=uri, content_type=download.content_type,
                          bytes=download.stream.bytes, width=download.width, height=download.height,
                          sha256=download.stream.sha256.hexdigest(), size_mismatch=mismatch, etag=etag,
                          provider_task_id=task_id)
    with noting or threading.Lock():
        svc.store.keep_stored_output(job_id, stored)
    return Output(**stored.model_dump(include=set(Output.model_fields)))


def kept_outputs(svc: Services, record: JobRecord, task_id: str) -> dict[int, StoredOutput]:
    """Outputs an earlier attempt stored for the same provider task whose objects still hold the
    recorded ETag and size (one ``HeadObject`` each)."""
    return {int(index): stored for index, stored in record.stored_outputs.items()
            if stored.provider_task_id == task_id and svc.uploader.holds(stored.s3_uri, stored.etag, stored.bytes)}


def _failed(svc: Services, job_id: str, error, extra: dict) -> IngestOutcome:
    return "failed" if fail(svc, job_id, error, extra) else "skipped"
