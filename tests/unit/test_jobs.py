"""The use cases against moto: what the caller, the table, the bucket and the bus see."""

from __future__ import annotations

import hashlib
import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from seedream import jobs
from seedream.errors import InvalidRequest, OutputUnavailable, ProviderUnavailable, Unauthorized
from seedream.models import IngestMessage
from tests.support.signing import wavespeed_headers, wavespeed_signature

from .conftest import WS_SECRET, png_bytes, queue_bodies, tap_events

BODY = {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 2 images of the cup",
        "images": ["https://images.test/cup.jpg"], "max_images": 2, "size": "1024*1536",
        "metadata": {"sku": "CUP-1"}}


def callback(svc, provider_http, job_id, *, status="completed", outputs=None, token=None, body_override=None,
             signature=None, timestamp=None):
    submit = provider_http.submits[-1]
    webhook = urlsplit(submit["webhook"])
    assert webhook.path == f"/v1/webhooks/wavespeed/{job_id}"
    token = token if token is not None else parse_qs(webhook.query)["token"][0]
    payload = {"id": submit["task_id"], "model": "bytedance/seedream-v4.5/edit-sequential", "status": status,
               "outputs": outputs if outputs is not None else [], "has_nsfw_contents": [False] * len(outputs or []),
               "error": "" if status == "completed" else "boom", "urls": {"get": "x"}, "created_at": "2026-11-21T00:00:00Z"}
    body = body_override if body_override is not None else json.dumps(payload).encode()
    headers = wavespeed_headers(WS_SECRET, body, webhook_id="wh-1", timestamp=timestamp)
    if signature is not None:
        headers["webhook-signature"] = signature
    return jobs.record_callback(svc, "wavespeed", job_id, token, headers, body)


def serve_outputs(provider_http, job_id, count, size=(1024, 1536)):
    urls = []
    for i in range(count):
        path = f"/{job_id}/{i}.png"
        provider_http.outputs[path] = png_bytes(*size, color=(40 * i, 100, 200))
        urls.append(f"https://cdn.test{path}")
    return urls


def submitted_job(svc, provider_http):
    job = jobs.accept_job(svc, dict(BODY))
    assert jobs.submit_job(svc, job.job_id) == "submitted"
    return job


def test_accept_stores_a_queued_job_and_enqueues_it(svc):
    job = jobs.accept_job(svc, dict(BODY))
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "queued"
    assert item["request"]["max_images"] == 2 and item["metadata"] == {"sku": "CUP-1"}
    assert queue_bodies(svc, "SubmitQueue") == [{"job_id": job.job_id}]


@pytest.mark.parametrize("change, code, field", [
    ({"max_images": 16}, "invalid_request", "max_images"),
    ({"images": []}, "invalid_request", "images"),
    ({"images": ["http://images.test/a.png"]}, "invalid_request", "images"),
    ({"size": "2048x2048"}, "invalid_request", "size"),
    ({"model": "seedream-v9"}, "invalid_request", "model"),
    ({"size": "512*512"}, "provider_limit_exceeded", "size"),
    ({"images": ["https://i.test/x.png"] * 11}, "invalid_request", "images"),
    ({"unknown": 1}, "invalid_request", "unknown"),
])
def test_invalid_input_is_refused_with_a_code_and_nothing_is_stored(svc, change, code, field):
    with pytest.raises(InvalidRequest) as caught:
        jobs.accept_job(svc, BODY | change)
    assert caught.value.code == code
    assert any(d["field"].startswith(field) for d in caught.value.details)
    assert svc.store.table.scan()["Items"] == []
    assert queue_bodies(svc, "SubmitQueue") == []


def test_loopback_http_images_only_when_the_stack_is_local(svc):
    with pytest.raises(InvalidRequest):
        jobs.accept_job(svc, BODY | {"images": ["http://127.0.0.1:9/a.png"]})
    svc.settings = type(svc.settings)(**{**svc.settings.__dict__, "allow_loopback_http": True})
    assert jobs.accept_job(svc, BODY | {"images": ["http://127.0.0.1:9/a.png"]}).status == "queued"


