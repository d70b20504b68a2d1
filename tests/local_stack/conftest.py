"""Local-stack fixtures: the gateway with the template's routes, in front of stub functions that record events.

The gateway needs no moto, only something with ``invoke(event)`` behind each route; tests of the template's
resources and of the pumps use moto in this process (``in_process_moto``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import boto3
import httpx
import pytest

from local.client import JobsClient
from local.gateway import Gateway, Route
from local.template import http_routes, load_template


@pytest.fixture
def in_process_moto(monkeypatch):
    """Dummy credentials and no local stack's endpoint: ``mock_aws()`` in this process answers boto3."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


class StubFunction:
    """Records every event; answers with ``answer(event)`` (default: 200 ``{"ok": true}``)."""

    def __init__(self, name: str):
        self.name = name
        self.events: list[dict] = []
        self.answer: Callable[[dict], object] = lambda event: {
            "statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"ok": true}'}
        self._lock = threading.Lock()

    def invoke(self, event: dict):
        with self._lock:
            self.events.append(event)
        return self.answer(event)

    @property
    def last(self) -> dict:
        assert self.events, f"{self.name} was never invoked"
        return self.events[-1]


def template_routes(stubs: dict[str, StubFunction]) -> list[Route]:
    template = load_template()
    return [Route(route.method, route.path, route.iam, stubs.setdefault(logical_id, StubFunction(logical_id)))
            for logical_id, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"
            for route in http_routes(template, res["Properties"]) if route.api == "HttpApi"]


@pytest.fixture
def stubs() -> dict[str, StubFunction]:
    return {}


@pytest.fixture
def make_gateway(stubs):
    started: list[Gateway] = []

    def make(**kwargs) -> Gateway:
        gateway = Gateway(template_routes(stubs), port=0, **kwargs)
        gateway.start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway) -> Gateway:
    return make_gateway()


@pytest.fixture
def http():
    with httpx.Client(timeout=10, trust_env=False) as client:
        yield client


def signed_client(gateway: Gateway, access_key: str) -> JobsClient:
    """The project's SigV4 client, with its own access key (the gateway does not verify the signature)."""
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key="local-secret",
                                    region_name="us-east-1")
    client = JobsClient(gateway.url, session)
    client.http = httpx.Client(timeout=10, trust_env=False)
    return client
