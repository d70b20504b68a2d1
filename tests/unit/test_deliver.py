"""Webhooks to callers (``usecases.deliver``): the messages a receiver gets, verified with the ``standardwebhooks``
library, the attempts the job records, and the Standard Webhooks retry schedule as deployed, driven by an injected
clock (no test waits for a delay).

The job goes through accept → submit → callback → ingest with the fake WaveSpeed; its webhook host
(``hooks.test``) is answered by a scripted ``MockReceiver``; what goes to the webhook queue is read off the real
``SendMessage`` calls (their ``DelaySeconds`` too)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest
from standardwebhooks import Webhook

from seedream.clock import iso, parse_iso
from seedream.errors import JobNotFound
from seedream.models.messages import DeliveryMessage
from seedream.settings import STANDARD_WEBHOOKS_SCHEDULE, Settings
from seedream.usecases.accept import accept
from seedream.usecases.deliver import WebhookConflict, on_delivery, on_lifecycle_event, redeliver, webhook_id_of
from seedream.webhook_secret import parse_keys
from seedream.webhook_sender import WebhookSender
from seedream.wiring import build_services
from tests.support.receivers import MockReceiver

from .conftest import EVERY_PART
from .usecase_helpers import BODY, callback, ingest_from_queue, queue_bodies, serve_outputs, submitted_job, tap_events

HOOK = "https://hooks.test/seedream"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class NoJitter:
    """An ``rng`` whose ``uniform`` is always the middle: each wait is the schedule's own."""

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2


class Sent:
    """The webhook queue's ``SendMessage`` calls, as sent (body and ``DelaySeconds``)."""

    def __init__(self):
        self.messages: list[tuple[dict, int]] = []

    def __call__(self, params, model, **_):
        if model.name == "SendMessage" and params["QueueUrl"].endswith("WebhookQueue"):
            self.messages.append((json.loads(params["MessageBody"]), params.get("DelaySeconds", 0)))

    def take(self) -> list[tuple[dict, int]]:
        taken, self.messages = self.messages, []
        return taken


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def receiver() -> MockReceiver:
    return MockReceiver(None)


@pytest.fixture
def hooks(aws, provider_http, receiver, sent):
    """Services with every part, the webhook host answered by ``receiver``, every other host by the fake WaveSpeed."""
    _, resources = aws
    env = {}
    for name in ("SubmitFunction", "WebhookFunction", "ApiFunction"):
        env |= resources.functions[name].environment
    settings = dataclasses.replace(Settings.from_env(env), max_output_bytes=1024 * 1024)
    session = boto3.session.Session(region_name="us-east-1")
    session.events.register("before-parameter-build.sqs.SendMessage", sent)

    def route(request: httpx.Request) -> httpx.Response:
        return receiver(request) if request.url.host == "hooks.test" else provider_http(request)

    svc = build_services(settings, EVERY_PART, session=session, http_transport=httpx.MockTransport(route),
                         resolver=lambda host, port: ["93.184.216.34"])
    receiver.secret = svc.webhook_secret.current()
    return svc


def succeeded_job(svc, provider_http, body: dict | None = None):
    job = submitted_job(svc, BODY | {"webhook": HOOK} | (body or {}))
    callback(svc, provider_http, job.job_id, outputs=serve_outputs(provider_http, job.job_id, 2))
    assert ingest_from_queue(svc) == ["succeeded"]
    return svc.store.get(job.job_id)


def lifecycle(svc, record, status: str, now: datetime = T0) -> str:
    detail_type = {"queued": "Job Queued", "submitted": "Job Submitted", "succeeded": "Job Succeeded",
                   "failed": "Job Failed", "cancelled": "Job Cancelled"}[status]
    return on_lifecycle_event(svc, detail_type, {"job_id": record.job_id, "status": status, "at": iso(T0)}, now=now,
                              rng=NoJitter())