def test_submit_sends_the_documented_request_with_a_callback_url_whose_token_is_stored_hashed(svc, provider_http):
    job = submitted_job(svc, provider_http)
    submit = provider_http.submits[0]
    assert submit["path"] == "/api/v3/bytedance/seedream-v4.5/edit-sequential"
    assert submit["body"] == {"prompt": BODY["prompt"], "images": BODY["images"], "size": "1024*1536",
                              "max_images": 2, "enable_base64_output": False, "enable_sync_mode": False}
    token = parse_qs(urlsplit(submit["webhook"]).query)["token"][0]
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "submitted" and item["provider_task_id"] == "pred-1"
    assert token not in json.dumps(item)
    assert item["callback_token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert [a["outcome"] for a in item["attempts"]] == ["submitted"]


def test_s3_sources_reach_the_provider_as_presigned_urls(svc, provider_http):
    s3 = svc.session.client("s3")
    s3.put_object(Bucket=svc.settings.bucket, Key="inputs/cup.png", Body=png_bytes())
    job = jobs.accept_job(svc, BODY | {"images": [f"s3://{svc.settings.bucket}/inputs/cup.png"]})
    jobs.submit_job(svc, job.job_id)
    sent = provider_http.submits[0]["body"]["images"][0]
    assert sent.startswith("https://") and "X-Amz-Signature=" in sent and "inputs/cup.png" in sent
    with pytest.raises(InvalidRequest):
        jobs.accept_job(svc, BODY | {"images": [f"s3://{svc.settings.bucket}/inputs/missing.png"]})


def test_provider_unavailable_leaves_the_job_queued_for_retry(svc, provider_http):
    provider_http.submit_status = 429
    job = jobs.accept_job(svc, dict(BODY))
    with pytest.raises(ProviderUnavailable):
        jobs.submit_job(svc, job.job_id)
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "queued"
    assert item["attempts"][0]["outcome"] == "provider_unavailable"


def test_provider_rejection_fails_the_job_and_announces_it(svc, provider_http):
    provider_http.submit_status = 400
    job = jobs.accept_job(svc, dict(BODY))
    assert jobs.submit_job(svc, job.job_id) == "rejected"
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "failed" and item["error"]["code"] == "provider_rejected"
    [event] = tap_events(svc)
    assert event["detail-type"] == "Job Failed" and event["detail"]["metadata"] == {"sku": "CUP-1"}


def test_valid_callback_is_recorded_and_queued_for_ingest_without_downloading(svc, provider_http):
    job = submitted_job(svc, provider_http)
    urls = serve_outputs(provider_http, job.job_id, 2)
    status, body = callback(svc, provider_http, job.job_id, outputs=urls)
    assert (status, body) == (202, {"status": "accepted"})
    [message] = queue_bodies(svc, "IngestQueue")
    assert message["notice"]["output_urls"] == urls
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "submitted" and item["callback"]["provider_status"] == "completed"


@pytest.mark.parametrize("kind", ["token", "signature", "altered_body", "stale", "future", "missing"])
def test_rejected_callback_changes_nothing(svc, provider_http, kind):
    job = submitted_job(svc, provider_http)
    before = svc.store.get_item(job.job_id)
    now = int(time.time())
    kwargs = {
        "token": {"token": "not-the-token"},
        "signature": {"signature": "v3," + "0" * 64},
        "altered_body": {"signature": wavespeed_signature(WS_SECRET, "wh-1", str(now), b'{"id":"pred-1"}')},
        "stale": {"timestamp": str(now - 301)},
        "future": {"timestamp": str(now + 301)},
        "missing": {"signature": " "},
    }[kind]
    with pytest.raises(Unauthorized):
        callback(svc, provider_http, job.job_id, outputs=["https://cdn.test/x.png"], **kwargs)
    assert svc.store.get_item(job.job_id) == before
    assert queue_bodies(svc, "IngestQueue") == []


def test_repeated_callbacks_are_acknowledged_and_queued_once(svc, provider_http):
    job = submitted_job(svc, provider_http)
    urls = serve_outputs(provider_http, job.job_id, 2)
    answers = [callback(svc, provider_http, job.job_id, outputs=urls)[1]["status"] for _ in range(3)]
    assert answers == ["accepted", "duplicate", "duplicate"]
    assert len(queue_bodies(svc, "IngestQueue")) == 1


def ingest_from_queue(svc):
    bodies = queue_bodies(svc, "IngestQueue")
    return [jobs.ingest(svc, IngestMessage.model_validate(b)) for b in bodies]


def test_ingest_stores_outputs_marks_succeeded_and_announces(svc, provider_http):
    job = submitted_job(svc, provider_http)
    urls = serve_outputs(provider_http, job.job_id, 2)
    callback(svc, provider_http, job.job_id, outputs=urls)
    assert ingest_from_queue(svc) == ["succeeded"]
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "succeeded" and item["error"] is None
    assert item["estimated_cost_usd"] == pytest.approx(0.08)  # v4.5: $0.04 × max_images 2
    s3 = svc.session.client("s3")
    for i, output in enumerate(item["outputs"]):
        assert output["s3_uri"] == f"s3://{svc.settings.bucket}/outputs/{job.job_id}/{i:02d}.png"
        data = s3.get_object(Bucket=svc.settings.bucket, Key=f"outputs/{job.job_id}/{i:02d}.png")["Body"].read()
        assert Image.open(io.BytesIO(data)).size == (1024, 1536) == (output["width"], output["height"])
        assert output["sha256"] == hashlib.sha256(data).hexdigest() and output["bytes"] == len(data)
        assert output["content_type"] == "image/png"
    [event] = tap_events(svc)
    assert event["detail-type"] == "Job Succeeded" and event["source"] == "seedream.jobs"
    assert event["detail"]["outputs"] == [o["s3_uri"] for o in item["outputs"]]
    assert event["detail"]["metadata"] == {"sku": "CUP-1"} and event["detail"]["job_id"] == job.job_id
    view = jobs.job_view(svc, job.job_id)
    assert all("X-Amz-Signature=" in o["url"] for o in view["outputs"])
    # a late duplicate delivery of the same message changes nothing and announces nothing again
    message = IngestMessage(job_id=job.job_id, notice=jobs.CompletionNotice(
        provider="wavespeed", provider_task_id="pred-1", status="failed", provider_status="failed"), received_at="x")
    assert jobs.ingest(svc, message) == "skipped"
    assert svc.store.get_item(job.job_id)["status"] == "succeeded" and tap_events(svc) == []


def test_failed_provider_task_becomes_a_failed_job(svc, provider_http):
    job = submitted_job(svc, provider_http)
    callback(svc, provider_http, job.job_id, status="failed")
    assert ingest_from_queue(svc) == ["failed"]
    item = svc.store.get_item(job.job_id)
    assert item["error"] == {"code": "provider_error", "message": "wavespeed reported failed: boom"}
    assert tap_events(svc)[0]["detail-type"] == "Job Failed"


def test_transient_download_failure_leaves_the_job_retryable_and_unstored(svc, provider_http):
    job = submitted_job(svc, provider_http)
    urls = serve_outputs(provider_http, job.job_id, 2)
    provider_http.output_status[f"/{job.job_id}/1.png"] = 503
    callback(svc, provider_http, job.job_id, outputs=urls)
    with pytest.raises(OutputUnavailable):
        ingest_from_queue(svc)
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "submitted" and item["outputs"] == []
    listed = svc.session.client("s3").list_objects_v2(Bucket=svc.settings.bucket, Prefix=f"outputs/{job.job_id}/")
    assert listed.get("KeyCount", 0) == 0  # output 00 downloaded fine, but no partial set is left behind
    assert tap_events(svc) == []
    provider_http.output_status.clear()
    assert ingest_from_queue(svc) == ["succeeded"]


def test_output_that_is_not_an_image_fails_the_job_and_leaves_no_objects(svc, provider_http):
    job = submitted_job(svc, provider_http)
    urls = serve_outputs(provider_http, job.job_id, 2)
    provider_http.outputs[f"/{job.job_id}/1.png"] = b"<html>not an image</html>" * 10
    callback(svc, provider_http, job.job_id, outputs=urls)
    assert ingest_from_queue(svc) == ["failed"]
    item = svc.store.get_item(job.job_id)
    assert item["error"]["code"] == "output_not_image"
    listed = svc.session.client("s3").list_objects_v2(Bucket=svc.settings.bucket, Prefix=f"outputs/{job.job_id}/")
    assert listed.get("KeyCount", 0) == 0


def test_callback_that_outruns_submit_still_completes_the_job(svc, provider_http):
    """The provider may call back before submit has marked the job submitted."""
    job = jobs.accept_job(svc, dict(BODY))
    original = svc.store.mark_submitted

    def late_mark(job_id, attempt):
        urls = serve_outputs(provider_http, job_id, 1)
        assert callback(svc, provider_http, job_id, outputs=urls)[0] == 202
        assert ingest_from_queue(svc) == ["succeeded"]
        return original(job_id, attempt)

    svc.store.mark_submitted = late_mark
    assert jobs.submit_job(svc, job.job_id) == "submitted"
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "succeeded" and len(item["outputs"]) == 1


def test_auto_fails_over_on_refused_connections_and_timeouts_recording_every_attempt(svc, provider_http):
    import httpx

    def transport(request):
        if request.url.host == "api.atlascloud.ai":
            raise httpx.ConnectError("connection refused")
        if request.url.host == "api.evolink.ai":
            raise httpx.ReadTimeout("timed out")
        return provider_http(request)

    client = httpx.Client(transport=httpx.MockTransport(transport))
    for adapter in svc.providers.values():
        adapter.client = client
    # seedream-v4 × 2: Atlas Cloud per run ($0.027) < evolink 2 × $0.0222 < WaveSpeed 2 × $0.027
    job = jobs.accept_job(svc, BODY | {"provider": "auto", "model": "seedream-v4"})
    assert job.provider_order == ["atlascloud", "evolink", "wavespeed"]
    assert jobs.submit_job(svc, job.job_id) == "submitted"
    item = svc.store.get_item(job.job_id)
    assert item["provider"] == "wavespeed" and item["status"] == "submitted"
    assert [(a["provider"], a["outcome"]) for a in item["attempts"]] == [
        ("atlascloud", "provider_unavailable"), ("evolink", "provider_unavailable"), ("wavespeed", "submitted")]
    assert "timed out" in item["attempts"][1]["message"]


def test_when_every_provider_is_unavailable_the_job_stays_queued_for_the_queue_to_retry(svc, provider_http):
    provider_http.submit_status = 503
    import httpx

    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(502, json={"message": "down"})))
    for adapter in svc.providers.values():
        adapter.client = client
    job = jobs.accept_job(svc, BODY | {"provider": "auto"})
    with pytest.raises(ProviderUnavailable):
        jobs.submit_job(svc, job.job_id)
    item = svc.store.get_item(job.job_id)
    assert item["status"] == "queued" and len(item["attempts"]) == 3
