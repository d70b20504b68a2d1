"""Each Lambda handler, invoked with its real-shaped sample from ``events/`` (as ``sam local invoke -e`` would)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from local.runtime import LocalFunction
from seedream.usecases.intake import JOB_IDS
from tests.support.receivers import MockReceiver

from .usecase_helpers import FakeStates, png_bytes, tap_events

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def receiver() -> MockReceiver:
    """The callers' webhook receiver the delivery function's sender reaches (it verifies nothing itself)."""
    return MockReceiver(None)


@pytest.fixture
def functions_with(aws, provider_http, receiver, monkeypatch):
    """``functions_with(**overrides)``: every function loaded from the template like Lambda loads it, its ``svc``
    built at import by its own builder with the fake provider transport (the delivery function: the ``receiver``),
    a stub DNS resolver and ``overrides`` (``seedream.wiring.build_services``)."""
    session, resources = aws

    def load(**overrides) -> dict[str, LocalFunction]:
        loaded = {}
        for name, spec in resources.functions.items():
            for key, value in spec.environment.items():
                monkeypatch.setenv(key, value)
            transport = httpx.MockTransport(receiver if name == "DeliveryFunction" else provider_http)
            loaded[name] = LocalFunction(spec, wiring={"session": session, "http_transport": transport,
                                                       "resolver": lambda host, port: ["93.184.216.34"],
                                                       "overrides": overrides})
        return loaded

    return load


@pytest.fixture
def functions(functions_with):
    return functions_with()


def test_every_function_has_a_sample_event(aws):
    _, resources = aws
    names = {p.name for p in EVENTS.glob("*.json")}
    assert names == {"api-create-job.json", "api-get-job.json", "submit-sqs.json", "ingest-sqs.json", "generate-sqs.json",
                     "webhook-wavespeed.json", "webhook-atlascloud.json", "webhook-evolink.json",
                     "webhook-replicate.json", "reconcile-schedule.json", "intake-s3-sqs.json",
                     "intake-eventbridge-sqs.json", "delivery-sqs.json",
                     "authorizer-request.json", "live-connect.json", "live-subscribe.json",
                     "live-disconnect.json", "push-sqs.json"}
    assert set(resources.functions) == {"ApiFunction", "ApiKeyAuthorizerFunction", "WebhookFunction", "SubmitFunction",
                                        "IngestFunction", "ReconcileFunction", "IntakeFunction", "DeliveryFunction",
                                        "LiveFunction", "PushFunction", "GenerateFunction"}


def test_a_key_the_api_made_passes_the_authorizer_sample_until_it_is_revoked(functions, aws):
    api, authorizer = functions["ApiFunction"], functions["ApiKeyAuthorizerFunction"]
    create = sample("api-create-job.json") | {"routeKey": "POST /v1/keys", "rawPath": "/v1/keys", "body": None}
    create["requestContext"] = create["requestContext"] | {"routeKey": "POST /v1/keys",
                                                           "http": create["requestContext"]["http"] | {"path": "/v1/keys"}}
    made = api.invoke(create)
    assert made["statusCode"] == 201
    key = json.loads(made["body"])
    owner = create["requestContext"]["authorizer"]["iam"]["userArn"]
    event = sample("authorizer-request.json")
    event["headers"]["authorization"] = event["identitySource"][0] = f"Bearer {key['key']}"
    assert authorizer.invoke(copy.deepcopy(event)) == {"isAuthorized": True,
                                                       "context": {"owner": owner, "key_id": key["key_id"]}}
    revoke = copy.deepcopy(create) | {"routeKey": "DELETE /v1/keys/{key_id}", "rawPath": f"/v1/keys/{key['key_id']}",
                                      "pathParameters": {"key_id": key["key_id"]}}
    revoke["requestContext"]["http"] |= {"method": "DELETE", "path": f"/v1/keys/{key['key_id']}"}
    assert json.loads(api.invoke(revoke)["body"])["revoked"] is True
    assert authorizer.invoke(copy.deepcopy(event)) == {"isAuthorized": False}
    assert authorizer.invoke(sample("authorizer-request.json")) == {"isAuthorized": False}  # a key never made


def test_samples_drive_the_whole_path_through_the_handlers(functions, provider_http, aws):
    api, submit, webhook, ingest = (functions[n] for n in ("ApiFunction", "SubmitFunction", "WebhookFunction",
                                                           "IngestFunction"))
    created = api.invoke(sample("api-create-job.json"))
    assert created["statusCode"] == 202
    job_id = json.loads(created["body"])["job_id"]

    get = sample("api-get-job.json")
    get["pathParameters"]["job_id"] = job_id
    get["rawPath"] = get["requestContext"]["http"]["path"] = f"/v1/jobs/{job_id}"
    assert json.loads(api.invoke(get)["body"])["status"] == "queued"

    event = sample("submit-sqs.json")
    event["Records"][0]["body"] = json.dumps({"job_id": job_id})
    assert submit.invoke(event) == {"batchItemFailures": []}
    assert provider_http.submits[0]["path"] == "/api/v3/bytedance/seedream-v4.5/edit-sequential"

    # the sample callback is not signed with this stack's secret and has no valid token: 401, nothing changes
    forged = sample("webhook-wavespeed.json")
    forged["pathParameters"]["job_id"] = job_id
    forged["rawPath"] = forged["requestContext"]["http"]["path"] = f"/v1/webhooks/wavespeed/{job_id}"
    before = api.module.svc.store.get(job_id)
    answer = webhook.invoke(forged)
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] in {"timestamp_out_of_range", "signature_invalid", "token_invalid"}
    assert api.module.svc.store.get(job_id) == before

    message = json.loads(sample("ingest-sqs.json")["Records"][0]["body"])
    urls = []
    for i in range(4):
        provider_http.outputs[f"/o/{i}.png"] = png_bytes(2048, 2048)
        urls.append(f"https://cdn.test/o/{i}.png")
    message.update(job_id=job_id)
    message["notice"].update(output_urls=urls, provider_task_id=provider_http.submits[0]["task_id"])
    event = sample("ingest-sqs.json")
    event["Records"][0]["body"] = json.dumps(message)
    assert ingest.invoke(event) == {"batchItemFailures": []}
    view = json.loads(api.invoke(get)["body"])
    assert view["status"] == "succeeded" and [o["width"] for o in view["outputs"]] == [2048] * 4
    assert tap_events(aws)[0]["detail-type"] == "Job Succeeded"


def test_a_modelark_job_goes_submit_generate_ingest_through_the_handlers(functions, provider_http, aws):
    """Submit hands the job to the ModelArk queue; the generate sample runs it (the stream's images stored as they
    arrive) and puts the completion on the ingest queue; ingest keeps what generate stored and ends it succeeded."""
    session, resources = aws
    sqs = session.client("sqs")
    create = sample("api-create-job.json")
    create["body"] = json.dumps(json.loads(create["body"]) | {"provider": "modelark"})
    created = functions["ApiFunction"].invoke(create)
    assert created["statusCode"] == 202, created["body"]
    job_id = json.loads(created["body"])["job_id"]
    event = sample("submit-sqs.json")
    event["Records"][0]["body"] = json.dumps({"job_id": job_id})
    assert functions["SubmitFunction"].invoke(event) == {"batchItemFailures": []}
    [queued] = sqs.receive_message(QueueUrl=resources.names["ModelArkQueue"])["Messages"]
    provider_http.outputs["/ark/template.png"] = png_bytes(2048, 2048)
    event = sample("generate-sqs.json")
    event["Records"][0]["body"] = queued["Body"]
    assert functions["GenerateFunction"].invoke(event) == {"batchItemFailures": []}
    sent = provider_http.generations[0]
    assert sent["stream"] is True and sent["watermark"] is False and sent["model"] == "seedream-4-5-251128"
    stored = functions["ApiFunction"].module.svc.store.get(job_id)
    assert stored.status == "submitted" and len(stored.stored_outputs) == 4 and stored.callback.via == "stream"
    [completion] = sqs.receive_message(QueueUrl=resources.names["IngestQueue"])["Messages"]
    event = sample("ingest-sqs.json")
    event["Records"][0]["body"] = completion["Body"]
    gets = dict(provider_http.output_gets)
    assert functions["IngestFunction"].invoke(event) == {"batchItemFailures": []}
    assert provider_http.output_gets == gets  # every output was stored while streaming: none fetched again
    done = functions["ApiFunction"].module.svc.store.get(job_id)
    assert done.status == "succeeded" and len(done.outputs) == 4 and done.estimated_cost_usd == 0.16


@pytest.mark.parametrize("name", ["webhook-wavespeed.json", "webhook-atlascloud.json", "webhook-evolink.json",
                                  "webhook-replicate.json"])
def test_webhook_samples_for_unknown_jobs_are_rejected(functions, name):
    answer = functions["WebhookFunction"].invoke(sample(name))
    assert answer["statusCode"] == 401


def test_a_malformed_queue_message_is_reported_as_a_batch_item_failure(functions, provider_http):
    job_id = json.loads(functions["ApiFunction"].invoke(sample("api-create-job.json"))["body"])["job_id"]
    event = sample("submit-sqs.json")
    event["Records"][0]["body"] = json.dumps({"job_id": job_id})
    event["Records"].append(copy.deepcopy(event["Records"][0]) | {"messageId": "second", "body": "not json"})
    result = functions["SubmitFunction"].invoke(event)
    assert result == {"batchItemFailures": [{"itemIdentifier": "second"}]}
    assert len(provider_http.submits) == 1


def intake_sample(name: str, bucket: str) -> dict:
    """An intake sample with this stack's bucket in place of the sample's."""
    event = sample(name)
    event["Records"][0]["body"] = event["Records"][0]["body"].replace("seedream-jobsbucket-1a2b3c4d5e6f", bucket)
    return event


def finish_through_the_handlers(functions, provider_http, job_id: str) -> None:
    """Submit (sample message) and ingest (sample callback message) the job: it succeeds with 4 outputs."""
    event = sample("submit-sqs.json")
    event["Records"][0]["body"] = json.dumps({"job_id": job_id})
    assert functions["SubmitFunction"].invoke(event) == {"batchItemFailures": []}
    message = json.loads(sample("ingest-sqs.json")["Records"][0]["body"])
    message.update(job_id=job_id)
    urls = []
    for i in range(4):
        provider_http.outputs[f"/{job_id}/{i}.png"] = png_bytes(2048, 2048)
        urls.append(f"https://cdn.test/{job_id}/{i}.png")
    message["notice"].update(output_urls=urls, provider_task_id=provider_http.submits[-1]["task_id"])
    event = sample("ingest-sqs.json")
    event["Records"][0]["body"] = json.dumps(message)
    assert functions["IngestFunction"].invoke(event) == {"batchItemFailures": []}


def test_the_s3_door_sample_makes_a_job_that_ends_in_its_results_document(functions, provider_http, aws):
    session, resources = aws
    bucket, s3 = resources.names["JobsBucket"], session.client("s3")
    body = {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 4 images",
            "images": ["astronaut.png"], "max_images": 4}
    s3.put_object(Bucket=bucket, Key="requests/astronaut-series/astronaut.png", Body=png_bytes())
    put = s3.put_object(Bucket=bucket, Key="requests/astronaut-series.json", Body=json.dumps(body).encode())
    event = intake_sample("intake-s3-sqs.json", bucket)
    real = json.loads(event["Records"][0]["body"])
    real["detail"]["object"].pop("version-id")  # the unit tests' bucket keeps no versions
    real["detail"]["object"]["etag"] = put["ETag"].strip('"')
    event["Records"][0]["body"] = json.dumps(real)

    assert functions["IntakeFunction"].invoke(event) == {"batchItemFailures": []}
    assert functions["IntakeFunction"].invoke(copy.deepcopy(event)) == {"batchItemFailures": []}  # redelivered
    [queued] = tap_events(aws, every=True)
    job_id = queued["detail"]["job_id"]
    assert queued["detail-type"] == "Job Queued" and queued["detail"]["origin"] == {
        "type": "s3", "bucket": bucket, "key": "requests/astronaut-series.json", "version_id": None}
    job = functions["IntakeFunction"].module.svc.store.get(job_id)
    assert job.request.images == [f"s3://{bucket}/requests/astronaut-series/astronaut.png"] and job.owner is None

    finish_through_the_handlers(functions, provider_http, job_id)
    document = json.loads(s3.get_object(Bucket=bucket, Key="results/astronaut-series.json")["Body"].read())
    assert document["job_id"] == job_id and document["status"] == "succeeded" and document["origin"]["type"] == "s3"
    assert [o["s3_uri"] for o in document["outputs"]] == [f"s3://{bucket}/outputs/{job_id}/0{i}.png" for i in range(4)]
    assert all("url" not in o for o in document["outputs"]) and "task_token" not in document


def test_the_eventbridge_door_sample_makes_one_job_and_answers_its_task_token(functions_with, provider_http, aws):
    session, resources = aws
    bucket = resources.names["JobsBucket"]
    session.client("s3").put_object(Bucket=bucket, Key="inputs/astronaut.png", Body=png_bytes())
    states = FakeStates()
    functions = functions_with(stepfunctions=states)
    event = intake_sample("intake-eventbridge-sqs.json", bucket)
    sent = json.loads(event["Records"][0]["body"])

    assert functions["IntakeFunction"].invoke(event) == {"batchItemFailures": []}
    assert functions["IntakeFunction"].invoke(copy.deepcopy(event)) == {"batchItemFailures": []}  # same event id
    job_id = str(uuid.uuid5(JOB_IDS, f"eventbridge:{sent['id']}"))
    [queued] = tap_events(aws, every=True)
    assert queued["detail"] | {"at": None} == {
        "job_id": job_id, "status": "queued", "reference": "order-1234", "provider": "wavespeed",
        "model": "seedream-v4.5", "outputs": [], "metadata": {"campaign": "seasons"}, "error": None, "at": None,
        "webhook_wanted": False, "origin": {"type": "eventbridge", "event_id": sent["id"], "source": "com.example.workflows"}}

    finish_through_the_handlers(functions, provider_http, job_id)
    [(name, arguments)] = states.calls
    assert name == "SendTaskSuccess" and arguments["taskToken"] == sent["detail"]["task_token"]
    output = json.loads(arguments["output"])
    assert output["job_id"] == job_id and output["status"] == "succeeded" and output["reference"] == "order-1234"
    assert "task_token" not in output and len(output["outputs"]) == 4


def test_a_message_that_is_no_event_is_a_batch_item_failure_and_an_event_for_another_bucket_is_dropped(functions, aws):
    event = sample("intake-s3-sqs.json")  # the sample's own bucket is not this stack's
    event["Records"].append(copy.deepcopy(event["Records"][0]) | {"messageId": "garbage", "body": "{\"hello\": 1}"})
    assert functions["IntakeFunction"].invoke(event) == {"batchItemFailures": [{"itemIdentifier": "garbage"}]}
    assert tap_events(aws, every=True) == []


def test_the_delivery_sample_sends_the_jobs_succeeded_message_signed_with_the_key_the_api_gives(
        functions, provider_http, receiver, aws):
    api, delivery = functions["ApiFunction"], functions["DeliveryFunction"]
    create = sample("api-create-job.json")
    create["body"] = json.dumps(json.loads(create["body"]) | {"webhook": "https://hooks.example.com/seedream"})
    job_id = json.loads(api.invoke(create)["body"])["job_id"]
    finish_through_the_handlers(functions, provider_http, job_id)
    secret = sample("api-get-job.json")
    secret["rawPath"] = secret["requestContext"]["http"]["path"] = "/v1/webhooks/default/secret"
    secret["routeKey"], secret["pathParameters"] = "GET /v1/webhooks/default/secret", {}
    answer = api.invoke(secret)
    key = json.loads(answer["body"])["key"]
    assert answer["statusCode"] == 200 and key.startswith("whsec_")
    receiver.secret = key

    event = sample("delivery-sqs.json")
    body = json.loads(event["Records"][0]["body"])
    body["detail"]["job_id"] = job_id
    event["Records"][0]["body"] = json.dumps(body)
    assert delivery.invoke(event) == {"batchItemFailures": []}
    [received] = receiver.received
    assert received.problem is None and received.path == "/seedream"
    assert received.payload["type"] == "job.succeeded" and received.payload["timestamp"] == body["detail"]["at"]
    data = received.payload["data"]
    assert data["job_id"] == job_id and data["status"] == "succeeded" and len(data["outputs"]) == 4
    assert all(o["s3_uri"].startswith("s3://") and o["url"].startswith("https://") for o in data["outputs"])
    assert "request" not in data and "attempts" not in data  # small: no request, no internals


def test_the_live_samples_connect_subscribe_receive_the_push_and_disconnect(functions, aws):
    """The WebSocket samples (API Gateway's Lambda proxy events) through the live function, the push sample through
    the push function: moto's management API records what was posted to the connection."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    session, resources = aws
    api, live, push = (functions[n] for n in ("ApiFunction", "LiveFunction", "PushFunction"))
    create = sample("api-create-job.json")
    job_id = json.loads(api.invoke(create)["body"])["job_id"]
    connect = sample("live-connect.json")  # the same IAM caller as the job's
    connect["requestContext"]["identity"]["userArn"] = create["requestContext"]["authorizer"]["iam"]["userArn"]
    connection_id = connect["requestContext"]["connectionId"]

    assert live.invoke(connect) == {"statusCode": 200}
    answer = live.invoke(sample("live-subscribe.json"))
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"type": "subscribed", "all_jobs": True})
    event = sample("push-sqs.json")
    body = json.loads(event["Records"][0]["body"])
    body["detail"]["job_id"] = job_id
    event["Records"][0]["body"] = json.dumps(body)
    assert push.invoke(event) == {"batchItemFailures": []}
    backend = apigatewaymanagementapi_backends["123456789012"]["us-east-1"]
    posted = backend.connections[quote(connection_id, safe="")].data  # moto keys it as it came in the path
    message = json.loads(posted)
    assert (message["type"], message["detail-type"], message["detail"]["job_id"]) == ("event", "Job Succeeded", job_id)

    assert live.invoke(sample("live-disconnect.json")) == {"statusCode": 200}
    table = resources.names["ConnectionsTable"]
    assert session.client("dynamodb").scan(TableName=table)["Items"] == []


def test_a_connect_without_an_iam_caller_is_refused_403(functions):
    event = sample("live-connect.json")
    del event["requestContext"]["identity"]["userArn"]
    answer = functions["LiveFunction"].invoke(event)
    assert answer["statusCode"] == 403 and json.loads(answer["body"])["error"]["code"] == "forbidden"