def test_a_job_with_a_webhook_sends_one_signed_job_succeeded_message_and_records_it(hooks, provider_http, receiver, sent):
    record = succeeded_job(hooks, provider_http)
    before = hooks.store.get(record.job_id)
    assert lifecycle(hooks, record, "succeeded", now=datetime.now(UTC)) == "delivered"
    [got] = receiver.received
    assert got.problem is None  # standardwebhooks verified it with the key GET /v1/webhooks/default/secret gives
    assert got.headers["webhook-id"] == webhook_id_of(record.job_id, "job.succeeded")
    assert got.payload["type"] == "job.succeeded" and got.payload["timestamp"] == iso(T0)
    assert got.payload["data"]["status"] == "succeeded" and [o["index"] for o in got.payload["data"]["outputs"]] == [0, 1]
    [url] = {o["url"] for o in got.payload["data"]["outputs"][:1]}
    assert "X-Amz-Expires=86400" in url  # presigned for 24 h
    after = hooks.store.get(record.job_id)
    [attempt] = after.webhook_deliveries
    assert (attempt.type, attempt.attempt, attempt.status_code, attempt.error, attempt.next_attempt_at) == (
        "job.succeeded", 1, 200, None, None)
    assert (after.status, after.updated_at) == (before.status, before.updated_at)  # a delivery never changes the job
    assert sent.take() == []  # nothing more to send


def test_the_same_event_delivered_twice_makes_one_message(hooks, provider_http, receiver):
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "succeeded") == "delivered"
    assert lifecycle(hooks, record, "succeeded") == "duplicate"
    assert len(receiver.received) == 1


def test_only_the_events_the_job_names_are_sent_and_jobs_without_a_webhook_get_none(hooks, provider_http, receiver):
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "queued") == "not_subscribed"  # default: the terminal three
    plain = submitted_job(hooks)
    assert lifecycle(hooks, plain, "submitted") == "no_webhook"
    chosen = submitted_job(hooks, BODY | {"webhook": HOOK, "webhook_events": ["job.submitted"]})
    assert lifecycle(hooks, chosen, "submitted") == "delivered"
    assert [r.payload["type"] for r in receiver.received] == ["job.submitted"]


def test_the_retry_schedule_is_the_standard_webhooks_one_with_long_waits_chained_under_sqs_limit(
        hooks, provider_http, receiver, sent):
    receiver.default = 500
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "succeeded") == "failed"
    now, attempts_at, hops = T0, [T0], 0
    outcome = "failed"
    while outcome != "exhausted":
        [(body, delay)] = sent.take()
        assert 0 <= delay <= 900  # SQS's longest delay
        message = DeliveryMessage(**body)
        now += timedelta(seconds=delay)  # the clock: the message comes back when SQS lets it
        outcome = on_delivery(hooks, message, now=now, rng=NoJitter())
        if outcome == "waiting":
            hops += 1
            continue
        attempts_at.append(now)
    waits = [(b - a).total_seconds() for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert waits == list(STANDARD_WEBHOOKS_SCHEDULE[1:])  # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h
    assert hops == sum(-(-w // 900) - 1 for w in waits)  # e.g. a 24 h wait is 96 hops of 15 min
    deliveries = hooks.store.get(record.job_id).webhook_deliveries
    assert [d.attempt for d in deliveries] == list(range(1, 11)) and {d.status_code for d in deliveries} == {500}
    assert len({d.id for d in deliveries}) == 1  # one message, the same webhook-id on every attempt
    assert [parse_iso(d.next_attempt_at) for d in deliveries[:-1]] == attempts_at[1:]
    assert deliveries[-1].next_attempt_at is None and sent.take() == []  # exhausted: nothing more queued
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1 and len(receiver.received) == 10


def test_each_wait_is_jittered_within_ten_percent(hooks):
    import random

    from seedream.usecases.deliver import next_wait

    rng = random.Random(7)
    for attempt, base in enumerate(STANDARD_WEBHOOKS_SCHEDULE[1:], start=1):
        waits = {next_wait(hooks.settings, attempt, None, rng) for _ in range(50)}
        assert all(0.9 * base <= w <= 1.1 * base for w in waits) and len(waits) > 1
    assert next_wait(hooks.settings, 10, None, rng) is None


def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt_with_the_same_webhook_id(
        hooks, provider_http, receiver, sent):
    receiver.answers = [500, 503]
    record = succeeded_job(hooks, provider_http)
    now = datetime.now(UTC)
    assert lifecycle(hooks, record, "succeeded", now=now) == "failed"
    for expected in ("failed", "delivered"):
        [(body, _)] = sent.take()
        now = parse_iso(body["due_at"])
        assert on_delivery(hooks, DeliveryMessage(**body), now=now, rng=NoJitter()) == expected
    assert [r.problem for r in receiver.received] == [None] * 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert [(d.attempt, d.status_code) for d in hooks.store.get(record.job_id).webhook_deliveries] == [
        (1, 500), (2, 503), (3, 200)]


def test_410_stops_the_jobs_deliveries(hooks, provider_http, receiver, sent):
    receiver.answers = [410]
    record = submitted_job(hooks, BODY | {"webhook": HOOK, "webhook_events": ["job.submitted", "job.succeeded"]})
    assert lifecycle(hooks, record, "submitted") == "gone"
    assert sent.take() == []
    assert lifecycle(hooks, record, "succeeded") == "stopped"
    after = hooks.store.get(record.job_id)
    assert len(receiver.received) == 1 and after.webhook_stopped_at is not None
    assert after.webhook_deliveries[0].error.startswith("webhook_gone")


def test_a_redirect_is_a_failure_and_never_followed(hooks, provider_http, receiver, sent):
    receiver.answers = [(301, {"Location": "https://elsewhere.test/x"})]
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "succeeded") == "failed"
    assert [r.path for r in receiver.received] == ["/seedream"]  # elsewhere.test was never asked
    [attempt] = hooks.store.get(record.job_id).webhook_deliveries
    assert attempt.status_code == 301 and attempt.error.startswith("redirect") and attempt.next_attempt_at
    assert len(sent.take()) == 1


def test_retry_after_of_a_429_is_honoured(hooks, provider_http, receiver, sent):
    receiver.answers = [(429, {"Retry-After": "600"})]
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "succeeded") == "failed"
    [attempt] = hooks.store.get(record.job_id).webhook_deliveries
    assert parse_iso(attempt.next_attempt_at) - T0 == timedelta(seconds=600)  # not the schedule's 5 s
    [(body, delay)] = sent.take()
    assert delay == 600 and body["attempt"] == 2


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(hooks, provider_http, receiver, sent):
    receiver.answers = [httpx.ReadTimeout("no answer")]
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "succeeded") == "failed"
    [attempt] = hooks.store.get(record.job_id).webhook_deliveries
    assert attempt.status_code is None and attempt.error == "timeout: no answer within 15 s"


