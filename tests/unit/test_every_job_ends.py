"""Every job ends: the reconcile sweep, last receives of queue messages, a failed ingest retried by a
new callback, and cancel — what the table, the bucket and the bus show, and how many provider reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from seedream.errors import OutputUnavailable, ProviderUnavailable
from seedream.models import parse_iso
from seedream.models.messages import IngestMessage, parse
from seedream.usecases.accept import accept
from seedream.usecases.cancel import JobFinished, cancel
from seedream.usecases.ingest import ingest
from seedream.usecases.reconcile import reconcile
from seedream.usecases.submit import submit

from .usecase_helpers import (
    BODY,
    callback,
    ingest_from_queue,
    output_keys,
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


def test_a_task_still_running_is_read_again_later_and_failed_at_the_hard_limit(svc, provider_http, aws):
    job = submitted_job(svc)
    first = after_deadline(svc, job.job_id)
    assert reconcile(svc, first) == {"still_running": 1, "provider_reads": 1}
    record = svc.store.get(job.job_id)
    assert record.status == "submitted" and record.reconcile.reads == 1 and parse_iso(record.deadline_at) > first
    assert reconcile(svc, first) == {}  # the next deadline is later: nothing due
    hard_limit = parse_iso(record.created_at) + timedelta(seconds=svc.settings.job_timeout_seconds)
    assert reconcile(svc, hard_limit) == {"provider_timeout": 1}
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "provider_timeout"
    assert "1 status read(s)" in record.error.message
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Failed"]
    assert len(provider_http.result_reads) == 1


def test_a_job_never_handed_to_a_provider_fails_at_the_hard_limit_with_submit_failed(svc, aws):
    job = accept(svc, dict(BODY))
    record = svc.store.get(job.job_id)
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


def test_cancel_while_ingest_runs_leaves_nothing_stored(svc, provider_http, monkeypatch):
    job = submitted_job(svc)
    callback(svc, provider_http, job.job_id, outputs=serve_outputs(provider_http, job.job_id, 1))
    original = svc.store.mark_succeeded

    def cancelled_first(job_id, *args, **kwargs):
        cancel(svc, job_id)
        return original(job_id, *args, **kwargs)

    monkeypatch.setattr(svc.store, "mark_succeeded", cancelled_first)
    assert ingest_from_queue(svc) == ["skipped"]
    assert output_keys(svc, job.job_id) == [] and svc.store.get(job.job_id).status == "cancelled"
