"""Lifecycle events out (``Job Queued`` → ``Job Submitted`` → the terminal one, each once) and what a job owes its
door when it ends: the Step Functions task answer and the S3 result document."""

from __future__ import annotations

import json

import pytest

from seedream.models.messages import CompletionNotice, IngestMessage
from seedream.models.origins import Entry, EventBridgeOrigin, S3Origin
from seedream.models.views import JobDocument
from seedream.usecases.accept import accept
from seedream.usecases.finish import announce
from seedream.usecases.ingest import ingest
from seedream.usecases.submit import submit

from .usecase_helpers import BODY, FakeStates, callback, ingest_from_queue, serve_outputs, tap_events

CALLER = "arn:aws:iam::123456789012:user/alice"
DETAIL_KEYS = {"job_id", "status", "origin", "reference", "provider", "model", "outputs", "metadata", "error", "at",
               "webhook_wanted"}


def token_job(svc, **entry):
    origin = EventBridgeOrigin(event_id="e-1", source="com.example.workflows")
    return accept(svc, dict(BODY), entry=Entry(origin=origin, reference="order-7", task_token="token-7", **entry))


def cancelled(svc, job_id: str) -> None:
    """What ``cancel`` does, for a job of a door the API does not show (no door cancels one today)."""
    announce(svc, svc.store.mark_cancelled(job_id))


def succeed(svc, provider_http, job_id: str) -> None:
    assert submit(svc, job_id) == "submitted"
    outcome = callback(svc, provider_http, job_id, outputs=serve_outputs(provider_http, job_id, 2))
    assert outcome.status == "accepted" and ingest_from_queue(svc) == ["succeeded"]


def test_one_job_publishes_queued_submitted_and_succeeded_in_order_each_once(svc, provider_http, aws):
    job = accept(svc, dict(BODY), owner=CALLER)
    succeed(svc, provider_http, job.job_id)
    events = tap_events(aws, every=True)
    assert [e["detail-type"] for e in events] == ["Job Queued", "Job Submitted", "Job Succeeded"]
    record = svc.store.get(job.job_id)
    assert [e["detail"]["at"] for e in events] == [record.created_at, record.submitted_at, record.completed_at]
    for event in events:
        assert set(event["detail"]) == DETAIL_KEYS and event["source"] == "seedream.jobs"
        assert event["detail"]["origin"] == {"type": "http", "caller": CALLER} and event["detail"]["reference"] is None
    assert events[1]["detail"]["provider"] == "wavespeed" and events[2]["detail"]["outputs"] == [
        o.s3_uri for o in record.outputs]
    assert record.event_published_at
    # a redelivered ingest of a finished job publishes nothing again
    assert ingest(svc, _redelivered(svc, job.job_id)) == "skipped"
    assert tap_events(aws, every=True) == []


def _redelivered(svc, job_id) -> IngestMessage:
    """The ingest message of a callback for ``job_id`` delivered again."""
    return IngestMessage(job_id=job_id, received_at="2026-11-21T00:00:00.000Z", notice=CompletionNotice(
        provider="wavespeed", provider_task_id="pred-1", status="succeeded", provider_status="completed"))


class RefusingProgress:
    """An EventBridge client that refuses ``Job Queued``/``Job Submitted`` and passes the rest to ``events``."""

    def __init__(self, events):
        self.events = events

    def put_events(self, Entries):  # noqa: N803 - botocore's argument name
        if Entries[0]["DetailType"] in ("Job Queued", "Job Submitted"):
            raise RuntimeError("EventBridge is down")
        return self.events.put_events(Entries=Entries)


def test_a_lifecycle_event_eventbridge_refuses_does_not_fail_the_move_it_reports(svc_with, provider_http, aws):
    events = aws[0].client("events")
    svc = svc_with(provider_http, events=RefusingProgress(events))
    job = accept(svc, dict(BODY))
    succeed(svc, provider_http, job.job_id)
    assert [e["detail-type"] for e in tap_events(aws, every=True)] == ["Job Succeeded"]


