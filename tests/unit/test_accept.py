"""Accept: what the caller, the table and the submit queue see when a job comes in."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

import seedream.usecases.accept as accept_module
from seedream.errors import InvalidRequest
from seedream.usecases.accept import accept

from .usecase_helpers import BODY, png_bytes, queue_bodies


def test_accept_stores_a_queued_job_and_enqueues_it(svc):
    job = accept(svc, dict(BODY))
    record = svc.store.get(job.job_id)
    assert record.status == "queued"
    assert record.request.max_images == 2 and record.metadata == {"sku": "CUP-1"}
    assert record.provider_order == ["wavespeed"]
    assert queue_bodies(svc, svc.settings.submit_queue_url) == [{"job_id": job.job_id, "throttles": 0,
                                                                  "throttled_since": None, "held_seconds": 0.0,
                                                                  "provider_cancel": False}]


@pytest.mark.parametrize("change, code, field", [
    ({"max_images": 16}, "invalid_request", "max_images"),
    ({"images": []}, "invalid_request", "images"),
    ({"images": ["http://images.test/a.png"]}, "invalid_request", "images"),
    ({"size": "2048x2048"}, "invalid_request", "size"),
    ({"model": "seedream-v9"}, "invalid_request", "model"),
    ({"size": "512*512"}, "provider_limit_exceeded", "size"),
    ({"images": ["https://i.test/x.png"] * 15}, "invalid_request", "images"),
    ({"images": ["https://i.test/x.png"] * 11}, "provider_limit_exceeded", "images"),  # WaveSpeed takes 10
    ({"max_images": "4"}, "invalid_request", "max_images"),
    ({"max_images": True}, "invalid_request", "max_images"),
    ({"max_images": 2.0}, "invalid_request", "max_images"),
    ({"seed": "42"}, "invalid_request", "seed"),
    ({"seed": 42}, "provider_limit_exceeded", "seed"),
    ({"prompt": "a\x00b"}, "invalid_request", "prompt"),
    ({"prompt": "a\u202eb"}, "invalid_request", "prompt"),
    ({"metadata": {"k": "line\nbreak"}}, "invalid_request", "metadata"),
    ({"images": ["https://169.254.169.254/latest/meta-data"]}, "invalid_request", "images"),
    ({"size": "1024*1024"}, "provider_limit_exceeded", "size"),
    ({"unknown": 1}, "invalid_request", "unknown"),
    ({"provider": "nobody"}, "invalid_request", "provider"),
])
def test_invalid_input_is_refused_with_a_code_and_nothing_is_stored(svc, change, code, field):
    with pytest.raises(InvalidRequest) as caught:
        accept(svc, BODY | change)
    assert caught.value.code == code
    assert any(d["field"].startswith(field) for d in caught.value.details)
    assert svc.store.dynamodb.scan(TableName=svc.store.table)["Items"] == []
    assert queue_bodies(svc, svc.settings.submit_queue_url) == []


def test_loopback_http_images_only_when_the_stack_is_local(svc, svc_with, provider_http):
    with pytest.raises(InvalidRequest):
        accept(svc, BODY | {"images": ["http://127.0.0.1:9/a.png"]})
    local = svc_with(provider_http, settings=dataclasses.replace(svc.settings, allow_loopback_http=True))
    assert accept(local, BODY | {"images": ["http://127.0.0.1:9/a.png"]}).status == "queued"


def test_s3_sources_must_exist_in_the_stacks_bucket(svc):
    svc.blobs.s3.put_object(Bucket=svc.settings.bucket, Key="inputs/cup.png", Body=png_bytes())
    assert accept(svc, BODY | {"images": [f"s3://{svc.settings.bucket}/inputs/cup.png"]}).status == "queued"
    for uri in (f"s3://{svc.settings.bucket}/inputs/missing.png", "s3://someone-elses-bucket/inputs/cup.png"):
        with pytest.raises(InvalidRequest):
            accept(svc, BODY | {"images": [uri]})


def test_auto_orders_providers_cheapest_first_unless_a_preference_is_configured(svc, svc_with, provider_http):
    # seedream-v4 × 2: Atlas Cloud per run ($0.027) < evolink 2 × $0.0222 < WaveSpeed 2 × $0.027
    # < fal = Replicate 2 × $0.03 (name order)
    assert accept(svc, BODY | {"provider": "auto", "model": "seedream-v4"}).provider_order == [
        "atlascloud", "evolink", "wavespeed", "fal", "replicate"]
    preferring = dataclasses.replace(svc.settings, provider_preference={"seedream-v4": ("wavespeed", "evolink")})
    assert accept(svc_with(provider_http, settings=preferring), BODY | {"provider": "auto", "model": "seedream-v4"}
                  ).provider_order == ["wavespeed", "evolink"]


def test_a_put_retried_after_its_first_try_was_stored_still_accepts_the_job(svc, monkeypatch):
    # botocore retries a PutItem whose answer timed out; its first try had stored the job: the retry's
    # condition then fails on our own fresh id, which only that first try can have written
    fixed = uuid.UUID("6a1d6d3e-0000-4000-8000-00000000abcd")
    monkeypatch.setattr(accept_module.uuid, "uuid4", lambda: fixed)
    first_try = accept_module.JobRecord(job_id=str(fixed), status="queued", provider="wavespeed", model="seedream-v4.5",
                                        request=accept_module.parse_request(svc, dict(BODY))[0],
                                        created_at="2026-12-04T10:00:00.000Z", updated_at="2026-12-04T10:00:00.000Z")
    svc.store.create(first_try)
    job = accept(svc, dict(BODY))
    assert job.job_id == str(fixed)
    assert [b["job_id"] for b in queue_bodies(svc, svc.settings.submit_queue_url)] == [str(fixed)]
