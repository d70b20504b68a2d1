"""The generate use case (ModelArk) against moto and a fake ModelArk: each streamed image stored as it arrives, the
completion on the ingest queue, one generation per job, a cut stream failing the job keeping nothing, a cancel
mid-stream, a 429 queued again and its last try, and the sweep's rules for a job without a task API."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import httpx

from seedream.models import iso
from seedream.models.messages import GenerateMessage, IngestMessage, parse
from seedream.queues import Queues
from seedream.usecases.accept import accept
from seedream.usecases.generate import generate
from seedream.usecases.ingest import ingest
from seedream.usecases.reconcile import reconcile_job
from seedream.usecases.submit import submit

from .usecase_helpers import BODY, output_keys, png_bytes, queue_bodies, tap_events

ARK = BODY | {"provider": "modelark", "size": "2048*2048", "max_images": 3}


def handed(svc, provider_http, body=ARK) -> GenerateMessage:
    """A ModelArk job submitted: its message from the ModelArk queue."""
    provider_http.outputs["/ark/template.png"] = png_bytes(2048, 2048)
    job = accept(svc, dict(body))
    assert submit(svc, job.job_id) == "submitted"
    [message] = queue_bodies(svc, svc.settings.generate_queue_url)
    return GenerateMessage(**message)


def test_submit_hands_a_modelark_job_to_the_generate_queue_with_our_task_id(svc, provider_http):
    message = handed(svc, provider_http)
    job = svc.store.get(message.job_id)
    assert job.status == "submitted" and job.provider == "modelark" and job.provider_task_id == message.provider_task_id
    assert message.provider_task_id.startswith("ark-") and message.attempt == 1
    assert provider_http.generations == []  # nothing is sent to ModelArk by submit


def test_each_image_is_stored_as_it_arrives_and_the_completion_goes_to_ingest(svc, provider_http, aws):
    message = handed(svc, provider_http)
    assert generate(svc, message) == "completed"
    job = svc.store.get(message.job_id)
    assert sorted(job.stored_outputs) == ["0", "1", "2"] and job.callback.via == "stream"
    assert job.lease_owner is None  # released before the ingest message, so ingest can take its own
    [body] = queue_bodies(svc, svc.settings.ingest_queue_url)
    notice = body["notice"]
    assert notice["via"] == "stream" and notice["generated_images"] == 3 and len(notice["output_urls"]) == 3
    gets = dict(provider_http.output_gets)
    assert ingest(svc, parse(IngestMessage, json.dumps(body))) == "succeeded"
    assert provider_http.output_gets == gets  # ingest kept every stored image (ETag checked): nothing fetched again
    done = svc.store.get(message.job_id)
    assert done.status == "succeeded" and len(done.outputs) == 3 and done.estimated_cost_usd == 0.12
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Succeeded"]


def test_a_redelivered_message_never_generates_again(svc, provider_http):
    message = handed(svc, provider_http)
    provider_http.ark_cut_after = 1
    assert generate(svc, message) == "failed"
    assert generate(svc, message) == "skipped"
    assert len(provider_http.generations) == 1


def test_a_cut_stream_fails_the_job_and_deletes_what_it_stored(svc, provider_http, aws):
    message = handed(svc, provider_http)
    provider_http.ark_cut_after = 2  # two images, then the stream ends without completed/[DONE]
    assert generate(svc, message) == "failed"
    job = svc.store.get(message.job_id)
    assert job.status == "failed" and job.error.code == "provider_stream_cut"
    assert output_keys(svc, message.job_id) == [] and queue_bodies(svc, svc.settings.ingest_queue_url) == []
    assert [e["detail-type"] for e in tap_events(aws)] == ["Job Failed"]


def test_a_cancel_mid_stream_closes_it_and_deletes_what_was_stored(svc, provider_http, aws):
    message = handed(svc, provider_http)

    def cancel_before_the_second(index):
        if index == 1:
            svc.store.mark_cancelled(message.job_id)  # as the API's cancel does, between two images

    provider_http.ark_between = cancel_before_the_second
    assert generate(svc, message) == "cancelled"
    assert output_keys(svc, message.job_id) == [] and svc.store.get(message.job_id).status == "cancelled"
    assert queue_bodies(svc, svc.settings.ingest_queue_url) == []


class SentGenerations(Queues):
    """The ModelArk queue's messages as sent, with their delay (``sent``), instead of sending them."""

    def __init__(self, queues: Queues):
        super().__init__(queues.sqs, queues.submit_url, queues.ingest_url, queues.webhook_url, queues.generate_url)
        self.sent: list[tuple[GenerateMessage, int]] = []

    def send_generate(self, message: GenerateMessage, delay_seconds: int = 0) -> None:
        self.sent.append((message, delay_seconds))


