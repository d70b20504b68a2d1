"""Outputs a provider deletes early (Replicate: an hour after the prediction completed): ingest never fetches past
``outputs_expire_at``, fails the job ``outputs_expired`` and keeps nothing; the ingest deadline is brought forward
to it. The notice is what any adapter hands over; the job is a WaveSpeed one of the unit fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seedream.errors import OutputUnavailable
from seedream.lifecycle import ingest_due, outputs_expired
from seedream.models import iso
from seedream.models.messages import CompletionNotice, IngestMessage
from seedream.usecases.ingest import ingest

from .usecase_helpers import BODY, callback, output_keys, serve_outputs, submitted_job, tap_events


def message(job_id: str, task_id: str, urls: list[str], expire_in: float) -> IngestMessage:
    expires = iso(datetime.now(UTC) + timedelta(seconds=expire_in))
    return IngestMessage(job_id=job_id, received_at=iso(datetime.now(UTC)), notice=CompletionNotice(
        provider="wavespeed", provider_task_id=task_id, status="succeeded", provider_status="completed",
        output_urls=urls, outputs_expire_at=expires))


def test_past_the_expiry_nothing_is_fetched_and_the_job_fails_outputs_expired(svc, provider_http, aws):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    assert ingest(svc, message(job.job_id, provider_http.submits[-1]["task_id"], urls, -1)) == "failed"
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "outputs_expired"
    assert "deleted the outputs" in record.error.message and "submit the job again" in record.error.message
    assert provider_http.output_gets == {} and output_keys(svc, job.job_id) == []
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Failed"]


def test_a_retry_after_the_expiry_deletes_what_the_first_try_stored(svc, provider_http, aws):
    job = submitted_job(svc, BODY | {"max_images": 3})
    urls = serve_outputs(provider_http, job.job_id, 3)
    task_id = provider_http.submits[-1]["task_id"]
    assert callback(svc, provider_http, job.job_id, outputs=urls).status == "accepted"  # a completion recorded
    provider_http.output_status[f"/{job.job_id}/1.png"] = 503
    with pytest.raises(OutputUnavailable):  # before the expiry: a transient failure is retried
        ingest(svc, message(job.job_id, task_id, urls, 3600))
    assert len(output_keys(svc, job.job_id)) == 2 and svc.store.get(job.job_id).status == "submitted"
    assert ingest(svc, message(job.job_id, task_id, urls, -1)) == "failed"  # the retry comes after it
    record = svc.store.get(job.job_id)
    assert record.error.code == "outputs_expired" and output_keys(svc, job.job_id) == []  # never half-stored


def test_an_output_answering_4xx_before_the_expiry_keeps_its_own_code(svc, provider_http):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 1)
    provider_http.output_status[f"/{job.job_id}/0.png"] = 404
    assert ingest(svc, message(job.job_id, provider_http.submits[-1]["task_id"], urls, 3600)) == "failed"
    assert svc.store.get(job.job_id).error.code == "output_gone"


def test_within_the_expiry_the_outputs_are_stored():
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert not outputs_expired("2026-12-04T12:00:00.001Z", now) and outputs_expired("2026-12-04T12:00:00.000Z", now)
    assert not outputs_expired(None, now)


def test_the_ingest_deadline_is_brought_forward_to_the_expiry_never_back():
    assert ingest_due("2026-12-04T12:15:00.000Z", "2026-12-04T12:10:00.000Z") == "2026-12-04T12:10:00.000Z"
    assert ingest_due("2026-12-04T12:15:00.000Z", "2026-12-04T13:00:00.000Z") == "2026-12-04T12:15:00.000Z"
    assert ingest_due("2026-12-04T12:15:00.000Z", None) == "2026-12-04T12:15:00.000Z"
