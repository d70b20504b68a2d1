"""Unit fixtures: moto (``mock_aws``) with the resources of ``template.yaml``, and a Services wired to it.

Provider HTTP is an ``httpx.MockTransport`` speaking WaveSpeed's documented protocol; output
downloads use a stubbed resolver (no request leaves the process).
"""

from __future__ import annotations

import io
import json
import os
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from moto import mock_aws
from PIL import Image

from local.template import create_resources, load_template

WS_KEY = "ws-unit-key"
WS_SECRET = "whsec_dW5pdC10ZXN0LXNlY3JldA=="  # deliberately base64-looking: it must be used as text


def png_bytes(width: int = 64, height: int = 48, color=(200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


class FakeWaveSpeed:
    """Records submits and answers like WaveSpeed's submit endpoint; serves outputs under https://cdn.test/."""

    def __init__(self):
        self.submits: list[dict] = []
        self.submit_status = 200
        self.outputs: dict[str, bytes] = {}
        self.output_status: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.test":
            status = self.output_status.get(request.url.path, 200)
            if status != 200:
                return httpx.Response(status, text="nope")
            return httpx.Response(200, content=self.outputs[request.url.path], headers={"content-type": "image/png"})
        assert request.headers["authorization"] == f"Bearer {WS_KEY}"
        if self.submit_status != 200:
            return httpx.Response(self.submit_status, json={"code": self.submit_status, "message": "simulated"})
        body = json.loads(request.content)
        webhook = parse_qs(urlsplit(str(request.url)).query)["webhook"][0]
        task_id = f"pred-{len(self.submits) + 1}"
        self.submits.append({"path": request.url.path, "body": body, "webhook": webhook, "task_id": task_id})
        return httpx.Response(200, json={"code": 200, "message": "success",
                                         "data": {"id": task_id, "status": "created", "outputs": []}})


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    for local_only in ("AWS_ENDPOINT_URL", "ALLOW_LOOPBACK_HTTP", "S3_ADDRESSING_STYLE", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(local_only, raising=False)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        resources = create_resources(
            session, load_template(),
            {"PublicBaseUrl": "https://hooks.test", "WaveSpeedBaseUrl": "https://ws.test"},
            secret_value={"wavespeed": {"api_key": WS_KEY, "webhook_secret": WS_SECRET},
                          "atlascloud": {"api_key": "atlas-unit-key"}, "evolink": {"api_key": "evolink-unit-key"}},
        )
        # observe the bus: every event is copied to a queue
        sqs, events = session.client("sqs"), session.client("events")
        tap = sqs.create_queue(QueueName="tap")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = resources.names["JobsBus"]
        events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["seedream.jobs"]}))
        events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
        resources.tap_url = tap
        yield session, resources


@pytest.fixture
def provider_http():
    return FakeWaveSpeed()


@pytest.fixture
def svc(aws, provider_http, monkeypatch):
    from seedream.config import Settings
    from seedream.fetch import Fetcher
    from seedream.jobs import Services
    from seedream.runtime import build_services

    session, resources = aws
    env = dict(resources.functions["SubmitFunction"].environment)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    services: Services = build_services(settings)
    client = httpx.Client(transport=httpx.MockTransport(provider_http))
    for adapter in services.providers.values():
        adapter.client = client
    services.fetcher = Fetcher(client, max_bytes=1024 * 1024, resolver=lambda host, port: ["93.184.216.34"])
    services.resources = resources
    services.session = session
    return services


def tap_events(svc) -> list[dict]:
    sqs = svc.session.client("sqs")
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=svc.resources.tap_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=svc.resources.tap_url, ReceiptHandle=message["ReceiptHandle"])


def queue_bodies(svc, logical_id: str) -> list[dict]:
    sqs = svc.session.client("sqs")
    url = svc.resources.queue_urls[logical_id]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