def test_a_429_queues_the_generation_again_with_its_retry_after_and_the_last_try_fails(svc, svc_with, provider_http):
    message = handed(svc, provider_http)
    provider_http.ark_status, provider_http.submit_headers = 429, {"Retry-After": "7"}
    queues = SentGenerations(svc.queues)
    svc = svc_with(provider_http, queues=queues)
    sent = queues.sent
    assert generate(svc, message) == "retrying"
    job = svc.store.get(message.job_id)
    assert job.status == "submitted" and job.generation_started_at is None and job.lease_owner is None
    [(again, delay)] = sent
    assert again == GenerateMessage(message.job_id, message.provider_task_id, attempt=2)
    assert 7 <= delay <= 9  # the Retry-After, with up to 25 % jitter
    last = GenerateMessage(job_id=message.job_id, provider_task_id=message.provider_task_id,
                           attempt=svc.settings.modelark_max_attempts)
    assert generate(svc, last) == "failed"
    assert svc.store.get(message.job_id).error.code == "submit_failed"


def test_the_sweep_waits_for_a_queued_generation_and_ends_a_lost_one(svc, provider_http):
    message = handed(svc, provider_http)
    later = datetime.now(UTC) + timedelta(hours=1)  # past the first deadline, before the task limit
    assert reconcile_job(svc, message.job_id, later) == ("still_running", 0)  # still in the ModelArk queue
    svc.store.start_generation(message.job_id, "lost-invocation", iso(datetime.now(UTC)), iso(datetime.now(UTC)))
    outcome, reads = reconcile_job(svc, message.job_id, later + timedelta(hours=1))  # its next look
    job = svc.store.get(message.job_id)
    assert (outcome, reads, job.status, job.error.code) == ("provider_stream_lost", 0, "failed", "provider_stream_lost")


def test_auto_fails_over_across_all_six_hosts_when_the_preference_names_modelark(svc, svc_with, provider_http):
    """ModelArk is out of ``auto``'s default order; named by ``PROVIDER_PREFERENCE`` it is the last host ``auto`` falls
    back to: the five callback hosts answer 503 at submit, the job goes to the generate function and succeeds there."""
    every = ("atlascloud", "evolink", "fal", "wavespeed", "replicate", "modelark")
    preferring = dataclasses.replace(svc.settings, provider_preference={"seedream-v4.5": every})

    def five_down(request):
        if request.url.host in ("ark.test", "cdn.test"):
            return provider_http(request)
        return httpx.Response(503, json={"message": "down"})

    svc = svc_with(five_down, settings=preferring)
    provider_http.outputs["/ark/template.png"] = png_bytes(2048, 2048)
    job = accept(svc, ARK | {"provider": "auto"})
    assert job.provider_order == list(every)
    assert submit(svc, job.job_id) == "submitted"
    record = svc.store.get(job.job_id)
    assert [(a.provider, a.outcome) for a in record.attempts] == [
        *((name, "provider_unavailable") for name in every[:5]), ("modelark", "submitted")]
    [message] = queue_bodies(svc, svc.settings.generate_queue_url)
    assert generate(svc, GenerateMessage(**message)) == "completed"
    [completion] = queue_bodies(svc, svc.settings.ingest_queue_url)
    assert ingest(svc, parse(IngestMessage, json.dumps(completion))) == "succeeded"
    done = svc.store.get(job.job_id)
    assert (done.status, done.provider, len(done.outputs)) == ("succeeded", "modelark", 3)
