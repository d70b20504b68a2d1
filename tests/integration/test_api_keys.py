"""API keys on the whole local stack: an IAM caller makes, lists and revokes keys (``/v1/keys`` on ``HttpApi``), and
plain requests with ``Authorization: Bearer sk_…`` (httpx, no SigV4: what curl sends) reach the job routes on
``KeyApi``, whose Lambda authorizer the gateway runs as API Gateway does."""

from __future__ import annotations

import hashlib
import time
import uuid

import boto3
import httpx
import pytest

from local.client import JobsClient

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"


def iam_caller(stack, access_key: str) -> JobsClient:
    """A SigV4 client of its own access key: the gateway makes it caller arn:aws:iam::…:user/<access_key>."""
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key="local-secret",
                                    region_name="us-east-1")
    return JobsClient(stack.api_url, session, http=httpx.Client(timeout=30, trust_env=False))


@pytest.fixture
def curl(stack):
    """Plain HTTP to the key API, as curl would send it: no signature, only the headers the test gives."""
    with httpx.Client(base_url=stack.key_api_url, timeout=30, trust_env=False) as http:
        yield http


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key(client: JobsClient) -> dict:
    made = client.request("POST", "/v1/keys")
    assert made.status_code == 201, made.text
    return made.json()


def key_item(stack, key_id: str) -> dict:
    table = stack.session.resource("dynamodb").Table(stack.name("ApiKeysTable"))
    return table.get_item(Key={"key_id": key_id}, ConsistentRead=True)["Item"]


def job_body(source_image: str, probe: str) -> dict:
    return {"model": "seedream-v4", "prompt": "Generate a series of 2 images", "images": [source_image],
            "max_images": 2, "size": "1024*1024", "metadata": {"probe": probe}}


def test_a_key_lists_and_makes_only_its_owners_jobs(stack, curl, source_image):
    alice, bob = iam_caller(stack, f"AKALICE{uuid.uuid4().hex[:8]}"), iam_caller(stack, f"AKBOB{uuid.uuid4().hex[:8]}")
    key = new_key(alice)
    assert key["owner"] == f"arn:aws:iam::{ACCOUNT}:user/{alice.session.get_credentials().access_key}"
    by_alice = alice.create_job(job_body(source_image, "alice-signed")).json()["job_id"]
    by_bob = bob.create_job(job_body(source_image, "bob-signed")).json()["job_id"]

    made = curl.post("/v1/jobs", json=job_body(source_image, "alice-key"), headers=bearer(key["key"]))
    assert made.status_code == 202, made.text
    by_key = made.json()["job_id"]
    assert made.headers["location"] == f"/v1/jobs/{by_key}"  # the same path on the key API

    listed = curl.get("/v1/jobs", headers=bearer(key["key"]))
    assert listed.status_code == 200
    assert {job["job_id"] for job in listed.json()["jobs"]} == {by_key, by_alice}
    assert curl.get(f"/v1/jobs/{by_key}", headers=bearer(key["key"])).json()["job_id"] == by_key
    assert curl.get(f"/v1/jobs/{by_bob}", headers=bearer(key["key"])).status_code == 404  # another caller's job
    assert alice.get_job(by_key)["job_id"] == by_key  # the key's job is alice's with SigV4 too
    assert bob.request("GET", f"/v1/jobs/{by_key}").status_code == 404
    cancelled = curl.post(f"/v1/jobs/{by_key}/cancel", headers=bearer(key["key"]))
    assert cancelled.status_code in (200, 409), cancelled.text  # 409: it had already finished
    assert curl.get("/v1/models", headers=bearer(key["key"])).status_code == 200


def test_a_key_records_its_last_use_and_is_stored_only_as_its_sha256(stack, client, curl):
    key = new_key(client)
    assert "last_used_at" not in key_item(stack, key["key_id"])
    assert curl.get("/v1/jobs", headers=bearer(key["key"])).status_code == 200
    stored = key_item(stack, key["key_id"])
    assert stored["last_used_at"] >= key["created_at"]
    assert stored["secret_sha256"] == hashlib.sha256(key["key"].encode()).hexdigest()
    secret = key["key"].rsplit("_", 1)[1]
    assert not any(secret in str(value) for value in stored.values())
    listed = client.request("GET", "/v1/keys").json()["keys"]
    mine = next(k for k in listed if k["key_id"] == key["key_id"])
    assert mine["last_used_at"] == stored["last_used_at"] and mine["revoked"] is False
    assert "key" not in mine and "secret_sha256" not in mine and secret not in str(listed)


def test_a_revoked_key_is_refused_403_once_no_cached_answer_lets_it_through(stack, client, curl):
    unused, used = new_key(client), new_key(client)
    assert curl.get("/v1/jobs", headers=bearer(used["key"])).status_code == 200  # its allow is now cached (300 s)
    for key in (unused, used):
        revoked = client.request("DELETE", f"/v1/keys/{key['key_id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked"] is True
        assert key_item(stack, key["key_id"])["revoked"] is True
    refused = curl.get("/v1/jobs", headers=bearer(unused["key"]))
    assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    # as on AWS: the authorizer's cached answer for the used key holds until ReauthorizeEvery (300 s) ends
    assert curl.get("/v1/jobs", headers=bearer(used["key"])).status_code == 200
    stack.authorizers["ApiKeyAuthorizer"].clock = lambda: float("inf")  # the cache's 300 s are over
    try:
        assert curl.get("/v1/jobs", headers=bearer(used["key"])).status_code == 403
    finally:
        stack.authorizers["ApiKeyAuthorizer"].clock = time.monotonic


@pytest.mark.parametrize("headers, status, message", [
    ({}, 401, "Unauthorized"),  # no identity source: API Gateway answers without invoking the authorizer
    ({"Authorization": ""}, 401, "Unauthorized"),
    ({"Authorization": "Bearer sk_0123456789abcdef_" + "0" * 48}, 403, "Forbidden"),  # a well-formed key never made
    ({"Authorization": "Bearer sk_not_a_key"}, 403, "Forbidden"),
    ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, 403, "Forbidden"),
    ({"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261121/us-east-1/execute-api/aws4_request"}, 403, "Forbidden"),
])
def test_a_missing_malformed_or_unknown_key_is_refused_as_api_gateway_refuses_it(curl, headers, status, message):
    refused = curl.get("/v1/jobs", headers=headers)
    assert (refused.status_code, refused.json()) == (status, {"message": message})


def test_a_wrong_secret_for_a_real_key_id_is_refused(client, curl):
    key = new_key(client)
    wrong = key["key"][:-4] + ("0000" if not key["key"].endswith("0000") else "1111")
    assert curl.get("/v1/jobs", headers=bearer(wrong)).status_code == 403
    assert curl.get("/v1/jobs", headers=bearer(key["key"])).status_code == 200


def test_keys_are_managed_by_iam_callers_only(stack, client, curl):
    key = new_key(client)
    # no /v1/keys route on the key API: a key cannot make or list keys
    for method, path in (("POST", "/v1/keys"), ("GET", "/v1/keys"), ("DELETE", f"/v1/keys/{key['key_id']}")):
        answer = curl.request(method, path, headers=bearer(key["key"]))
        assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})
    unsigned = httpx.post(f"{stack.api_url}/v1/keys", timeout=30, trust_env=False)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Forbidden"})
    other = iam_caller(stack, f"AKOTHER{uuid.uuid4().hex[:8]}")
    missing = other.request("DELETE", f"/v1/keys/{key['key_id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "key_not_found"
    assert key["key_id"] not in str(other.request("GET", "/v1/keys").json())
