"""Unit fixtures: moto (``mock_aws``) with the resources of ``template.yaml``, and a Services wired to it.

Provider HTTP is an ``httpx.MockTransport`` speaking WaveSpeed's documented protocol; output
downloads use a stubbed resolver (no request leaves the process).
"""

from __future__ import annotations

import dataclasses
import json
import os
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from moto import mock_aws

from local.template import create_resources, load_template
from seedream.settings import Settings
from seedream.wiring import build_services

from .usecase_helpers import WS_KEY, WS_SECRET


class FakeWaveSpeed:
    """Records submits and answers like WaveSpeed's submit endpoint; serves outputs under https://cdn.test/."""

    def __init__(self):
        self.submits: list[dict] = []
        self.submit_status = 200
        self.submit_headers: dict[str, str] = {}
        """Headers of a non-200 submit answer (``Retry-After`` of a 429)."""
        self.outputs: dict[str, bytes] = {}
        self.output_status: dict[str, int] = {}
        self.output_gets: dict[str, int] = {}
        self.results: dict[str, dict] = {}
        """task id → what ``GET /api/v3/predictions/{id}/result`` answers in ``data`` (default: processing)."""
        self.result_reads: list[str] = []
        self.generations: list[dict] = []
        self.ark_status = 200
        self.ark_cut_after: int | None = None
        self.ark_between = lambda index: None
        """ModelArk requests (``https://ark.test``): answered with a stream of ``max_images`` images at cdn.test."""

    def modelark(self, request: httpx.Request) -> httpx.Response:
        """ModelArk's streamed answer: ``ark_status`` (with ``submit_headers``) instead when not 200; else one event
        per image (``max_images``), ``completed`` and ``[DONE]`` — only the first ``ark_cut_after`` images when set
        (the stream then just ends); ``ark_between(i)`` runs before image ``i`` is sent."""
        assert request.headers["authorization"] == "Bearer ark-unit-key"
        body = json.loads(request.content)
        self.generations.append(body)
        if self.ark_status != 200:
            return httpx.Response(self.ark_status, json={"error": {"code": "RateLimitExceeded", "message": "slow down"}},
                                  headers=self.submit_headers)
        count = body["sequential_image_generation_options"]["max_images"]
        number = len(self.generations)

        def events():
            for i in range(count):
                if self.ark_cut_after is not None and i >= self.ark_cut_after:
                    return
                self.ark_between(i)
                path = f"/ark/{number}/{i}.png"
                self.outputs.setdefault(path, self.outputs.get("/ark/template.png", b""))
                yield ("event: image_generation.partial_succeeded\ndata: " + json.dumps(
                    {"type": "image_generation.partial_succeeded", "image_index": i, "url": f"https://cdn.test{path}",
                     "size": body["size"]}) + "\n\n").encode()
            yield ("event: image_generation.completed\ndata: " + json.dumps(
                {"type": "image_generation.completed", "usage": {"generated_images": count}})
                   + "\n\ndata: [DONE]\n\n").encode()

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=events())

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "ark.test":
            return self.modelark(request)
        if request.url.host == "cdn.test":
            self.output_gets[request.url.path] = self.output_gets.get(request.url.path, 0) + 1
            status = self.output_status.get(request.url.path, 200)
            if status != 200:
                return httpx.Response(status, text="nope")
            return httpx.Response(200, content=self.outputs[request.url.path], headers={"content-type": "image/png"})
        assert request.headers["authorization"] == f"Bearer {WS_KEY}"
        if request.method == "GET" and request.url.path.endswith("/result"):
            task_id = request.url.path.split("/")[-2]
            self.result_reads.append(task_id)
            data = {"id": task_id, "status": "processing", "outputs": [], "has_nsfw_contents": [], "error": ""}
            return httpx.Response(200, json={"code": 200, "message": "success", "data": data | self.results.get(task_id, {})})
        if self.submit_status != 200:
            return httpx.Response(self.submit_status, json={"code": self.submit_status, "message": "simulated"},
                                  headers=self.submit_headers)
        body = json.loads(request.content)
        webhook = parse_qs(urlsplit(str(request.url)).query)["webhook"][0]
        task_id = f"pred-{len(self.submits) + 1}"
        self.submits.append({"path": request.url.path, "body": body, "webhook": webhook, "task_id": task_id})
        return httpx.Response(200, json={"code": 200, "message": "success",
                                         "data": {"id": task_id, "status": "created", "outputs": []}})


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           # the per-test cleanup purges every queue: let moto purge the same queue again within 60 s
           "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}
LOCAL_ONLY_ENV = ("AWS_ENDPOINT_URL", "ALLOW_LOOPBACK_HTTP", "S3_ADDRESSING_STYLE", "AWS_SESSION_TOKEN", "AWS_PROFILE")


