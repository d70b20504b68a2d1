"""Callbacks: the webhook's accept path — what it answers, what it records, and how few AWS calls it makes."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from seedream.errors import Unauthorized
from seedream.usecases.callbacks import record_callback
from tests.support.signing import wavespeed_signature

from .usecase_helpers import WS_SECRET, callback, queue_bodies, serve_outputs, submitted_job


def test_a_valid_callback_is_recorded_and_queued_for_ingest_in_two_aws_calls(svc, provider_http, aws_calls):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    aws_calls.clear()
    outcome = callback(svc, provider_http, job.job_id, outputs=urls)
    assert outcome.status == "accepted"
    assert aws_calls == ["DynamoDB.UpdateItem", "SQS.SendMessage"]
    [message] = queue_bodies(svc, svc.settings.ingest_queue_url)
    assert message["notice"]["output_urls"] == urls
    record = svc.store.get(job.job_id)
    assert record.status == "submitted" and record.callback.provider_status == "completed"


@pytest.mark.parametrize("kind", ["token", "signature", "altered_body", "stale", "future", "missing"])
def test_a_rejected_callback_changes_nothing(svc, provider_http, aws_calls, kind):
    job = submitted_job(svc)
    before = svc.store.get(job.job_id)
    now = int(time.time())
    kwargs = {
        "token": {"token": "not-the-token"},
        "signature": {"headers": {"webhook-id": "w", "webhook-timestamp": str(now), "webhook-signature": "v3," + "0" * 64}},
        "altered_body": {"headers": {"webhook-id": "w", "webhook-timestamp": str(now),
                                     "webhook-signature": wavespeed_signature(WS_SECRET, "w", str(now), b'{"id":"x"}')}},
        "stale": {"timestamp": now - 301},
        "future": {"timestamp": now + 301},
        "missing": {"headers": {"webhook-id": "w", "webhook-timestamp": str(now)}},
    }[kind]
    aws_calls.clear()
    with pytest.raises(Unauthorized):
        callback(svc, provider_http, job.job_id, outputs=["https://cdn.test/x.png"], **kwargs)
    calls = list(aws_calls)
    # a bad signature is refused before any AWS call; a bad token by the one conditional update
    assert calls == (["DynamoDB.UpdateItem"] if kind == "token" else [])
    assert svc.store.get(job.job_id) == before
    assert queue_bodies(svc, svc.settings.ingest_queue_url) == []


def test_repeated_callbacks_are_acknowledged_and_queued_once(svc, provider_http, aws_calls):
    job = submitted_job(svc)
    urls = serve_outputs(provider_http, job.job_id, 2)
    assert callback(svc, provider_http, job.job_id, outputs=urls).status == "accepted"
    aws_calls.clear()
    assert [callback(svc, provider_http, job.job_id, outputs=urls).status for _ in range(2)] == ["duplicate"] * 2
    assert aws_calls == ["DynamoDB.UpdateItem"] * 2  # refused by the condition; the old item tells why
    assert len(queue_bodies(svc, svc.settings.ingest_queue_url)) == 1


def signed(body: bytes) -> dict:
    ts = str(int(time.time()))
    return {"webhook-id": "w", "webhook-timestamp": ts, "webhook-signature": wavespeed_signature(WS_SECRET, "w", ts, body)}


def test_a_signed_callback_for_an_unknown_job_or_at_another_providers_url_is_unauthorized(svc, provider_http):
    job = submitted_job(svc)
    token = parse_qs(urlsplit(provider_http.submits[-1]["webhook"]).query)["token"][0]
    body = json.dumps({"id": "pred-1", "status": "completed", "outputs": []}).encode()
    with pytest.raises(Unauthorized) as unknown:
        record_callback(svc, "wavespeed", "no-such-job", token, signed(body), body)
    with pytest.raises(Unauthorized) as elsewhere:
        record_callback(svc, "evolink", job.job_id, token, {}, body)  # evolink signs nothing: the token decides
    assert unknown.value.code == elsewhere.value.code == "token_invalid"
    assert svc.store.get(job.job_id).callback is None


def test_a_callback_for_another_provider_task_is_ignored(svc, provider_http):
    job = submitted_job(svc)
    token = parse_qs(urlsplit(provider_http.submits[-1]["webhook"]).query)["token"][0]
    body = json.dumps({"id": "someone-elses-task", "status": "completed", "outputs": []}).encode()
    outcome = record_callback(svc, "wavespeed", job.job_id, token, signed(body), body)
    assert (outcome.status, outcome.reason) == ("ignored", "callback is for another provider task")
    assert svc.store.get(job.job_id).callback is None


def test_a_non_final_status_is_acknowledged_without_any_aws_call(svc, provider_http, aws_calls):
    job = submitted_job(svc)
    aws_calls.clear()
    assert callback(svc, provider_http, job.job_id, status="processing").status == "ignored"
    assert aws_calls == []
