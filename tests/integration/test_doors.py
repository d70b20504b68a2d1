"""Three ways in, on the whole local stack: an S3 upload (requests/<name>.json → the bucket's EventBridge
notification → the default bus's rule → the intake queue) and a ``Job Requested`` event on the stack's bus run
the same job as ``POST /v1/jobs``; refusals go back to their door and make nothing else; a redelivered request
makes one job; a task token is answered; and a job's lifecycle events arrive in order."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from boto3.dynamodb.conditions import Attr
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from seedream.models.records import JobRecord
from seedream.models.views import JobView

from .conftest import (
    event_for,
    event_where,
    events_of,
    item,
    queue_drained,
    queue_gone,
    stored_keys,
    untaken_events,
    wait_status,
    wait_until,
)

ASTRONAUT = (Path(__file__).resolve().parents[2] / "examples" / "astronaut.png").read_bytes()


def request(provider="wavespeed", **change) -> dict:
    return {"provider": provider, "model": "seedream-v4.5", "max_images": 2, "size": "2048*2048",
            "prompt": "Generate a series of 2 images of this astronaut, new light per panel",
            "metadata": {"door": "test"}} | change


def upload(stack, name: str, content: bytes | dict, images: dict[str, bytes] | None = None) -> tuple[str, str]:
    """Images under ``requests/<name>/``, then the manifest; returns the manifest's key and version id."""
    s3, bucket = stack.session.client("s3"), stack.name("JobsBucket")
    for relative, data in (images or {}).items():
        s3.put_object(Bucket=bucket, Key=f"requests/{name}/{relative}", Body=data, ContentType="image/png")
    key = f"requests/{name}.json"
    put = s3.put_object(Bucket=bucket, Key=key, Body=content if isinstance(content, bytes) else json.dumps(content).encode())
    return key, put["VersionId"]