class MotoStack:
    """The template's resources in ``mock_aws``, created once; ``empty()`` clears their contents."""

    def __init__(self, session: boto3.session.Session):
        self.session = session
        self.resources = create_resources(
            session, load_template(),
            {"PublicBaseUrl": "https://hooks.test", "WaveSpeedBaseUrl": "https://ws.test", "ModelArkBaseUrl": "https://ark.test"},
            secret_value={"wavespeed": {"api_key": WS_KEY, "webhook_secret": WS_SECRET},
                          "atlascloud": {"api_key": "atlas-unit-key"}, "evolink": {"api_key": "evolink-unit-key"},
                          "replicate": {"api_key": "replicate-unit-key"}, "fal": {"api_key": "fal-unit-key"},
                          "modelark": {"api_key": "ark-unit-key"}},
        )
        self.dynamodb, self.sqs, self.s3 = session.resource("dynamodb"), session.client("sqs"), session.client("s3")
        # observe the bus: every event is copied to a queue
        events = session.client("events")
        tap = self.sqs.create_queue(QueueName="tap")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = self.resources.names["JobsBus"]
        events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["seedream.jobs"]}))
        events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
        self.resources.tap_url = tap

    def empty(self) -> None:
        """Every table, queue (the tap included) and bucket in the mock emptied; the resources stay."""
        for table in self.dynamodb.tables.all():
            keys = [k["AttributeName"] for k in table.key_schema]
            names = {f"#k{i}": key for i, key in enumerate(keys)}
            with table.batch_writer() as batch:
                for page in self.dynamodb.meta.client.get_paginator("scan").paginate(
                        TableName=table.name, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names):
                    for found in page["Items"]:
                        batch.delete_item(Key={key: found[key] for key in keys})
        for url in self.sqs.list_queues().get("QueueUrls", []):
            self.sqs.purge_queue(QueueUrl=url)
        for bucket in self.s3.list_buckets()["Buckets"]:
            for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"]):
                objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                           for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                if objects:
                    self.s3.delete_objects(Bucket=bucket["Name"], Delete={"Objects": objects, "Quiet": True})


@pytest.fixture(scope="package")
def moto_stack():
    """``mock_aws`` started once for ``tests/unit``, with the template's resources and a bus tap queue.

    Package scope, not session: moto's backends live in this process, and the integration stack's
    moto server would share them (same account, same resource names), so the mock must be gone
    before ``tests/integration`` starts. The environment it needs is set here for the same span
    (``monkeypatch`` is per test) and restored afterwards."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in AWS_ENV.items():
            env.setenv(key, value)
        for local_only in LOCAL_ONLY_ENV:
            env.delenv(local_only, raising=False)
        with mock_aws():
            yield MotoStack(boto3.session.Session(region_name="us-east-1"))


@pytest.fixture
def aws(moto_stack):
    """``(session, resources)`` of the shared mock, emptied first: every test starts with empty tables,
    queues (the tap included) and bucket."""
    moto_stack.empty()
    return moto_stack.session, moto_stack.resources


@pytest.fixture
def provider_http():
    return FakeWaveSpeed()


EVERY_PART = ("store", "ledger", "submit_queue", "ingest_queue", "generate_queue", "blobs", "uploader", "bus", "providers",
              "fetcher", "replies", "webhook_queue", "webhook_secret", "webhook_sender", "keys")


@pytest.fixture
def aws_calls() -> list[str]:
    """``Service.Operation`` of every AWS call the ``svc`` under test makes, in order."""
    return []


@pytest.fixture
def svc_with(aws, aws_calls):
    """``svc_with(handler, **overrides)``: every part of the core wired to the shared mock (its own boto3 session,
    whose calls are recorded in ``aws_calls``), provider and output HTTP answered by ``handler``
    (an ``httpx.MockTransport`` handler) and output hosts resolving to a public address. ``overrides`` go to
    ``build_services``: parts, AWS clients or ``settings`` used instead of the ones it would build."""
    _, resources = aws
    settings = dataclasses.replace(Settings.from_env(
        resources.functions["SubmitFunction"].environment | resources.functions["WebhookFunction"].environment
        | resources.functions["ApiFunction"].environment), max_output_bytes=1024 * 1024)

    def build(handler, **overrides):
        session = boto3.session.Session(region_name="us-east-1")
        session.events.register("before-call", lambda model, **_: aws_calls.append(
            f"{model.service_model.service_id}.{model.name}"))
        return build_services(settings, EVERY_PART, overrides=overrides, session=session,
                              http_transport=httpx.MockTransport(handler), resolver=lambda host, port: ["93.184.216.34"])

    return build


@pytest.fixture
def svc(svc_with, provider_http):
    return svc_with(provider_http)


os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
