"""Refused at the door: every bad request gets a clear 4xx with a code and changes nothing — not the
jobs table, not the bucket, not a queue — and a job is invisible to every caller but its owner."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from local.client import JobsClient

GOOD = {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 2 images",
        "images": ["https://images.example.com/a.png"], "max_images": 2, "size": "2048*2048"}
HOSTILE_HOSTS = ["169.254.169.254", "10.0.0.1", "192.168.1.1", "172.16.0.1", "[::1]", "127.1", "0x7f000001",
                 "2130706433", "017700000001", "localhost", "0.0.0.0", "[::ffff:127.0.0.1]", "metadata.google.internal",
                 "evil@127.0.0.1", "host.local", "intranet", "[fe80::1]", "100.64.0.1", "224.0.0.1", "240.0.0.1"]

CASES: list[tuple[str, object, int, str]] = [
    ("not json", b"{nope", 400, "invalid_json"),
    ("not utf-8", b'{"prompt": "\xff"}', 400, "invalid_json"),
    ("100,000 nested [", b"[" * 100_000, 400, "invalid_json"),
    ("objects nested 20 deep", ('{"metadata": ' + '{"a": ' * 20 + '1' + '}' * 21).encode(), 400, "invalid_json"),
    ("300 KB body", json.dumps(GOOD | {"prompt": "x" * 300_000}).encode(), 413, "body_too_large"),
    ("a JSON array", b"[]", 400, "invalid_request"),
    ("a JSON string", b'"job"', 400, "invalid_request"),
    ("null", b"null", 400, "invalid_request"),
    ("empty object", b"{}", 422, "invalid_request"),
    ("100,000 unknown keys (1.2 MB)", json.dumps(GOOD | {f"k{i}": i for i in range(100_000)}).encode(), 413,
     "body_too_large"),
    ("10,000 unknown keys (150 KB)", json.dumps(GOOD | {f"k{i}": i for i in range(10_000)}).encode(), 422,
     "invalid_request"),
    ("ten 60 KB URLs", GOOD | {"images": ["https://images.example.com/" + "a" * 60_000] * 10}, 413, "body_too_large"),
    ("ten 20 KB URLs", GOOD | {"images": ["https://images.example.com/" + "a" * 20_000] * 10}, 422, "invalid_request"),
    ("a 2,049-character URL", GOOD | {"images": ["https://images.example.com/" + "a" * 2030]}, 422, "invalid_request"),
]
for field, value in [("max_images", "4"), ("max_images", True), ("max_images", 2.0), ("max_images", 0), ("max_images", 16),
                     ("max_images", None), ("max_images", [2]), ("seed", "42"), ("seed", True), ("seed", 2.5),
                     ("seed", 2**40), ("model", "seedream-v9"), ("model", 4), ("model", None), ("provider", "midjourney"),
                     ("provider", 1), ("provider", ""), ("prompt", ""), ("prompt", "   "), ("prompt", "x" * 4001),
                     ("prompt", 42), ("prompt", "a\x00b"), ("prompt", "a\x1bb"), ("prompt", "a\u202eb"),
                     ("prompt", "a\u2066b"), ("images", []), ("images", "https://images.example.com/a.png"),
                     ("images", [1]), ("images", [None]), ("images", ["https://images.example.com/a.png"] * 15),
                     ("images", ["ftp://images.example.com/a.png"]), ("images", ["http://images.example.com/a.png"]),
                     ("images", ["file:///etc/passwd"]), ("images", ["https://"]), ("images", ["images.example.com/a.png"]),
                     ("images", ["https://images.example.com:99999/a.png"]), ("images", ["https://images.example.com:0/a"]),
                     ("images", ["https://images.example.com/a\r\nHost: x"]), ("images", ["https://ima ges.example.com/a"]),
                     ("images", ["s3://"]), ("images", ["s3://bucket-only"]), ("size", "2048x2048"), ("size", "2048*"),
                     ("size", 2048), ("size", "-2048*2048"), ("size", "2048*2048*2"), ("metadata", {"k": "a\nb"}),
                     ("metadata", {"k": "\x00"}), ("metadata", {"bad key": "v"}), ("metadata", {"k": 1}),
                     ("metadata", {f"k{i}": "v" for i in range(17)}), ("metadata", {"k": "v" * 257}), ("metadata", "k=v"),
                     ("unknown", 1)]:
    CASES.append((f"{field}={str(value)[:40]!r}", GOOD | {field: value}, 422, "invalid_request"))
for host in HOSTILE_HOSTS:
    CASES.append((f"image at {host}", GOOD | {"images": [f"https://{host}/a.png"]}, 422, "invalid_request"))
for change in [{"size": "1024*1024"}, {"size": "1536*2048"}, {"size": "4096*250"}, {"size": "5000*5000"},
               {"size": "512*512"}, {"seed": 42}, {"images": ["https://images.example.com/a.png"] * 11},
               {"max_images": 15}, {"provider": "evolink", "prompt": "x" * 2001},
               {"provider": "atlascloud", "model": "seedream-v4", "max_images": 15, "size": "1024*1024"}]:
    CASES.append((f"provider limit {change}"[:60], GOOD | change, 422, "provider_limit_exceeded"))


def post_raw(client: JobsClient, data: bytes):
    """``POST /v1/jobs`` with exactly these bytes, SigV4-signed like any caller's request."""
    url = f"{client.api_url}/v1/jobs"
    signed = AWSRequest(method="POST", url=url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(client.session.get_credentials(), "execute-api", client.region).add_auth(signed)
    return client.http.post(url, content=data, headers=dict(signed.headers.items()))


def snapshot(stack) -> tuple:
    """Everything a refused request must leave alone: jobs, objects, queued messages."""
    dynamodb, s3, sqs = (stack.session.client(n) for n in ("dynamodb", "s3", "sqs"))
    jobs = dynamodb.scan(TableName=stack.name("JobsTable"), Select="COUNT")["Count"]
    objects = s3.list_objects_v2(Bucket=stack.name("JobsBucket")).get("KeyCount", 0)
    queued = tuple(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"] for url in stack.resources.queue_urls.values())
    return jobs, objects, queued


@pytest.mark.parametrize("label, body, status, code", CASES, ids=[c[0] for c in CASES])
def test_a_bad_request_gets_a_4xx_with_a_code_and_changes_nothing(stack, client, label, body, status, code):
    before = snapshot(stack)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = post_raw(client, data)
    assert response.status_code == status, (label, response.text[:300])
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert len(response.content) < 64 * 1024  # the error document stays small whatever was sent
    assert len(error["details"] or []) <= 21
    assert snapshot(stack) == before


def test_a_job_is_invisible_to_every_caller_but_its_owner(stack, client, source_image):
    created = client.create_job(GOOD | {"images": [source_image]})
    assert created.status_code == 202
    job_id = created.json()["job_id"]
    other = JobsClient(stack.api_url, boto3.session.Session(aws_access_key_id="someone-else",
                                                            aws_secret_access_key="x", region_name="us-east-1"))
    for method, path in (("GET", f"/v1/jobs/{job_id}"), ("POST", f"/v1/jobs/{job_id}/cancel")):
        answer = other.request(method, path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "job_not_found"
    mine = client.get_job(job_id)
    assert mine["status"] != "cancelled" and mine["job_id"] == job_id
