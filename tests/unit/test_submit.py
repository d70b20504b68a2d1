"""Submit: what the provider receives, and what the job records for every hand-off."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from seedream.errors import ProviderUnavailable
from seedream.models import after
from seedream.models.messages import SubmitMessage
from seedream.usecases.accept import accept
from seedream.usecases.submit import submit, throttle_delay
from tests.support.waits import wait_until

from .usecase_helpers import BODY, png_bytes, submitted_job, tap_events


def test_submit_sends_the_documented_request_with_a_callback_url_whose_token_is_stored_hashed(svc, provider_http):
    job = submitted_job(svc)
    sent = provider_http.submits[0]
    assert sent["path"] == "/api/v3/bytedance/seedream-v4.5/edit-sequential"
    assert sent["body"] == {"prompt": BODY["prompt"], "images": BODY["images"], "size": "1728*2304",
                            "max_images": 2, "enable_base64_output": False, "enable_sync_mode": False}
    token = parse_qs(urlsplit(sent["webhook"]).query)["token"][0]
    record = svc.store.get(job.job_id)
    assert record.status == "submitted" and record.provider_task_id == "pred-1"
    assert token not in json.dumps(record.model_dump())
    assert record.callback_token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert [a.outcome for a in record.attempts] == ["submitted"]


def test_s3_sources_reach_the_provider_as_presigned_urls(svc, provider_http):
    svc.blobs.s3.put_object(Bucket=svc.settings.bucket, Key="inputs/cup.png", Body=png_bytes())
    submitted_job(svc, BODY | {"images": [f"s3://{svc.settings.bucket}/inputs/cup.png"]})
    sent = provider_http.submits[0]["body"]["images"][0]
    assert sent.startswith("https://") and "X-Amz-Signature=" in sent and "inputs/cup.png" in sent


def test_provider_unavailable_leaves_the_job_queued_for_retry(svc, provider_http):
    provider_http.submit_status = 503
    job = accept(svc, dict(BODY))
    with pytest.raises(ProviderUnavailable):
        submit(svc, job.job_id)
    record = svc.store.get(job.job_id)
    assert record.status == "queued" and record.attempts[0].outcome == "provider_unavailable"


def take_submit_messages(svc) -> list[dict]:
    """Receive and delete what the submit queue holds now (as the submit function's event source does)."""
    sqs, url = svc.queues.sqs, svc.settings.submit_queue_url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def submit_queue(svc) -> dict:
    attributes = svc.queues.sqs.get_queue_attributes(QueueUrl=svc.settings.submit_queue_url, AttributeNames=["All"])
    return {k: int(v) for k, v in attributes["Attributes"].items() if k.startswith("ApproximateNumberOfMessages")}


def test_a_429_is_back_pressure_the_job_goes_back_on_the_queue_delayed_as_the_provider_asked(svc, provider_http):
    job = accept(svc, dict(BODY))
    take_submit_messages(svc)  # the accept's message, as submit receives it
    provider_http.submit_status, provider_http.submit_headers = 429, {"Retry-After": "30"}
    assert submit(svc, SubmitMessage(job_id=job.job_id)) == "throttled"
    record = svc.store.get(job.job_id)
    assert record.status == "queued" and record.attempts[-1].outcome == "provider_unavailable"
    assert record.enqueued_at > job.created_at and record.deadline_at == svc.settings.deadlines().queued(record.enqueued_at)
    # a new message, invisible for the provider's 30 s (+ jitter): nothing to receive now, one delayed
    assert take_submit_messages(svc) == []
    assert submit_queue(svc)["ApproximateNumberOfMessagesDelayed"] == 1


def test_without_retry_after_each_round_of_429s_doubles_the_delay_up_to_sqs_limit():
    assert [throttle_delay(n, [], jitter=1.0) for n in (0, 1, 2, 9, 10)] == [2, 4, 8, 900, 900]
    assert throttle_delay(0, [30, 7], jitter=1.0) == 7 and throttle_delay(0, [0], jitter=1.0) == 1
    assert 2 <= throttle_delay(0, []) <= 2.5  # jitter spreads a burst's retries


def test_the_message_sent_again_counts_the_throttles_and_keeps_when_they_began(svc, provider_http):
    job = accept(svc, dict(BODY))
    take_submit_messages(svc)
    provider_http.submit_status, provider_http.submit_headers = 429, {"Retry-After": "0"}  # visible again at once
    since = after(job.created_at, -5)
    assert submit(svc, SubmitMessage(job_id=job.job_id, throttles=3, throttled_since=since, held_seconds=14)) == "throttled"
    again = wait_until(lambda: take_submit_messages(svc), timeout=5)
    assert again == [{"job_id": job.job_id, "throttles": 4, "throttled_since": since, "held_seconds": 15,
                      "provider_cancel": False}]


def test_429s_that_last_past_the_back_pressure_limit_fail_the_job_submit_failed(svc, provider_http):
    job = accept(svc, dict(BODY))
    provider_http.submit_status = 429
    long_ago = after(job.created_at, -svc.settings.submit_backpressure_max_seconds - 1)
    # a job that waited long in the queue is not failed for it: only the delays count
    assert submit(svc, SubmitMessage(job_id=job.job_id, throttles=1, throttled_since=long_ago, held_seconds=2)) == "throttled"
    held = svc.settings.submit_backpressure_max_seconds
    assert submit(svc, SubmitMessage(job_id=job.job_id, throttles=9, throttled_since=long_ago, held_seconds=held)) == "rejected"
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "submit_failed" and "429" in record.error.message


def test_provider_rejection_fails_the_job_and_announces_it(svc, provider_http, aws):
    provider_http.submit_status = 400
    job = accept(svc, dict(BODY))
    assert submit(svc, job.job_id) == "rejected"
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "provider_rejected"
    [event] = tap_events(aws)
    assert event["detail-type"] == "Job Failed" and event["detail"]["metadata"] == {"sku": "CUP-1"}


def test_a_job_that_is_not_queued_is_skipped(svc, provider_http):
    job = submitted_job(svc)
    assert submit(svc, job.job_id) == "skipped" and len(provider_http.submits) == 1


def test_auto_fails_over_on_refused_connections_and_timeouts_recording_every_attempt(svc_with, provider_http):
    def transport(request):
        if request.url.host == "api.atlascloud.ai":
            raise httpx.ConnectError("connection refused")
        if request.url.host == "api.evolink.ai":
            raise httpx.ReadTimeout("timed out")
        return provider_http(request)

    record = auto_v4_submitted_at_wavespeed(svc_with(transport), "provider_unavailable")
    assert "timed out" in record.attempts[1].message


def auto_v4_submitted_at_wavespeed(svc, skipped_as: str):
    """An ``auto`` seedream-v4 job (order Atlas Cloud, evolink, WaveSpeed, Replicate) submitted, the first two ``skipped_as``."""
    job = accept(svc, BODY | {"provider": "auto", "model": "seedream-v4"})
    assert job.provider_order == ["atlascloud", "evolink", "wavespeed", "fal", "replicate"]
    assert submit(svc, job.job_id) == "submitted"
    record = svc.store.get(job.job_id)
    assert record.provider == "wavespeed" and record.status == "submitted"
    assert [(a.provider, a.outcome) for a in record.attempts] == [
        ("atlascloud", skipped_as), ("evolink", skipped_as), ("wavespeed", "submitted")]
    return record


def test_when_every_provider_is_unavailable_the_job_stays_queued_for_the_queue_to_retry(svc_with):
    svc = svc_with(lambda request: httpx.Response(502, json={"message": "down"}))
    job = accept(svc, BODY | {"provider": "auto"})
    with pytest.raises(ProviderUnavailable):
        submit(svc, job.job_id)
    record = svc.store.get(job.job_id)
    assert record.status == "queued" and len(record.attempts) == 5  # one per provider


@pytest.fixture
def keys_removed(aws):
    """``keys_removed(*providers)`` empties those providers' ``api_key`` in the provider secret (restored after)."""
    session, resources = aws
    secrets = session.client("secretsmanager")
    secret_id = resources.functions["SubmitFunction"].environment["PROVIDER_SECRET_ARN"]
    original = secrets.get_secret_value(SecretId=secret_id)["SecretString"]

    def remove(*providers):
        document = json.loads(original)
        for name in providers:
            document[name] = {"api_key": ""}
        secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(document))

    yield remove
    secrets.put_secret_value(SecretId=secret_id, SecretString=original)


def test_a_provider_without_an_api_key_is_never_chosen_auto_goes_to_the_next(svc_with, provider_http, keys_removed):
    keys_removed("atlascloud", "evolink")
    record = auto_v4_submitted_at_wavespeed(svc_with(provider_http), "provider_not_configured")
    assert record.attempts[0].message == "the provider secret has no api_key for atlascloud"
    assert len(provider_http.submits) == 1  # only WaveSpeed was called


def test_a_job_whose_only_provider_has_no_api_key_fails_provider_not_configured(svc_with, provider_http, keys_removed,
                                                                                 aws):
    keys_removed("wavespeed")
    svc = svc_with(provider_http)
    job = accept(svc, dict(BODY))
    assert submit(svc, job.job_id) == "rejected"
    record = svc.store.get(job.job_id)
    assert record.status == "failed" and record.error.code == "provider_not_configured"
    assert "no provider of this job has an api_key in the provider secret (wavespeed)" in record.error.message
    assert provider_http.submits == []
    [event] = tap_events(aws)
    assert event["detail-type"] == "Job Failed" and event["detail"]["error"]["code"] == "provider_not_configured"
