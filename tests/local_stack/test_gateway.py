"""The gateway turns HTTP requests into the API Gateway HTTP API v2 events the handlers are tested with."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.gateway import Gateway
from local.runtime import Throttled
from local.template import ACCOUNT

from .conftest import signed_client

EVENTS = Path(__file__).resolve().parents[2] / "events"
WEBHOOK = "/v1/webhooks/wavespeed/job-1"


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def shape(event: dict) -> dict:
    """The keys of an event, level by level (values differ from request to request)."""
    context = event["requestContext"]
    return {"event": set(event), "requestContext": set(context), "http": set(context["http"]),
            "authorizer": set(context.get("authorizer", {})), "iam": set(context.get("authorizer", {}).get("iam", {}))}


def test_create_job_event_has_the_keys_of_the_sample(gateway, stubs):
    client = signed_client(gateway, "AKIALOCALONE")
    body = sample("api-create-job.json")["body"]
    assert client.request("POST", "/v1/jobs", json.loads(body)).status_code == 200
    event = stubs["ApiFunction"].last
    assert shape(event) == shape(sample("api-create-job.json"))
    assert event["version"] == "2.0" and event["routeKey"] == "POST /v1/jobs" == event["requestContext"]["routeKey"]
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/v1/jobs"
    assert event["requestContext"]["http"]["method"] == "POST" and event["requestContext"]["stage"] == "$default"
    assert json.loads(event["body"]) == json.loads(body) and event["isBase64Encoded"] is False
    assert all(key == key.lower() for key in event["headers"])
    assert event["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIALOCALONE/")
    assert event["requestContext"]["accountId"] == ACCOUNT


def test_get_job_event_has_the_keys_of_the_sample(gateway, stubs):
    signed_client(gateway, "AKIALOCALONE").request("GET", "/v1/jobs/3f6c1a52-8d0e")
    event = stubs["ApiFunction"].last
    assert shape(event) == shape(sample("api-get-job.json"))
    assert event["routeKey"] == "GET /v1/jobs/{job_id}" and event["pathParameters"] == {"job_id": "3f6c1a52-8d0e"}
    assert event["rawPath"] == "/v1/jobs/3f6c1a52-8d0e" and "body" not in event


def test_repeated_headers_are_comma_joined_and_the_query_is_parsed(gateway, stubs, http):
    http.post(f"{gateway.url}{WEBHOOK}?token=t1&a=1&a=2&empty=", content=b"{}",
              headers=[("X-Multi", "one"), ("x-multi", "two"), ("Content-Type", "application/json")])
    event = stubs["WebhookFunction"].last
    assert event["headers"]["x-multi"] == "one,two"
    assert event["rawQueryString"] == "token=t1&a=1&a=2&empty="
    assert event["queryStringParameters"] == {"token": "t1", "a": "1,2", "empty": ""}
    assert event["pathParameters"] == {"provider": "wavespeed", "job_id": "job-1"}


@pytest.mark.parametrize("authorization", [None, "Bearer abc", "AWS4-HMAC-SHA1 Credential=AKIA/x"])
@pytest.mark.parametrize("method, path", [("POST", "/v1/jobs"), ("GET", "/v1/jobs/abc")])
def test_iam_routes_answer_403_without_sigv4(gateway, stubs, http, authorization, method, path):
    headers = {"authorization": authorization} if authorization else {}
    response = http.request(method, f"{gateway.url}{path}", headers=headers, content=b"{}" if method == "POST" else None)
    assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
    assert stubs["ApiFunction"].events == []


def test_caller_follows_the_access_key_id(gateway, stubs):
    arns = []
    for key in ("AKIAFIRSTCALLER", "AKIASECONDCALLER"):
        signed_client(gateway, key).request("GET", "/v1/jobs/abc")
        iam = stubs["ApiFunction"].last["requestContext"]["authorizer"]["iam"]
        assert iam == {"accessKey": key, "accountId": ACCOUNT, "callerId": key, "userId": key,
                       "userArn": f"arn:aws:iam::{ACCOUNT}:user/{key}"}
        arns.append(iam["userArn"])
    assert arns == [f"arn:aws:iam::{ACCOUNT}:user/AKIAFIRSTCALLER", f"arn:aws:iam::{ACCOUNT}:user/AKIASECONDCALLER"]


def test_the_webhook_route_is_public(gateway, stubs, http):
    response = http.post(f"{gateway.url}{WEBHOOK}?token=t", content=b'{"id": "x"}',
                         headers={"content-type": "application/json"})
    assert response.status_code == 200
    event = stubs["WebhookFunction"].last
    assert event["routeKey"] == "POST /v1/webhooks/{provider}/{job_id}" and "authorizer" not in event["requestContext"]
    assert event["body"] == '{"id": "x"}'


@pytest.mark.parametrize("content_type, payload", [
    ("application/json", json.dumps({"outputs": ["x" * 50] * 2000}).encode()),
    ("application/octet-stream", os.urandom(300_000)),
])
def test_a_chunked_body_arrives_intact(gateway, stubs, http, content_type, payload):
    def chunks():
        for start in range(0, len(payload), 7919):
            yield payload[start:start + 7919]

    response = http.post(f"{gateway.url}{WEBHOOK}", content=chunks(), headers={"content-type": content_type})
    assert response.status_code == 200
    event = stubs["WebhookFunction"].last
    assert event["headers"]["transfer-encoding"] == "chunked" and "content-length" not in event["headers"]
    body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    assert body == payload
    assert event["isBase64Encoded"] is (content_type == "application/octet-stream")


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/nothing"), ("GET", WEBHOOK), ("DELETE", "/v1/jobs/abc"), ("HEAD", "/v1/jobs/abc"),
    ("POST", "/v1/jobs/"),
])
def test_unknown_routes_answer_404(gateway, stubs, http, method, path):
    headers = {"authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/execute-api/aws4_request"}
    response = http.request(method, f"{gateway.url}{path}", headers=headers)
    assert response.status_code == 404
    if method != "HEAD":
        assert response.json() == {"message": "Not Found"}
    assert all(not stub.events for stub in stubs.values())


def test_a_handler_that_raises_is_a_500_with_the_traceback_on_stderr(gateway, stubs, http, capfd):
    def boom(event):
        raise RuntimeError("handler exploded")

    stubs["WebhookFunction"].answer = boom
    response = http.post(f"{gateway.url}{WEBHOOK}", content=b"{}")
    assert response.status_code == 500 and response.json() == {"message": "Internal Server Error"}
    err = capfd.readouterr().err
    assert "Traceback" in err and "RuntimeError: handler exploded" in err


def test_the_handlers_answer_is_sent_as_api_gateway_sends_it(gateway, stubs, http):
    stubs["WebhookFunction"].answer = lambda event: {
        "statusCode": 201, "headers": {"X-Trace": "abc", "Content-Length": "999", "Content-Type": "image/png"},
        "cookies": ["a=1; Path=/", "b=2"], "isBase64Encoded": True, "body": base64.b64encode(b"\x89PNG\x00").decode()}
    response = http.post(f"{gateway.url}{WEBHOOK}", content=b"{}")
    assert response.status_code == 201 and response.content == b"\x89PNG\x00"
    assert response.headers["x-trace"] == "abc" and response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == "5"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]

    stubs["WebhookFunction"].answer = lambda event: {"received": True}  # no statusCode: a 200 JSON body
    response = http.post(f"{gateway.url}{WEBHOOK}", content=b"{}")
    assert response.status_code == 200 and response.json() == {"received": True}
    assert response.headers["content-type"] == "application/json"


def test_request_log_lines_only_when_asked(make_gateway, http, capfd):
    quiet = make_gateway()
    http.post(f"{quiet.url}{WEBHOOK}?token=secret-token", content=b"{}")
    assert capfd.readouterr().err == ""  # the line would be written before the answer is sent

    loud = make_gateway(log_requests=True)
    http.post(f"{loud.url}{WEBHOOK}?token=secret-token", content=b"{}")
    http.get(f"{loud.url}/v1/jobs/abc")
    lines = capfd.readouterr().err.splitlines()
    assert [line.rsplit(" ", 2)[0] for line in lines] == [f"POST {WEBHOOK} 200", "GET /v1/jobs/abc 403"]
    assert all(line.endswith(" ms") and line.rsplit(" ", 2)[1].isdigit() for line in lines)
    assert "secret-token" not in "".join(lines)


def test_the_gateway_binds_loopback_only(gateway):
    assert gateway.server.server_address[0] == "127.0.0.1" and gateway.url.startswith("http://127.0.0.1:")
    with pytest.raises(ValueError):
        Gateway([], host="0.0.0.0", port=0)


def test_a_function_that_refuses_at_its_concurrency_limit_is_a_500_as_api_gateway_answers_it(gateway, stubs, http,
                                                                                            capfd):
    def throttled(event):
        raise Throttled("WebhookFunction: 50 invocations running (Rate Exceeded.)")

    stubs["WebhookFunction"].answer = throttled
    response = http.post(f"{gateway.url}{WEBHOOK}", content=b"{}")
    assert response.status_code == 500 and response.json() == {"message": "Internal Server Error"}
    assert "Traceback" not in capfd.readouterr().err


def test_a_burst_of_a_thousand_connections_is_served_at_once_and_every_one_answered(gateway, stubs):
    running, peak, lock = 0, 0, threading.Lock()

    def slow(event):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.5)
        with lock:
            running -= 1
        return {"statusCode": 202, "body": event["rawPath"]}

    stubs["WebhookFunction"].answer = slow
    burst, start = 1000, threading.Barrier(1000)

    def one(i: int) -> bytes:
        start.wait()
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
            sock.sendall(f"POST /v1/webhooks/wavespeed/job-{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    with ThreadPoolExecutor(burst) as pool:
        answers = list(pool.map(one, range(burst)))
    assert all(a.startswith(b"HTTP/1.1 202") and a.endswith(f"/job-{i}".encode()) for i, a in enumerate(answers))
    assert peak > 100  # served concurrently (one by one, the burst would take 500 s)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key_api(stubs, http):
    """KeyApi's routes from the template, behind its authorizer as the local stack runs it, with a clock the test moves."""
    from local.gateway import LambdaAuthorizer, Route
    from local.template import http_routes, lambda_authorizers, load_template

    from .conftest import StubFunction

    template = load_template()
    (spec,) = lambda_authorizers(template).values()
    function = stubs.setdefault(spec.function, StubFunction(spec.function))
    function.answer = lambda event: {"isAuthorized": event["headers"]["authorization"] == "Bearer good",
                                     "context": {"owner": "arn:aws:iam::123456789012:user/alice", "key_id": "k1"}}
    clock = Clock()
    authorizer = LambdaAuthorizer(function, spec.headers, spec.ttl_seconds, clock=clock)
    routes = [Route(r.method, r.path, r.iam, stubs.setdefault(lid, StubFunction(lid)), authorizer)
              for lid, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"
              for r in http_routes(template, res["Properties"]) if r.api == "KeyApi"]
    gateway = Gateway(routes, port=0)
    gateway.start()
    yield gateway, authorizer, clock
    gateway.stop()


