"""Every job ends: the reconcile sweep, last receives of queue messages, a failed ingest retried by a
new callback, and cancel — what the table, the bucket and the bus show, and how many provider reads."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from seedream.bus import Bus
from seedream.errors import OutputUnavailable, ProviderUnavailable
from seedream.models import parse_iso
from seedream.models.messages import IngestMessage, parse
from seedream.store import JobStore
from seedream.usecases.accept import accept
from seedream.usecases.cancel import JobFinished, cancel
from seedream.usecases.finish import announce_unclaimed
from seedream.usecases.ingest import ingest
from seedream.usecases.reconcile import reconcile
from seedream.usecases.submit import submit

from .usecase_helpers import (
    BODY,
    callback,
    ingest_from_queue,
    output_keys,
    png_bytes,
    queue_bodies,
    serve_outputs,
    submitted_job,
    tap_events,
)


def after_deadline(svc, job_id, seconds: float = 1) -> datetime:
    return parse_iso(svc.store.get(job_id).deadline_at) + timedelta(seconds=seconds)


def test_open_jobs_carry_a_deadline_and_leave_the_index_when_they_finish(svc, provider_http):
    job = accept(svc, dict(BODY))
    queued = svc.store.get(job.job_id)
    assert queued.open_shard == "open" and queued.deadline_at == svc.settings.deadlines().queued(queued.created_at)
    submit(svc, job.job_id)
    submitted = svc.store.get(job.job_id)
    assert parse_iso(submitted.deadline_at) < parse_iso(queued.deadline_at)
    assert svc.store.overdue(submitted.deadline_at, 10) == [job.job_id]
    assert svc.store.overdue("2000-01-01T00:00:00.000Z", 10) == []
    cancel(svc, job.job_id)
    assert svc.store.get(job.job_id).open_shard is None
    assert svc.store.overdue("2100-01-01T00:00:00.000Z", 10) == []


def test_a_lost_callback_is_found_by_one_status_read_and_ingested_the_same_way(svc, provider_http, aws):
    job = submitted_job(svc)
    task = provider_http.submits[-1]["task_id"]
    provider_http.results[task] = {"status": "completed", "outputs": serve_outputs(provider_http, job.job_id, 2),
                                   "has_nsfw_contents": [False, False]}
    assert reconcile(svc, datetime.now(UTC)) == {}  # not due yet: no read
    counts = reconcile(svc, after_deadline(svc, job.job_id))
    assert counts == {"ingest_queued": 1, "provider_reads": 1} and provider_http.result_reads == [task]
    record = svc.store.get(job.job_id)
    assert record.callback.via == "reconcile" and record.reconcile.reads == 1
    assert ingest_from_queue(svc) == ["succeeded"]
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Succeeded"]
    assert len(output_keys(svc, job.job_id)) == 2


def test_a_task_still_running_is_read_again_later_and_failed_at_its_task_limit(svc, provider_http, aws):
    job = submitted_job(svc)
    first = after_deadline(svc, job.job_id)
    assert reconcile(svc, first) == {"still_running": 1, "provider_reads": 1}
    record = svc.store.get(job.job_id)
    assert record.status == "submitted" and record.reconcile.reads == 1 and parse_iso(record.deadline_at) > first
    assert reconcile(svc, first) == {}  # the next deadline is later: nothing due
    task_limit = parse_iso(record.submitted_at) + timedelta(seconds=svc.settings.task_timeout_seconds)
    assert reconcile(svc, task_limit - timedelta(seconds=1)) == {"still_running": 1, "provider_reads": 1}
    assert reconcile(svc, task_limit) == {"provider_timeout": 1}
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "provider_timeout"
    assert "2 status read(s)" in record.error.message
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Failed"]
    assert len(provider_http.result_reads) == 2


def test_a_queued_job_fails_submit_failed_only_once_its_message_has_expired(svc, aws):
    job = accept(svc, dict(BODY))
    record = svc.store.get(job.job_id)
    waiting = svc.settings.submit_message_retention_seconds + svc.settings.deadline_grace_seconds
    assert parse_iso(record.deadline_at) - parse_iso(record.created_at) == timedelta(seconds=waiting)
    assert reconcile(svc, parse_iso(record.deadline_at) - timedelta(seconds=1)) == {}
    assert reconcile(svc, parse_iso(record.deadline_at)) == {"submit_failed": 1}
    assert svc.store.get(job.job_id).error.code == "submit_failed"


def test_the_last_receive_of_a_submit_message_ends_the_job_with_the_last_error(svc, provider_http, aws):
    provider_http.submit_status = 503
    job = accept(svc, dict(BODY))
    with pytest.raises(ProviderUnavailable):
        submit(svc, job.job_id)
    assert svc.store.get(job.job_id).status == "queued"
    with pytest.raises(ProviderUnavailable):  # still raised: the message goes to the DLQ
        submit(svc, job.job_id, final_attempt=True)
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "submit_failed" and "503" in record.error.message
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Failed"]


def test_the_last_receive_of_an_ingest_message_ends_the_job_and_leaves_nothing_in_s3(svc, provider_http, aws):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    provider_http.output_status[f"/{job.job_id}/1.png"] = 503
    callback(svc, provider_http, job.job_id, outputs=urls)
    [body] = queue_bodies(svc, svc.settings.ingest_queue_url)
    message = parse(IngestMessage, json.dumps(body))
    with pytest.raises(OutputUnavailable):
        ingest(svc, message)
    assert output_keys(svc, job.job_id) == [f"outputs/{job.job_id}/00.png"]  # kept for a retry
    with pytest.raises(OutputUnavailable):
        ingest(svc, message, final_attempt=True)
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "ingest_failed" and "503" in record.error.message
    assert output_keys(svc, job.job_id) == [] and record.outputs == []
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Failed"]


def test_after_a_failed_ingest_the_providers_next_genuine_callback_is_accepted_again(svc, provider_http):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 1)
    provider_http.output_status[f"/{job.job_id}/0.png"] = 503
    assert callback(svc, provider_http, job.job_id, outputs=urls).status == "accepted"
    assert callback(svc, provider_http, job.job_id, outputs=urls).status == "duplicate"  # ingest under way
    with pytest.raises(OutputUnavailable):
        ingest_from_queue(svc)
    assert svc.store.get(job.job_id).callback.ingest_failed_at is not None
    provider_http.output_status.clear()
    assert callback(svc, provider_http, job.job_id, outputs=urls).status == "accepted"
    # the first message (still retried by SQS) and the new one: one stores, the other finds the job finished
    assert sorted(ingest_from_queue(svc)) == ["skipped", "succeeded"]
    assert callback(svc, provider_http, job.job_id, outputs=urls).status == "duplicate"  # finished


def test_cancel_ends_an_open_job_once_and_a_later_callback_stores_nothing(svc, provider_http, aws):
    job = submitted_job(svc)
    cancelled = cancel(svc, job.job_id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    with pytest.raises(JobFinished) as again:
        cancel(svc, job.job_id)
    assert again.value.http_status == 409 and again.value.code == "job_finished"
    urls = serve_outputs(provider_http, job.job_id, 1)
    assert callback(svc, provider_http, job.job_id, outputs=urls).status == "duplicate"
    assert ingest_from_queue(svc) == [] and output_keys(svc, job.job_id) == []
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Cancelled"]


def test_cancel_while_ingest_runs_leaves_nothing_stored(svc, svc_with, provider_http):
    job = submitted_job(svc)
    callback(svc, provider_http, job.job_id, outputs=serve_outputs(provider_http, job.job_id, 1))

    class CancelledFirst(JobStore):
        """The job is cancelled (through ``svc``) just before the ingest marks it succeeded."""

        def mark_succeeded(self, job_id, *args, **kwargs):
            cancel(svc, job_id)
            return super().mark_succeeded(job_id, *args, **kwargs)

    racing = svc_with(provider_http, store=CancelledFirst(svc.store.dynamodb, svc.store.table))
    assert ingest_from_queue(racing) == ["skipped"]
    assert output_keys(svc, job.job_id) == [] and svc.store.get(job.job_id).status == "cancelled"


def test_the_sweep_never_fails_a_job_an_ingest_holds_even_past_its_task_limit(svc, provider_http, aws):
    job = submitted_job(svc)
    callback(svc, provider_http, job.job_id, outputs=serve_outputs(provider_http, job.job_id, 1))
    record = svc.store.get(job.job_id)
    late = parse_iso(record.submitted_at) + timedelta(seconds=svc.settings.task_timeout_seconds + 60)
    svc.store.take_lease(job.job_id, "ingest-1", (late + timedelta(seconds=120)).isoformat().replace("+00:00", "Z"))
    assert reconcile(svc, late) == {"ingesting": 1}
    assert svc.store.get(job.job_id).status == "submitted" and tap_events(aws) == []


def test_a_completion_whose_ingest_never_came_is_read_again_and_queued_again(svc, provider_http, aws):
    job = submitted_job(svc)
    task_id = svc.store.get(job.job_id).provider_task_id
    callback(svc, provider_http, job.job_id, outputs=serve_outputs(provider_http, job.job_id, 1))
    queue_bodies(svc, svc.settings.ingest_queue_url)  # the message is there; say it is lost (never ingested)
    svc.queues.sqs.purge_queue(QueueUrl=svc.settings.ingest_queue_url)
    provider_http.results[task_id] = {"status": "completed", "outputs": serve_outputs(provider_http, job.job_id, 1)}
    assert reconcile(svc, after_deadline(svc, job.job_id)) == {"ingest_queued": 1, "provider_reads": 1}
    assert ingest_from_queue(svc) == ["succeeded"]
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Succeeded"]


def test_the_sweep_deletes_what_an_ingest_left_when_it_fails_the_job(svc, provider_http, aws):
    job = submitted_job(svc)
    callback(svc, provider_http, job.job_id, outputs=serve_outputs(provider_http, job.job_id, 1))
    svc.uploader.upload_stream(f"outputs/{job.job_id}/00.png", io.BytesIO(png_bytes()), "image/png")  # a dead ingest's
    record = svc.store.get(job.job_id)
    limit = parse_iso(record.submitted_at) + timedelta(seconds=svc.settings.task_timeout_seconds)
    assert reconcile(svc, limit) == {"ingest_failed": 1}
    assert output_keys(svc, job.job_id) == [] and svc.store.get(job.job_id).status == "failed"
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Failed"]


class SilentBus(Bus):
    """A bus that never gets the terminal event: its canceller is still at work, or died."""

    def job_finished(self, record) -> None:
        pass


class UnannouncedStore(JobStore):
    """A store that never records the terminal event as published."""

    def mark_event_published(self, job_id) -> None:
        pass


def cancelled_before_its_event(svc, svc_with, provider_http) -> tuple[str, IngestMessage]:
    """A job with its ingest message queued, then cancelled: the claim is taken, the event not yet out (the
    canceller is still at work, or died). Returns the job id and that ingest message."""
    job = submitted_job(svc)
    callback(svc, provider_http, job.job_id, outputs=serve_outputs(provider_http, job.job_id, 1))
    [body] = queue_bodies(svc, svc.settings.ingest_queue_url)
    canceller = svc_with(provider_http, bus=SilentBus(svc.bus.events, svc.bus.bus_name, svc.bus.source),
                         store=UnannouncedStore(svc.store.dynamodb, svc.store.table))
    cancel(canceller, job.job_id)
    return job.job_id, parse(IngestMessage, json.dumps(body))


def test_a_redelivered_ingest_of_a_job_being_announced_does_not_announce_it_again(svc, svc_with, provider_http, aws):
    _, message = cancelled_before_its_event(svc, svc_with, provider_http)
    assert ingest(svc, message) == "skipped"
    assert tap_events(aws) == []  # only the claim's holder announces


def test_an_abandoned_announcement_is_made_by_the_next_who_finds_it(svc, svc_with, provider_http, aws):
    job_id, message = cancelled_before_its_event(svc, svc_with, provider_http)
    later = datetime.now(UTC) + timedelta(seconds=svc.settings.announce_claim_seconds + 1)
    assert announce_unclaimed(svc, svc.store.get(job_id), later)
    assert not announce_unclaimed(svc, svc.store.get(job_id), later)  # once
    assert ingest(svc, message) == "skipped"
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Cancelled"]


@pytest.mark.parametrize("url", ["https://cdn.test:99999/x.png", "http://[::1/x.png", "https://[fe80::1%eth0]:x/y.png"])
def test_an_output_url_that_does_not_parse_fails_the_job_at_once(svc, provider_http, url):
    job = submitted_job(svc)
    callback(svc, provider_http, job.job_id, outputs=[url])
    assert ingest_from_queue(svc) == ["failed"]
    record = svc.store.get(job.job_id)
    assert record.error.code == "output_url_forbidden" and "does not parse" in record.error.message


def test_one_good_output_and_one_decompression_bomb_leave_nothing_in_s3(svc, provider_http):
    job = submitted_job(svc)
    good, bomb = serve_outputs(provider_http, job.job_id, 2)
    buffer = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buffer, "PNG")  # 900 megapixels in a few hundred KiB
    provider_http.outputs[bomb.removeprefix("https://cdn.test")] = buffer.getvalue()
    callback(svc, provider_http, job.job_id, outputs=[good, bomb])
    assert ingest_from_queue(svc) == ["failed"]
    assert output_keys(svc, job.job_id) == [] and svc.store.get(job.job_id).error.code == "output_too_large"