def test_a_task_token_job_that_succeeds_gets_send_task_success_with_its_document(svc_with, provider_http, aws):
    svc = svc_with(provider_http, stepfunctions=(states := FakeStates()))
    job = token_job(svc)
    succeed(svc, provider_http, job.job_id)
    record = svc.store.get(job.job_id)
    [(name, arguments)] = states.calls
    assert name == "SendTaskSuccess" and arguments["taskToken"] == "token-7"
    assert json.loads(arguments["output"]) == JobDocument.of(record).model_dump(mode="json")
    assert "token-7" not in arguments["output"]
    [event] = tap_events(aws)
    assert event["detail"]["reference"] == "order-7" and event["detail"]["origin"]["type"] == "eventbridge"


@pytest.mark.parametrize("ending, code", [("provider_rejected", "provider_rejected"), ("cancelled", "job_cancelled")])
def test_a_task_token_job_that_fails_or_is_cancelled_gets_send_task_failure(svc_with, provider_http, ending, code):
    svc = svc_with(provider_http, stepfunctions=(states := FakeStates()))
    job = token_job(svc)
    if ending == "cancelled":
        cancelled(svc, job.job_id)
    else:
        provider_http.submit_status = 400
        assert submit(svc, job.job_id) == "rejected"
    record = svc.store.get(job.job_id)
    message = record.error.message if record.error else f"the job was cancelled at {record.cancelled_at}"
    assert states.calls == [("SendTaskFailure", {"taskToken": "token-7", "error": code, "cause": message})]


def test_an_answer_nobody_waits_for_any_more_is_logged_and_the_event_still_goes_out(svc_with, provider_http, aws):
    svc = svc_with(provider_http, stepfunctions=FakeStates(fail_with="TaskTimedOut"))
    job = token_job(svc)
    cancelled(svc, job.job_id)
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Cancelled"]
    assert svc.store.get(job.job_id).event_published_at


def test_an_answer_step_functions_could_not_take_is_retried_with_the_event(svc_with, provider_http, aws):
    svc = svc_with(provider_http, stepfunctions=FakeStates(fail_with="ThrottlingException"))
    job = token_job(svc)
    with pytest.raises(Exception, match="ThrottlingException"):
        cancelled(svc, job.job_id)
    record = svc.store.get(job.job_id)
    assert record.status == "cancelled" and not record.event_published_at and tap_events(aws) == []
    later = svc_with(provider_http, stepfunctions=(states := FakeStates()))  # Step Functions takes answers again
    assert ingest(later, _redelivered(svc, job.job_id)) == "skipped"  # whoever finds it unannounced announces it
    assert [c[1]["error"] for c in states.calls] == ["job_cancelled"]
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Cancelled"]


def test_an_s3_job_writes_its_document_to_results_when_it_ends(svc, provider_http):
    origin = S3Origin(bucket=svc.settings.bucket, key="requests/batch-7/cups.json", version_id="v1")
    job = accept(svc, dict(BODY), entry=Entry(origin=origin, job_id="2f0e7a4c-0000-4000-8000-000000000001"))
    succeed(svc, provider_http, job.job_id)
    stored = svc.blobs.s3.get_object(Bucket=svc.settings.bucket, Key="results/batch-7/cups.json")
    document = json.loads(stored["Body"].read())
    assert stored["ContentType"] == "application/json" and document["job_id"] == job.job_id
    assert document["status"] == "succeeded" and document["origin"] == origin.model_dump()
    assert [o["s3_uri"] for o in document["outputs"]] == [o.s3_uri for o in svc.store.get(job.job_id).outputs]
    assert all(set(o) == {"index", "s3_uri", "content_type", "bytes", "width", "height", "sha256", "size_mismatch"}
               for o in document["outputs"])