def test_redeliver_sends_the_latest_message_again_with_the_same_webhook_id(hooks, provider_http, receiver, sent):
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "succeeded") == "delivered"
    queued = redeliver(hooks, record.job_id, owner=None)
    assert queued == {"job_id": record.job_id, "webhook_id": webhook_id_of(record.job_id, "job.succeeded"),
                      "type": "job.succeeded", "attempt": 2}
    [(body, _)] = sent.take()
    assert on_delivery(hooks, DeliveryMessage(**body)) == "delivered"
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and second.problem is None
    assert [(d.attempt, d.redelivery) for d in hooks.store.get(record.job_id).webhook_deliveries] == [
        (1, False), (2, True)]


def test_a_failed_redelivery_is_not_retried(hooks, provider_http, receiver, sent):
    record = succeeded_job(hooks, provider_http)
    assert lifecycle(hooks, record, "succeeded") == "delivered"
    redeliver(hooks, record.job_id)
    receiver.default = 500
    [(body, _)] = sent.take()
    assert on_delivery(hooks, DeliveryMessage(**body)) == "failed"
    assert sent.take() == [] and hooks.store.get(record.job_id).webhook_deliveries[-1].next_attempt_at is None


def test_redeliver_is_refused_without_a_webhook_or_a_message_and_for_other_callers(hooks, provider_http):
    plain = accept(hooks, dict(BODY), owner="arn:alice")
    with pytest.raises(WebhookConflict) as no_webhook:
        redeliver(hooks, plain.job_id, "arn:alice")
    assert no_webhook.value.code == "webhook_not_set" and no_webhook.value.http_status == 409
    waiting = accept(hooks, BODY | {"webhook": HOOK}, owner="arn:alice")
    with pytest.raises(WebhookConflict) as no_message:
        redeliver(hooks, waiting.job_id, "arn:alice")
    assert no_message.value.code == "webhook_no_message"
    with pytest.raises(JobNotFound):
        redeliver(hooks, waiting.job_id, "arn:mallory")


def test_rotation_signs_with_every_key_so_old_and_new_keys_both_verify():
    old, new = "whsec_" + "A" * 32 + "b" * 32, "c" * 64
    keys = parse_keys(json.dumps({"key": new, "previous_keys": [old]}))
    assert keys == ["whsec_" + new, old]
    receiver_old = MockReceiver(old)  # a receiver that still holds the previous key
    sender = WebhookSender(httpx.Client(transport=httpx.MockTransport(receiver_old)),
                           resolver=lambda host, port: ["93.184.216.34"])
    answer = sender.send(HOOK, "msg_1", '{"type":"job.succeeded"}', keys)
    assert answer.delivered
    [got] = receiver_old.received
    assert got.problem is None and len(got.headers["webhook-signature"].split(" ")) == 2
    assert Webhook("whsec_" + new).verify(got.body, got.headers) == {"type": "job.succeeded"}