def document(stack, key: str) -> dict | None:
    s3 = stack.session.client("s3")
    try:
        return json.loads(s3.get_object(Bucket=stack.name("JobsBucket"), Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def results_of(stack, name: str) -> list[str]:
    listed = stack.session.client("s3").list_objects_v2(Bucket=stack.name("JobsBucket"), Prefix=f"results/{name}")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def jobs_where(stack, field: str, value: str) -> list[dict]:
    """Job items whose ``origin.<field>`` is ``value`` (read with boto3, not with the code under test)."""
    table = stack.session.resource("dynamodb").Table(stack.name("JobsTable"))
    return table.scan(FilterExpression=Attr(f"origin.{field}").eq(value), ConsistentRead=True)["Items"]


def assert_one_job(stack, field: str, value: str) -> None:
    """Redelivered requests made exactly one job, which succeeded with one event per lifecycle step."""
    settled_intake(stack)
    [job] = jobs_where(stack, field, value)
    assert wait_status(stack, job["job_id"], "succeeded", "failed")["status"] == "succeeded"
    events = [event_for(stack, job["job_id"], every=True) for _ in range(3)]
    assert [e["detail-type"] for e in events] == ["Job Queued", "Job Submitted", "Job Succeeded"]
    assert events_of(stack, job["job_id"]) == []  # and nothing more, once every queue is drained


def requested(stack, detail: dict, source: str = "tests.workflow") -> str:
    """Put ``Job Requested`` on the stack's bus; returns its event id."""
    sent = stack.session.client("events").put_events(Entries=[{
        "EventBusName": stack.name("JobsBus"), "Source": source, "DetailType": "Job Requested",
        "Detail": json.dumps(detail)}])
    assert not sent.get("FailedEntryCount"), sent
    return sent["Entries"][0]["EventId"]


def api_answer(client, data: bytes) -> dict:
    """What ``POST /v1/jobs`` answers for the raw body ``data`` (signed like ``JobsClient``)."""
    url = f"{client.api_url}/v1/jobs"
    signed = AWSRequest(method="POST", url=url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(client.session.get_credentials(), "execute-api", client.region).add_auth(signed)
    return client.http.post(url, content=data, headers=dict(signed.headers.items())).json()


def settled_intake(stack) -> None:
    """The intake queue drained by its pump: every message handled and deleted, so all it caused has happened."""
    wait_until(lambda: queue_drained(stack, "IntakeQueue"), 30)


def test_the_s3_door_runs_a_job_and_writes_the_same_document_the_api_shows(stack, client):
    name = f"atlas-{uuid.uuid4().hex[:6]}"
    key, version = upload(stack, name, request("atlascloud", images=["astronaut.png"]), {"astronaut.png": ASTRONAUT})
    result = wait_until(lambda: document(stack, f"results/{name}.json"), 60)
    assert result["status"] == "succeeded", result["error"]
    bucket = stack.name("JobsBucket")
    job = item(stack, result["job_id"])
    assert job["origin"] == {"type": "s3", "bucket": bucket, "key": key, "version_id": version}
    assert job["request"]["images"] == [f"s3://{bucket}/requests/{name}/astronaut.png"] and "owner" not in job
    assert job["provider"] == "atlascloud" and result["provider"] == "atlascloud"
    view = JobView.of(JobRecord.stored(job), lambda uri: "https://presigned").model_dump(mode="json")
    assert result == view | {"outputs": [{k: v for k, v in o.items() if k != "url"} for o in view["outputs"]]}
    assert stored_keys(stack, result["job_id"]) == [o["s3_uri"].split("/", 3)[3] for o in result["outputs"]]
    assert results_of(stack, name) == [f"results/{name}.json"]
    # a job that came by S3 has no IAM owner: the API shows it to nobody; its document is its answer
    assert client.request("GET", f"/v1/jobs/{result['job_id']}").status_code == 404


@pytest.mark.parametrize("case, content, images", [
    ("invalid-json", b'{"model": "seedream-v4.5", "prompt": ', {}),
    ("unknown-field", request(images=["a.png"], colour="red"), {"a.png": ASTRONAUT}),
    ("missing-image", request(images=["never-uploaded.png"]), {}),
    ("outside-the-bucket", request(images=["s3://someone-elses-bucket/a.png"]), {}),
    ("over-a-limit", request(images=["a.png"], max_images=15), {"a.png": ASTRONAUT}),  # 1 reference + 15 > 15
])
def test_a_refused_manifest_gets_the_apis_error_body_and_nothing_else(stack, client, case, content, images):
    name = f"refused-{case}-{uuid.uuid4().hex[:6]}"
    key, _ = upload(stack, name, content, images)
    refused = wait_until(lambda: document(stack, f"results/{name}.error.json"), 30)
    settled_intake(stack)
    bucket = stack.name("JobsBucket")
    same = content if isinstance(content, bytes) else json.dumps(content | {"images": [
        i if "://" in i else f"s3://{bucket}/requests/{name}/{i}" for i in content["images"]]}).encode()
    assert refused == api_answer(client, same) and set(refused["error"]) == {"code", "message", "details"}
    assert results_of(stack, name) == [f"results/{name}.error.json"]
    assert jobs_where(stack, "key", key) == []
    assert [e for e in untaken_events(stack) if (e["detail"].get("origin") or {}).get("key") == key] == []


def test_a_redelivered_s3_event_makes_one_job(stack):
    pump = stack.pump("IntakeFunction")
    pump.pause()
    try:
        name = f"again-{uuid.uuid4().hex[:6]}"
        key, version = upload(stack, name, request(images=["a.png"]), {"a.png": ASTRONAUT})
        bucket = stack.name("JobsBucket")
        again = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
                 "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
                 "resources": [f"arn:aws:s3:::{bucket}"],
                 "detail": {"version": "0", "bucket": {"name": bucket},
                            "object": {"key": key, "size": 300, "etag": "0f343b0931126a20f133d67c2b018a3b",
                                       "version-id": version, "sequencer": "00655C7A1F2B3C4D5E"},
                            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
                            "source-ip-address": "203.0.113.15", "reason": "PutObject"}}
        sqs = stack.session.client("sqs")
        for _ in range(2):  # EventBridge delivers at least once: the same object version, twice more
            sqs.send_message(QueueUrl=stack.resources.queue_urls["IntakeQueue"], MessageBody=json.dumps(again))
    finally:
        pump.resume()
    assert_one_job(stack, "key", key)


def test_the_eventbridge_door_runs_a_job_and_answers_its_task_token(stack, source_image):
    token, reference = f"token-{uuid.uuid4()}", f"order-{uuid.uuid4().hex[:6]}"
    event_id = requested(stack, request("evolink", images=[source_image], reference=reference, task_token=token))
    answer = stack.task_answers.wait(token, timeout=60)
    assert answer["outcome"] == "success", answer
    output = answer["output"]
    [job] = jobs_where(stack, "event_id", event_id)
    assert output["job_id"] == job["job_id"] and output["status"] == "succeeded" and output["provider"] == "evolink"
    assert output["reference"] == reference and output["origin"] == {
        "type": "eventbridge", "event_id": event_id, "source": "tests.workflow"}
    assert job["task_token"] == token and token not in json.dumps(output)
    assert len(output["outputs"]) == 2 and all("url" not in o for o in output["outputs"])
    events = [event_for(stack, job["job_id"], every=True) for _ in range(3)]
    assert [e["detail-type"] for e in events] == ["Job Queued", "Job Submitted", "Job Succeeded"]
    assert all(e["detail"]["reference"] == reference for e in events)
    assert stack.task_answers.for_token(token) == [answer]  # answered once


def test_a_failed_task_token_job_gets_send_task_failure_with_its_error(stack, source_image):
    stack.simulator.set_faults(task_result="failed")
    token = f"token-{uuid.uuid4()}"
    event_id = requested(stack, request("wavespeed", images=[source_image], task_token=token))
    answer = stack.task_answers.wait(token, timeout=60)
    [job] = jobs_where(stack, "event_id", event_id)
    done = wait_status(stack, job["job_id"], "failed")
    assert answer == {"outcome": "failure", "token": token, "error": "provider_error", "cause": done["error"]["message"]}
    assert event_for(stack, job["job_id"])["detail-type"] == "Job Failed"


@pytest.mark.parametrize("case, change", [
    ("unknown-field", {"colour": "red"}),
    ("missing-image", {"images": ["s3://{bucket}/inputs/never-uploaded.png"]}),
    ("reference-too-long", {"reference": "r" * 257}),
])
def test_a_refused_job_requested_publishes_job_rejected_and_nothing_else(stack, source_image, case, change):
    token, bucket = f"token-{uuid.uuid4()}", stack.name("JobsBucket")
    change = json.loads(json.dumps(change).replace("{bucket}", bucket))
    detail = request(images=[source_image], reference=f"refused-{case}", task_token=token) | change
    event_id = requested(stack, detail)
    rejected = event_where(stack, lambda e: e["detail-type"] == "Job Rejected"
                           and e["detail"]["origin"]["event_id"] == event_id)
    error = rejected["detail"]["error"]
    assert set(error) == {"code", "message", "details"} and rejected["detail"]["job_id"] is None
    assert rejected["detail"]["reference"] == (None if case == "reference-too-long" else f"refused-{case}")
    assert stack.task_answers.wait(token, timeout=10) == {"outcome": "failure", "token": token,
                                                          "error": error["code"], "cause": error["message"]}
    settled_intake(stack)
    assert jobs_where(stack, "event_id", event_id) == []


def test_a_redelivered_job_requested_makes_one_job(stack, source_image):
    pump = stack.pump("IntakeFunction")
    pump.pause()
    try:
        reference = f"again-{uuid.uuid4().hex[:6]}"
        event_id = requested(stack, request(images=[source_image], reference=reference))
        delivered = event_where(stack, lambda e: e["detail-type"] == "Job Requested" and e["id"] == event_id)
        sqs = stack.session.client("sqs")
        for _ in range(2):  # the same event id, delivered twice more
            sqs.send_message(QueueUrl=stack.resources.queue_urls["IntakeQueue"], MessageBody=json.dumps(delivered))
    finally:
        pump.resume()
    assert_one_job(stack, "event_id", event_id)


def test_one_jobs_lifecycle_events_arrive_in_order(stack, client, source_image):
    response = client.create_job(request(images=[source_image]))
    job_id = response.json()["job_id"]
    events = [event_for(stack, job_id, every=True) for _ in range(3)]
    assert [e["detail-type"] for e in events] == ["Job Queued", "Job Submitted", "Job Succeeded"]
    done = item(stack, job_id)
    assert [e["detail"]["at"] for e in events] == [done["created_at"], done["submitted_at"], done["completed_at"]]
    assert {e["detail"]["origin"]["type"] for e in events} == {"http"} and events[0]["detail"]["origin"]["caller"]
    assert events[2]["detail"]["outputs"] == [o["s3_uri"] for o in done["outputs"]]


def test_an_earlier_jobs_output_is_the_next_jobs_source_by_the_http_and_eventbridge_doors(stack, client, source_image):
    first = client.create_job(request(images=[source_image])).json()["job_id"]
    output = wait_status(stack, first, "succeeded")["outputs"][0]["s3_uri"]
    assert output.startswith(f"s3://{stack.name('JobsBucket')}/outputs/{first}/")
    by_http = client.create_job(request(images=[output]))
    assert by_http.status_code == 202, by_http.text
    event_id = requested(stack, request(images=[output]))
    settled_intake(stack)
    [by_event] = jobs_where(stack, "event_id", event_id)
    for job_id in (by_http.json()["job_id"], by_event["job_id"]):
        done = wait_status(stack, job_id, "succeeded", "failed")
        assert done["status"] == "succeeded" and done["request"]["images"] == [output]
        task = stack.simulator.tasks[done["provider_task_id"]]
        assert f"/outputs/{first}/" in json.dumps(task)  # the provider got the output (presigned)


def test_a_request_that_cannot_be_queued_is_retried_then_refused_to_its_door(stack):
    name = f"unqueued-{uuid.uuid4().hex[:6]}"
    with queue_gone(stack, "SubmitQueue"):
        key, _ = upload(stack, name, request(images=["a.png"]), {"a.png": ASTRONAUT})
        refused = wait_until(lambda: document(stack, f"results/{name}.error.json"), 60)
    assert refused["error"]["code"] == "queue_unavailable" and "after 5 tries" in refused["error"]["message"]
    assert jobs_where(stack, "key", key) == []  # each try removed the job it could not queue


@pytest.mark.parametrize("faults, code", [
    ({"submit_errors": [503] * 12}, "submit_failed"),  # submit's last try (5 receives per job)
    ({"task_result": "hang"}, "provider_timeout"),  # the sweep, at the hard limit
])
def test_a_door_job_that_fails_later_is_answered_at_its_door(stack, source_image, faults, code):
    stack.simulator.set_faults(**faults)
    name, token = f"late-{code}-{uuid.uuid4().hex[:6]}", f"token-{uuid.uuid4()}"
    # the hard limit at 4 s instead of the suite's 20 s: the sweep's first read finds the hung job past it
    with stack.reconfigured({"TASK_TIMEOUT_SECONDS": "4"}, functions=("ReconcileFunction",)):
        upload(stack, name, request(images=["a.png"]), {"a.png": ASTRONAUT})
        requested(stack, request(images=[source_image], task_token=token))
        result = wait_until(lambda: document(stack, f"results/{name}.json"), 90)
        assert result["status"] == "failed" and result["error"]["code"] == code
        answer = stack.task_answers.wait(token, timeout=90)
        assert answer is not None and answer["outcome"] == "failure" and answer["error"] == code
