"""The small pieces that stand in for library code on the cold-start path: the DynamoDB attribute
codec (for boto3's TypeSerializer) and the provider-secret cache (for Powertools' SecretsProvider); and the
nesting check a parsed EventBridge ``detail`` shares with a request body."""

from __future__ import annotations

import json

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from seedream.dynamo import from_item, to_item
from seedream.errors import InvalidRequest, JobError
from seedream.payloads import check_depth, read_json
from seedream.provider_secret import ProviderSecret

ITEM = {"job_id": "j", "max_images": 15, "cost": 0.0222, "ok": True, "error": None, "outputs": [],
        "request": {"images": ["https://a.test/x.png"], "seed": -1, "metadata": {"k": "v"}}, "big": 2_147_483_647}


def test_the_codec_writes_what_boto3s_serializer_writes_and_reads_it_back():
    mine = to_item(ITEM)
    theirs = {k: TypeSerializer().serialize(json.loads(json.dumps(v), parse_float=__import__("decimal").Decimal))
              for k, v in ITEM.items()}
    assert mine == theirs
    assert from_item(mine) == ITEM
    assert {k: TypeDeserializer().deserialize(v) for k, v in mine.items()}["max_images"] == 15


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, b"bytes"])
def test_values_dynamodb_cannot_hold_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        to_item({"x": value})


class FakeSecretsManager:
    def __init__(self, document):
        self.document, self.reads = document, 0

    def get_secret_value(self, SecretId):  # noqa: N803 - botocore's parameter name
        self.reads += 1
        return {"SecretString": json.dumps(self.document)}


def test_the_secret_is_read_once_per_max_age_and_entries_need_an_api_key():
    now = [0.0]
    client = FakeSecretsManager({"wavespeed": {"api_key": "k", "webhook_secret": "whsec_x"}, "evolink": {}})
    secret = ProviderSecret(client, "arn", max_age=300, clock=lambda: now[0])
    credentials = secret.credentials_for("wavespeed")
    assert credentials()["webhook_secret"] == "whsec_x" and credentials()["api_key"] == "k"
    assert client.reads == 1
    now[0] = 299.9
    credentials()
    assert client.reads == 1
    now[0] = 300.0
    credentials()
    assert client.reads == 2
    with pytest.raises(JobError) as missing:
        secret.entry("evolink")
    assert missing.value.code == "misconfigured" and "evolink" in missing.value.message


class RefusingS3:
    """The stack's S3 client, except that ``DeleteObjects`` reports ``refusals[key]`` more ``InternalError``s for a key
    (in its ``Errors``, with HTTP 200, as S3 does) before it deletes it."""

    def __init__(self, s3, refusals: dict[str, int]):
        self.s3, self.refusals, self.calls = s3, refusals, 0

    def get_paginator(self, name):
        return self.s3.get_paginator(name)

    def delete_objects(self, Bucket, Delete):  # noqa: N803 - boto3's names
        self.calls += 1
        refused = [o for o in Delete["Objects"] if self.refusals.get(o["Key"], 0) > 0]
        for item in refused:
            self.refusals[item["Key"]] -= 1
        deleted = [o for o in Delete["Objects"] if o not in refused]
        if deleted:
            self.s3.delete_objects(Bucket=Bucket, Delete={"Objects": deleted, "Quiet": True})
        return {"Errors": [{"Key": o["Key"], "Code": "InternalError", "Message": "try again"} for o in refused]}


def test_outputs_s3_refuses_to_delete_are_sent_again_and_those_it_keeps_refusing_are_logged(aws, caplog):
    from types import SimpleNamespace

    from seedream.blobs import Blobs
    from seedream.usecases.finish import discard_outputs

    session, resources = aws
    s3, bucket = session.client("s3"), resources.names["JobsBucket"]
    for index in range(3):
        s3.put_object(Bucket=bucket, Key=f"outputs/job-1/{index:02d}.png", Body=b"png")

    def remaining() -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="outputs/job-1/").get("Contents", [])]

    flaky = RefusingS3(s3, {"outputs/job-1/01.png": 2})
    assert Blobs(flaky, bucket).delete_prefix("outputs/job-1/") == [] and flaky.calls == 3
    assert remaining() == []

    for index in range(2):
        s3.put_object(Bucket=bucket, Key=f"outputs/job-1/{index:02d}.png", Body=b"png")
    stubborn = RefusingS3(s3, {"outputs/job-1/00.png": 99})
    svc = SimpleNamespace(blobs=Blobs(stubborn, bucket), need=lambda *parts: svc)
    discard_outputs(svc, "job-1")
    assert remaining() == ["outputs/job-1/00.png"] and stubborn.calls == 3
    [logged] = [r for r in caplog.records if r.getMessage() == "outputs left behind"]
    assert logged.levelname == "ERROR" and logged.keys == ["outputs/job-1/00.png"] and logged.count == 1


@pytest.mark.parametrize("text", ["[" * depth + "]" * depth for depth in (1, 15, 16, 17, 40)] + [
    "1", '"x"', '{"a": 1}', '{"m": ' + "[" * 15 + "]" * 15 + "}", '{"m": ' + "[" * 16 + "]" * 16 + "}", "[{}, {}, [1]]"])
def test_a_parsed_value_is_held_to_the_nesting_a_body_is(text):
    """``check_depth`` (an EventBridge ``detail``, already parsed) refuses exactly what ``read_json`` refuses."""
    try:
        read_json(text)
    except InvalidRequest as refused:
        with pytest.raises(InvalidRequest) as caught:
            check_depth(json.loads(text))
        assert caught.value.to_body() == refused.to_body()
    else:
        assert check_depth(json.loads(text)) == json.loads(text)