@pytest.mark.parametrize("secret", ['{"key": "short"}', '{"key": "' + "!" * 64 + '"}', "not json", '{"keys": []}'])
def test_a_malformed_signing_secret_is_a_configuration_error(secret):
    from seedream.errors import JobError

    with pytest.raises(JobError) as raised:
        parse_keys(secret)
    assert raised.value.code == "misconfigured"


@pytest.mark.parametrize(("url", "addresses", "why"), [
    ("https://hooks.test/x", ["10.0.0.7"], "non-public address"),
    ("https://hooks.test/x", ["93.184.216.34", "169.254.169.254"], "non-public address"),  # one bad address is enough
    ("https://hooks.test/x", [], "non-public address"),
    ("http://127.0.0.1:9/x", ["127.0.0.1"], "not https"),  # loopback only on the local stack
])
def test_the_destination_guard_refuses_what_is_not_public_and_sends_nothing(url, addresses, why):
    receiver = MockReceiver(None)
    sender = WebhookSender(httpx.Client(transport=httpx.MockTransport(receiver)), resolver=lambda host, port: addresses)
    answer = sender.send(url, "msg_1", "{}", ["whsec_" + "A" * 64])
    assert answer.forbidden and why in answer.error and receiver.received == []


def test_the_allowlist_refuses_other_hosts_but_loopback_on_the_local_stack_is_exempt():
    receiver = MockReceiver(None)
    sender = WebhookSender(httpx.Client(transport=httpx.MockTransport(receiver)), allow_loopback_http=True,
                           host_allowlist=(".invalid",), resolver=lambda host, port: ["93.184.216.34"])
    key = ["whsec_" + "A" * 64]
    assert "allowlist" in sender.send("https://hooks.test/x", "msg_1", "{}", key).error
    assert sender.send("http://127.0.0.1:9/x", "msg_1", "{}", key).delivered
    assert [r.path for r in receiver.received] == ["/x"]


def test_a_forbidden_destination_is_recorded_and_not_tried_again(aws, provider_http, receiver, sent, hooks):
    record = succeeded_job(hooks, provider_http)
    guarded = build_services(hooks.settings, EVERY_PART, session=boto3.session.Session(region_name="us-east-1"),
                             http_transport=httpx.MockTransport(receiver), resolver=lambda host, port: ["192.168.1.5"])
    assert on_lifecycle_event(guarded, "Job Succeeded", {"job_id": record.job_id, "at": iso(T0)}, now=T0) == "forbidden"
    [attempt] = hooks.store.get(record.job_id).webhook_deliveries
    assert attempt.error.startswith("webhook_url_forbidden") and attempt.next_attempt_at is None
    assert receiver.received == []


@pytest.mark.parametrize("webhook", ["https://10.1.2.3/hook", "https://metadata.google.internal/x", "http://hooks.test/x",
                                     "https://user:pw@hooks.test/x", "s3://bucket/key"])
def test_a_private_or_forged_webhook_is_refused_at_the_door(hooks, webhook):
    from seedream.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as refused:
        accept(hooks, BODY | {"webhook": webhook})
    assert refused.value.http_status == 422 and refused.value.details[0]["field"] == "webhook"


def test_only_events_a_jobs_webhook_asked_for_reach_the_webhook_queue(svc, aws):
    _, resources = aws
    wanted = accept(svc, BODY | {"webhook": HOOK, "webhook_events": ["job.queued", "job.succeeded"]})
    accept(svc, BODY | {"webhook": HOOK})  # the terminal three only: its Job Queued is not wanted
    accept(svc, dict(BODY))  # no webhook
    webhook_queue = resources.functions["DeliveryFunction"].environment["WEBHOOK_QUEUE_URL"]
    routed = queue_bodies(svc, webhook_queue)
    assert [(b["detail-type"], b["detail"]["job_id"], b["detail"]["webhook_wanted"]) for b in routed] == [
        ("Job Queued", wanted.job_id, True)]
    assert sorted(e["detail"]["webhook_wanted"] for e in tap_events(aws, every=True)) == [False, False, True]
