"""The S3 and EventBridge doors' intake: the same rules and the same ``accept`` as ``POST /v1/jobs``, one job per
request, and a refusal told to the door the request came by (and nothing else made)."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest

from seedream.errors import InvalidRequest, JobNotFound, ServiceUnavailable
from seedream.models.origins import S3Origin
from seedream.models.views import JobView
from seedream.payloads import read_json
from seedream.queues import Queues
from seedream.usecases.accept import accept
from seedream.usecases.intake import Arrival, intake, read_arrival
from seedream.usecases.read import job_view
from seedream.usecases.submit import submit

from .usecase_helpers import (
    BODY,
    FakeStates,
    callback,
    ingest_from_queue,
    png_bytes,
    queue_bodies,
    serve_outputs,
    tap_events,
)

SEQUENCER = itertools.count(0x00655C7A1F00000000)


def s3_event(bucket: str, key: str, etag: str, version: str | None = None) -> dict:
    """``Object Created`` as S3 sends it to EventBridge (a new sequencer per write, as S3 gives)."""
    item = {"key": key, "size": 100, "etag": etag, "sequencer": f"{next(SEQUENCER):018X}"}
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket}, "object": item | ({"version-id": version} if version
                                                                                      else {}),
                       "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
                       "source-ip-address": "203.0.113.15", "reason": "PutObject"}}


def manifest(svc, name: str, content: bytes | dict) -> Arrival:
    """Upload ``requests/<name>.json`` and read the event S3 sends for it."""
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    key = f"requests/{name}.json"
    put = svc.blobs.s3.put_object(Bucket=svc.settings.bucket, Key=key, Body=data)
    return read_arrival(svc.settings, json.dumps(s3_event(svc.settings.bucket, key, put["ETag"].strip('"'))))


def requested(svc, detail: object, source: str = "com.example.workflows") -> Arrival:
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Job Requested", "source": source,
             "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1", "resources": [],
             "detail": detail}
    return read_arrival(svc.settings, json.dumps(event))


def api_error(svc, raw: bytes) -> dict:
    """What ``POST /v1/jobs`` answers for the body ``raw``."""
    with pytest.raises(InvalidRequest) as refused:
        accept(svc, read_json(raw), owner="arn:aws:iam::123456789012:user/api")
    return refused.value.to_body()


def results(svc) -> dict[str, dict]:
    listed = svc.blobs.s3.list_objects_v2(Bucket=svc.settings.bucket, Prefix="results/").get("Contents", [])
    return {o["Key"]: json.loads(svc.blobs.s3.get_object(Bucket=svc.settings.bucket, Key=o["Key"])["Body"].read())
            for o in listed}


def jobs(aws) -> int:
    session, resources = aws
    return session.client("dynamodb").scan(TableName=resources.names["JobsTable"], Select="COUNT")["Count"]


def nothing_made(svc, aws) -> None:
    assert jobs(aws) == 0 and queue_bodies(svc, svc.settings.submit_queue_url) == []


class DownQueues(Queues):
    """SQS refuses every submit message."""

    def send_submit(self, message):
        raise RuntimeError("SQS is down")


# -- the S3 door --------------------------------------------------------------------------------------

def test_a_manifest_is_accepted_like_post_v1_jobs_with_its_relative_images_in_its_folder(svc, aws):
    bucket = svc.settings.bucket
    svc.blobs.s3.put_object(Bucket=bucket, Key="requests/cups/front.png", Body=png_bytes())
    arrival = manifest(svc, "cups", BODY | {"images": ["front.png", "https://images.test/side.jpg"]})

    result = intake(svc, arrival)
    assert result.outcome == "accepted" and result.job_id == arrival.job_id
    record = svc.store.get(result.job_id)
    assert record.request.images == [f"s3://{bucket}/requests/cups/front.png", "https://images.test/side.jpg"]
    assert record.origin == S3Origin(bucket=bucket, key="requests/cups.json") and record.owner is None
    http = accept(svc, BODY | {"images": record.request.images}, owner="arn:aws:iam::123456789012:user/api")
    assert record.request == http.request and record.provider_order == http.provider_order  # the same rules
    assert [b["job_id"] for b in queue_bodies(svc, svc.settings.submit_queue_url)] == [result.job_id, http.job_id]
    queued = [e for e in tap_events(aws, every=True) if e["detail"]["job_id"] == result.job_id]
    assert [e["detail-type"] for e in queued] == ["Job Queued"]
    assert queued[0]["detail"]["origin"] == {"type": "s3", "bucket": bucket, "key": "requests/cups.json",
                                             "version_id": None}
    assert results(svc) == {}  # the document is written when the job ends


@pytest.mark.parametrize("case, content", [
    ("invalid_json", b'{"model": "seedream-v4.5", '),
    ("unknown_field", BODY | {"colour": "red"}),
    ("missing_image", BODY | {"images": ["missing.png"]}),
    ("outside_the_bucket", BODY | {"images": ["s3://someone-elses-bucket/cup.png"]}),
    ("over_max_images", BODY | {"max_images": 16}),
    ("over_a_provider_limit", BODY | {"images": [f"https://images.test/{i}.jpg" for i in range(11)], "max_images": 2}),
    ("not_an_object", b'["a", "list"]'),
    ("too_large", b'{"prompt": "' + b"x" * (256 * 1024) + b'"}'),
])
def test_a_refused_manifest_gets_the_apis_error_body_and_nothing_else(svc, aws, case, content):
    arrival = manifest(svc, f"refused-{case}", content)
    result = intake(svc, arrival)
    assert result.outcome == "rejected"
    raw = content if isinstance(content, bytes) else json.dumps(
        content | {"images": [f"s3://{svc.settings.bucket}/requests/refused-{case}/{i}" if "://" not in i else i
                              for i in content["images"]]}).encode()
    expected = api_error(svc, raw)
    assert results(svc) == {f"results/refused-{case}.error.json": expected}
    assert result.error == expected["error"]
    nothing_made(svc, aws)
    assert tap_events(aws, every=True) == []


@pytest.mark.parametrize("path", ["../outputs/x.png", "/etc/passwd", "a//b.png", "./a.png", ""])
def test_a_relative_image_must_stay_in_the_manifests_folder(svc, aws, path):
    result = intake(svc, manifest(svc, "escape", BODY | {"images": [path]}))
    assert result.outcome == "rejected" and result.error["details"][0]["field"] == "images.0"
    assert list(results(svc)) == ["results/escape.error.json"]
    nothing_made(svc, aws)


def test_a_redelivered_manifest_makes_one_job_and_a_job_still_queued_is_queued_again(svc, aws):
    arrival = manifest(svc, "again", BODY)
    first, second = intake(svc, arrival), intake(svc, arrival)
    assert (first.outcome, second.outcome) == ("accepted", "duplicate") and first.job_id == second.job_id
    assert jobs(aws) == 1  # the second delivery may follow a first that stopped before queueing: queued again
    assert [b["job_id"] for b in queue_bodies(svc, svc.settings.submit_queue_url)] == [first.job_id] * 2
    assert submit(svc, first.job_id) == "submitted"
    svc.queues.sqs.purge_queue(QueueUrl=svc.settings.submit_queue_url)
    assert intake(svc, arrival).outcome == "duplicate"
    assert queue_bodies(svc, svc.settings.submit_queue_url) == [] and jobs(aws) == 1


def test_a_new_upload_of_the_same_manifest_is_a_new_request(svc, aws):
    first = intake(svc, manifest(svc, "twice", BODY))
    second = intake(svc, manifest(svc, "twice", BODY | {"max_images": 3}))
    assert first.outcome == second.outcome == "accepted" and first.job_id != second.job_id and jobs(aws) == 2


def test_a_manifest_deleted_before_intake_is_ignored(svc, aws):
    arrival = manifest(svc, "gone", BODY)
    svc.blobs.s3.delete_object(Bucket=svc.settings.bucket, Key="requests/gone.json")
    assert intake(svc, arrival).outcome == "ignored"
    nothing_made(svc, aws)
    assert results(svc) == {}


# -- the EventBridge door ------------------------------------------------------------------------------

def test_a_job_requested_is_accepted_with_its_reference_and_keeps_its_task_token_out_of_sight(svc, aws):
    arrival = requested(svc, BODY | {"reference": "order-1234", "task_token": "token-1"})
    result = intake(svc, arrival)
    record = svc.store.get(result.job_id)
    assert result.outcome == "accepted" and record.reference == "order-1234" and record.task_token == "token-1"
    assert record.origin.model_dump() == {"type": "eventbridge", "event_id": arrival.origin.event_id,
                                          "source": "com.example.workflows"}
    view = JobView.of(record, lambda uri: uri).model_dump(mode="json")
    assert view["reference"] == "order-1234" and "task_token" not in json.dumps(view)
    for caller in (None, "arn:aws:iam::123456789012:user/alice"):  # no caller sees it over HTTP
        with pytest.raises(JobNotFound):
            job_view(svc, result.job_id, caller)
    [queued] = tap_events(aws, every=True)
    assert queued["detail"]["reference"] == "order-1234" and "task_token" not in json.dumps(queued)
    assert intake(svc, arrival).outcome == "duplicate" and jobs(aws) == 1


@pytest.mark.parametrize("case, detail, reference", [
    ("unknown_field", BODY | {"colour": "red", "reference": "r-1", "task_token": "t-1"}, "r-1"),
    ("over_max_images", BODY | {"max_images": 0, "reference": "r-2", "task_token": "t-1"}, "r-2"),
    ("reference_too_long", BODY | {"reference": "r" * 257, "task_token": "t-1"}, None),
    ("reference_not_text", BODY | {"reference": 12, "task_token": "t-1"}, None),
    ("too_deep", BODY | {"metadata": json.loads("[" * 16 + "]" * 16), "reference": "r-3", "task_token": "t-1"}, "r-3"),
])
def test_a_refused_job_requested_publishes_job_rejected_and_fails_its_task(svc_with, provider_http, aws, case, detail,
                                                                         reference):
    svc = svc_with(provider_http, stepfunctions=(states := FakeStates()))
    result = intake(svc, requested(svc, detail))
    assert result.outcome == "rejected"
    [rejected] = tap_events(aws, every=True)
    assert rejected["detail-type"] == "Job Rejected" and rejected["source"] == "seedream.jobs"
    assert rejected["detail"]["reference"] == reference and rejected["detail"]["job_id"] is None
    assert rejected["detail"]["error"] == result.error and rejected["detail"]["origin"]["type"] == "eventbridge"
    if case in ("unknown_field", "over_max_images"):  # the API's own error body for the same request
        body = {k: v for k, v in detail.items() if k not in ("reference", "task_token")}
        assert result.error == api_error(svc, json.dumps(body).encode())["error"]
    assert states.calls == [("SendTaskFailure", {"taskToken": "t-1", "error": result.error["code"],
                                                 "cause": result.error["message"]})]
    nothing_made(svc, aws)


def test_events_the_stack_does_not_take(svc):
    settings = svc.settings
    own = {"version": "0", "id": "e-1", "detail-type": "Job Requested", "source": "seedream.jobs", "detail": BODY,
           "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1", "resources": []}
    assert read_arrival(settings, json.dumps(own)) is None  # our own events never come back in
    assert read_arrival(settings, json.dumps(own | {"source": "x", "detail-type": "Job Wanted"})) is None
    for bucket, key in ((settings.bucket, "requests/a/b.png"), (settings.bucket, "outputs/a.json"),
                        (settings.bucket, "requests/.json"), ("another-bucket", "requests/a.json")):
        assert read_arrival(settings, json.dumps(s3_event(bucket, key, "etag"))) is None
    for garbage in ("not json", "[1, 2]", json.dumps({"id": "e-2", "detail": {}})):
        with pytest.raises(ValueError):
            read_arrival(settings, garbage)


def test_a_request_is_named_by_its_object_version_or_else_its_sequencer_and_etag(svc):
    bucket, key = svc.settings.bucket, "requests/a.json"
    versioned = read_arrival(svc.settings, json.dumps(s3_event(bucket, key, "e1", version="v1")))
    again = read_arrival(svc.settings, json.dumps(s3_event(bucket, key, "e2", version="v1")))
    assert versioned.key == again.key == f"s3://{bucket}/{key}#version=v1" and versioned.origin.version_id == "v1"
    plain = [read_arrival(svc.settings, json.dumps(s3_event(bucket, key, "e1", version="null"))) for _ in range(2)]
    assert plain[0].key != plain[1].key and plain[0].origin.version_id is None  # S3 gives each write a new sequencer


def test_on_the_last_receive_a_request_that_cannot_be_queued_is_refused_to_its_door(svc, svc_with, provider_http, aws):
    states = FakeStates()
    svc = svc_with(provider_http, stepfunctions=states, queues=DownQueues(svc.queues.sqs, submit_url=svc.queues.submit_url))
    arrival = manifest(svc, "unlucky", BODY)
    with pytest.raises(ServiceUnavailable):
        intake(svc, arrival)
    assert results(svc) == {} and jobs(aws) == 0  # retried: nothing told yet, nothing left behind
    with pytest.raises(ServiceUnavailable):
        intake(svc, arrival, final_attempt=True)
    [(key, document)] = results(svc).items()
    assert key == "results/unlucky.error.json" and document["error"]["code"] == "queue_unavailable"
    with pytest.raises(ServiceUnavailable):
        intake(svc, requested(svc, BODY | {"reference": "r-9", "task_token": "t-9"}), final_attempt=True)
    [rejected] = tap_events(aws, every=True)
    assert rejected["detail"]["error"]["code"] == "queue_unavailable" and rejected["detail"]["reference"] == "r-9"
    assert [(name, args["error"]) for name, args in states.calls] == [("SendTaskFailure", "queue_unavailable")]
    assert jobs(aws) == 0


def versioned_manifest(svc, name: str, data: bytes) -> Arrival:
    """Upload ``requests/<name>.json`` to the versioned bucket and read the event S3 sends for that version."""
    key = f"requests/{name}.json"
    put = svc.blobs.s3.put_object(Bucket=svc.settings.bucket, Key=key, Body=data)
    event = s3_event(svc.settings.bucket, key, put["ETag"].strip('"'), version=put["VersionId"])
    return read_arrival(svc.settings, json.dumps(event))


def test_a_manifest_overwritten_while_its_job_runs_is_answered_by_its_newest_version_only(svc, aws, provider_http):
    first = intake(svc, versioned_manifest(svc, "mugs", json.dumps(BODY).encode()))
    assert first.outcome == "accepted"
    assert intake(svc, versioned_manifest(svc, "mugs", b'{"model": ')).outcome == "rejected"  # replaced: invalid
    assert submit(svc, first.job_id) == "submitted"
    callback(svc, provider_http, first.job_id, outputs=serve_outputs(provider_http, first.job_id, 2))
    assert ingest_from_queue(svc) == ["succeeded"]  # the old version's job ends ...
    answers = results(svc)  # ... and the name keeps the newest version's answer alone
    assert list(answers) == ["results/mugs.error.json"] and answers["results/mugs.error.json"]["error"]["code"] == "invalid_json"


def test_the_newest_manifest_replaces_an_older_answer_of_its_name(svc, aws, provider_http):
    refused = intake(svc, versioned_manifest(svc, "bowls", b"[1, 2"))
    assert refused.outcome == "rejected" and list(results(svc)) == ["results/bowls.error.json"]
    fixed = intake(svc, versioned_manifest(svc, "bowls", json.dumps(BODY).encode()))
    assert submit(svc, fixed.job_id) == "submitted"
    callback(svc, provider_http, fixed.job_id, outputs=serve_outputs(provider_http, fixed.job_id, 2))
    assert ingest_from_queue(svc) == ["succeeded"]
    answers = results(svc)
    assert list(answers) == ["results/bowls.json"] and answers["results/bowls.json"]["status"] == "succeeded"