def test_the_key_api_answers_401_without_invoking_the_authorizer_when_the_header_is_missing(key_api, stubs, http):
    gateway, authorizer, _ = key_api
    for headers in ({}, {"Authorization": ""}):
        answer = http.get(f"{gateway.url}/v1/jobs", headers=headers)
        assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert authorizer.invocations == 0 and not stubs["ApiFunction"].events


def test_the_authorizers_deny_is_a_403_and_its_allow_reaches_the_function_with_its_context(key_api, stubs, http):
    gateway, _, _ = key_api
    denied = http.get(f"{gateway.url}/v1/jobs", headers={"Authorization": "Bearer bad"})
    assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"})
    assert not stubs["ApiFunction"].events
    allowed = http.get(f"{gateway.url}/v1/jobs/j1?x=1", headers={"Authorization": "Bearer good"})
    assert allowed.status_code == 200
    event = stubs["ApiFunction"].last
    assert event["requestContext"]["authorizer"] == {"lambda": {"owner": "arn:aws:iam::123456789012:user/alice",
                                                                "key_id": "k1"}}
    request = stubs["ApiKeyAuthorizerFunction"].last
    assert (request["version"], request["type"], request["identitySource"]) == ("2.0", "REQUEST", ["Bearer good"])
    assert request["routeArn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:local/$default/GET/v1/jobs/{{job_id}}"
    assert request["routeKey"] == "GET /v1/jobs/{job_id}" and request["pathParameters"] == {"job_id": "j1"}
    assert "body" not in request and request["queryStringParameters"] == {"x": "1"}


def test_an_answer_is_cached_per_header_value_for_reauthorize_every_across_routes(key_api, stubs, http):
    gateway, authorizer, clock = key_api
    for path in ("/v1/jobs", "/v1/models", "/v1/jobs"):
        assert http.get(f"{gateway.url}{path}", headers={"Authorization": "Bearer good"}).status_code == 200
    assert http.get(f"{gateway.url}/v1/jobs", headers={"Authorization": "Bearer bad"}).status_code == 403
    assert http.get(f"{gateway.url}/v1/jobs", headers={"Authorization": "Bearer bad"}).status_code == 403
    assert authorizer.invocations == 2  # one per header value, allow and deny alike
    stubs["ApiKeyAuthorizerFunction"].answer = lambda event: {"isAuthorized": False}  # e.g. the key was revoked
    clock.now += 299
    assert http.get(f"{gateway.url}/v1/jobs", headers={"Authorization": "Bearer good"}).status_code == 200
    clock.now += 1  # ReauthorizeEvery: 300 s
    assert http.get(f"{gateway.url}/v1/jobs", headers={"Authorization": "Bearer good"}).status_code == 403
    assert authorizer.invocations == 3


@pytest.mark.parametrize("answer", [None, {"isAuthorized": "yes"}, {"isAuthorized": True, "context": "x"}, "raise"])
def test_an_authorizer_that_fails_or_answers_badly_is_a_500_and_is_not_cached(key_api, stubs, http, answer, capfd):
    gateway, authorizer, _ = key_api

    def fail(event):
        raise RuntimeError("authorizer broke")

    stubs["ApiKeyAuthorizerFunction"].answer = fail if answer == "raise" else (lambda event: answer)
    for _ in range(2):
        failed = http.get(f"{gateway.url}/v1/jobs", headers={"Authorization": "Bearer good"})
        assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"})
    assert authorizer.invocations == 2 and not stubs["ApiFunction"].events
