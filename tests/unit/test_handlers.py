"""Each Lambda handler, invoked with its real-shaped sample from ``events/`` (as ``sam local invoke -e`` would)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pytest

from local.runtime import LocalFunction
from seedream.settings import Settings
from seedream.wiring import api_services, ingest_services, reconcile_services, submit_services, webhook_services

from .usecase_helpers import png_bytes, tap_events

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


BUILDERS = {"ApiFunction": api_services, "SubmitFunction": submit_services, "WebhookFunction": webhook_services,
            "IngestFunction": ingest_services, "ReconcileFunction": reconcile_services}


@pytest.fixture
def functions(aws, provider_http, monkeypatch):
    """Every function loaded from the template like Lambda loads it, its services rebuilt by its own
    builder with the fake provider transport and a stub DNS resolver."""
    session, resources = aws
    loaded = {}
    for name, spec in resources.functions.items():
        for key, value in spec.environment.items():
            monkeypatch.setenv(key, value)
        function = LocalFunction(spec)
        services = BUILDERS[name](Settings.from_env(spec.environment), session=session,
                                  http_transport=httpx.MockTransport(provider_http),
                                  resolver=lambda host, port: ["93.184.216.34"])
        monkeypatch.setattr(function.module, "svc", services)
        loaded[name] = function
    return loaded


def test_every_function_has_a_sample_event(aws):
    _, resources = aws
    names = {p.name for p in EVENTS.glob("*.json")}
    assert names == {"api-create-job.json", "api-get-job.json", "submit-sqs.json", "ingest-sqs.json",
                     "webhook-wavespeed.json", "webhook-atlascloud.json", "webhook-evolink.json",
                     "reconcile-schedule.json"}
    assert set(resources.functions) == {"ApiFunction", "WebhookFunction", "SubmitFunction", "IngestFunction",
                                        "ReconcileFunction"}


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


@pytest.mark.parametrize("name", ["webhook-wavespeed.json", "webhook-atlascloud.json", "webhook-evolink.json"])
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
