"""``POST /v1/jobs?dry_run=true`` and ``GET /v1/models`` on the whole local stack: the routes the gateway builds from
``template.yaml``, the answers a caller sees, and what a dry run leaves behind (nothing)."""

from __future__ import annotations

import uuid

import pytest

from .conftest import event_for, untaken_events

pytestmark = pytest.mark.integration


def scan(stack, logical_id: str) -> list[dict]:
    return stack.session.resource("dynamodb").Table(stack.name(logical_id)).scan()["Items"]


def accept_records(stack) -> int:
    """Idempotency records of POST /v1/jobs (the api's ``accept_once``; submit keeps its own in the same table)."""
    return sum("accept_once" in item["id"] for item in scan(stack, "IdempotencyTable"))


def test_a_dry_run_answers_the_order_and_cost_and_leaves_no_item_message_event_or_key(stack, client, source_image):
    probe = str(uuid.uuid4())
    body = {"model": "seedream-v4", "prompt": "Generate a series of 2 images", "images": [source_image],
            "max_images": 2, "size": "1024*1024", "metadata": {"probe": probe}}
    keys_before = accept_records(stack)
    dry = client.request("POST", "/v1/jobs?dry_run=true", body, headers={"Idempotency-Key": f"k-{probe}"})
    assert dry.status_code == 200, dry.text
    assert dry.json() | {"estimates": None} == {
        "dry_run": True, "provider": "atlascloud", "provider_order": ["atlascloud", "evolink", "wavespeed", "fal", "replicate"],
        "model": "seedream-v4", "max_images": 2, "size": "1024*1024", "estimated_cost_usd": 0.027, "estimates": None,
        "missing_images": []}
    assert accept_records(stack) == keys_before  # the key was not stored

    # the key is unused: a real request with another body is its first use, and gets a job
    real = client.request("POST", "/v1/jobs", body | {"metadata": {"after": probe}},
                          headers={"Idempotency-Key": f"k-{probe}"})
    assert real.status_code == 202, real.text
    assert real.json()["estimated_cost_usd"] == 0.027 and real.json()["provider"] == "atlascloud"
    # the real job's Job Queued is on the tap: an event the dry run had put on the bus before it would be too
    assert event_for(stack, real.json()["job_id"], every=True)["detail-type"] == "Job Queued"
    assert not [e for e in untaken_events(stack) if (e.get("detail") or {}).get("metadata") == {"probe": probe}]
    assert [i["job_id"] for i in scan(stack, "JobsTable") if i.get("metadata") == {"probe": probe}] == []
    assert accept_records(stack) == keys_before + 1  # the real request's record only


def test_a_dry_run_is_refused_as_the_real_request_is(client, source_image):
    body = {"provider": "auto", "model": "seedream-v4.5", "prompt": "Generate a series of 2 images",
            "images": [source_image], "max_images": 2, "size": "1024*1024"}
    dry, real = client.request("POST", "/v1/jobs?dry_run=true", body), client.create_job(body)
    assert dry.status_code == real.status_code == 422 and dry.json() == real.json()
    [rule] = dry.json()["error"]["details"]
    assert rule["message"] == ("seedream-v4.5 takes 3,686,400..16,777,216 pixels in all, not 1,048,576 (1024*1024) — "
                               "seedream-v4 takes it at every provider")


def test_the_models_route_is_on_the_gateway_from_the_template_and_needs_a_signature(client):
    signed = client.request("GET", "/v1/models")
    assert signed.status_code == 200
    models = signed.json()["models"]
    assert sorted({m["model"] for m in models}) == ["seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"]
    assert sorted({m["provider"] for m in models}) == ["atlascloud", "evolink", "fal", "modelark", "replicate", "wavespeed"]
    assert len(models) == 17  # Replicate serves seedream-v4 and v4.5 only
    assert client.request("GET", "/v1/models", signed=False).status_code == 403
