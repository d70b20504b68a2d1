"""Deliver a job's lifecycle to its ``webhook``: Standard Webhooks messages, retried on the spec's schedule.

The webhook is one more subscriber of the lifecycle events on the bus (the single source of truth): an EventBridge
rule puts every ``Job Queued`` … ``Job Cancelled`` of the stack's own source on the webhook queue, and the delivery
function reads them, with the attempts it schedules itself (``DeliveryMessage``), off that queue.

- **A message** per job and move the job's ``webhook_events`` name: ``type`` ``job.<status>``; ``webhook-id``
  ``msg_`` + a UUID derived from the job id and the type, so a redelivered event makes the same message, and it is
  claimed once in the job's item (``webhook_messages``). Body ``{"type", "timestamp", "data"}``: ``timestamp`` when the
  job made the move (the event's ``at``), ``data`` the job as it is when the attempt is made (``views.WebhookJob``:
  small, outputs with ``s3_uri`` and presigned URLs valid ``WEBHOOK_PRESIGN_SECONDS``, 24 h, made again at each
  attempt; a ``job.queued`` message may already show a later status).
- **Attempts**: the first at once; after a failed one the next waits ``WEBHOOK_RETRY_SCHEDULE[attempt]`` seconds
  (the Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h) ± ``WEBHOOK_RETRY_JITTER``,
  or what a 429/503's ``Retry-After`` asks if that is longer (at most the schedule's longest wait). After the last
  attempt fails the message is ``exhausted``. 410 Gone stops every further message of the job
  (``webhook_stopped_at``); a destination that resolves to a non-public address is refused and not tried again.
- **Long waits**: SQS delays a message 900 s at most, so the next attempt is queued with ``due_at`` and a delay of
  ``min(wait, 900)``; a message received before it is due is queued again with the rest of the wait (a 24 h wait
  is 96 hops of 15 min: one short invocation each).
- **Records**: every attempt is appended to the job's ``webhook_deliveries`` (id, type, attempt, at, status code or
  error, next attempt), shown by ``GET /v1/jobs/{job_id}``. A delivery never changes the job's status or
  ``updated_at``.
- **Redelivery** (``redeliver``): the owner asks for the job's latest message again; one attempt, same
  ``webhook-id``, the next attempt number, sent even after a 410.

Time is injected (``now``: an aware datetime) and so is the jitter (``rng``), so the schedule is tested as deployed;
the ``webhook-timestamp`` a message is signed with is the sender's own clock (the moment it goes out).
"""

from __future__ import annotations

import json
import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools import Logger

from ..clock import iso, parse_iso
from ..errors import JobError
from ..models.messages import DeliveryMessage
from ..models.records import JobRecord, WebhookDelivery, WebhookMessage
from ..models.views import WebhookJob
from ..services import Services
from ..settings import Settings
from .read import owned

logger = Logger(child=True)

TYPES = {"Job Queued": "job.queued", "Job Submitted": "job.submitted", "Job Succeeded": "job.succeeded",
         "Job Failed": "job.failed", "Job Cancelled": "job.cancelled"}
"""Lifecycle event ``detail-type`` → webhook message ``type``."""
MESSAGE_IDS = uuid.UUID("0e3f7a52-8c1d-4b6e-9f20-5a7d3c9b1e64")
"""Namespace of the messages' ``webhook-id``s: ``msg_`` + ``uuid5(MESSAGE_IDS, "<job id>/<type>")``."""
MAX_SQS_DELAY_SECONDS = 900
MAX_DELIVERIES = 100
"""Attempts a job's record keeps at most: the schedule's 10 per message × 5 types, and room for redeliveries."""
EARLY_SECONDS = 0.5
"""A message received this little before it is due is attempted (SQS delays are whole seconds)."""


class WebhookConflict(JobError):
    """The job has no webhook message to send again (no ``webhook``, none made yet, or too many attempts). HTTP 409."""

    code = "webhook_not_set"
    http_status = 409


def webhook_id_of(job_id: str, type_: str) -> str:
    """The ``webhook-id`` of the job's ``type_`` message: the same for every attempt and every redelivered event."""
    return f"msg_{uuid.uuid5(MESSAGE_IDS, f'{job_id}/{type_}').hex}"


def next_wait(settings: Settings, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
    """Seconds before attempt ``attempt + 1`` after attempt ``attempt`` failed, or None when ``attempt`` was the last.

    ``WEBHOOK_RETRY_SCHEDULE[attempt]`` stretched or shrunk by up to ``WEBHOOK_RETRY_JITTER`` (a fraction), or the
    receiver's ``retry_after`` if longer, never more than the schedule's longest wait."""
    schedule = settings.webhook_retry_schedule
    if attempt >= len(schedule):
        return None
    jitter = settings.webhook_retry_jitter
    wait = schedule[attempt] * (1 + rng.uniform(-jitter, jitter))
    if retry_after is not None:
        wait = max(wait, min(retry_after, max(schedule)))
    return max(0.0, wait)


def on_lifecycle_event(svc: Services, detail_type: str, detail: dict, now: datetime | None = None,
                       rng: random.Random | None = None) -> str:
    """A lifecycle event from the bus: make the job's message for it and make its first attempt.

    Returns the outcome: ``ignored`` (not a job's lifecycle event), ``no_job``, ``no_webhook``, ``not_subscribed`` (the
    job's ``webhook_events`` leave it out), ``stopped`` (the webhook answered 410 before), ``duplicate`` (its message
    was made and tried before), or the attempt's (``_attempt``)."""
    svc.need("store", "blobs", "queues", "webhook_secret", "webhook_sender")
    now = now or datetime.now(UTC)
    type_ = TYPES.get(detail_type)
    job_id = detail.get("job_id") if isinstance(detail, dict) else None
    if type_ is None or not isinstance(job_id, str):
        return "ignored"
    record = svc.store.find(job_id)
    if record is None:
        return "no_job"
    if not record.request.webhook:
        return "no_webhook"
    if type_ not in record.request.webhook_events:
        return "not_subscribed"
    if record.webhook_stopped_at:
        return "stopped"
    webhook_id = webhook_id_of(job_id, type_)
    message = WebhookMessage(type=type_, timestamp=detail.get("at") or iso(now), created_at=iso(now))
    if not svc.store.open_webhook_message(job_id, webhook_id, message):
        record = svc.store.get(job_id)
        if any(d.id == webhook_id for d in record.webhook_deliveries):
            return "duplicate"
        # made by a receive that stopped before its first attempt was recorded: this one makes it
        message = (record.webhook_messages or {}).get(webhook_id, message)
    return _attempt(svc, record, webhook_id, message, 1, now=now,
                    rng=rng or random.Random())  # noqa: S311  # nosec B311 - jitter of retry delays, not a secret


def on_delivery(svc: Services, message: DeliveryMessage, now: datetime | None = None,
                rng: random.Random | None = None) -> str:
    """An attempt the delivery function scheduled (or a redelivery): wait on if it is not due yet, else make it.

    Returns ``waiting`` (queued again for the rest of its wait), ``no_job``, ``no_message``, ``no_webhook``, ``stopped``
    or the attempt's outcome (``_attempt``)."""
    svc.need("store", "blobs", "queues", "webhook_secret", "webhook_sender")
    now = now or datetime.now(UTC)
    remaining = (parse_iso(message.due_at) - now).total_seconds()
    if remaining > EARLY_SECONDS:
        svc.queues.send_delivery(message, delay_seconds=min(MAX_SQS_DELAY_SECONDS, math.ceil(remaining)))
        return "waiting"
    record = svc.store.find(message.job_id)
    if record is None:
        return "no_job"
    made = (record.webhook_messages or {}).get(message.webhook_id)
    if made is None:
        return "no_message"
    if not record.request.webhook:
        return "no_webhook"
    if record.webhook_stopped_at and not message.redelivery:
        return "stopped"
    return _attempt(svc, record, message.webhook_id, made, message.attempt, redelivery=message.redelivery, now=now,
                    rng=rng or random.Random())  # noqa: S311  # nosec B311 - jitter of retry delays, not a secret


def _attempt(svc: Services, record: JobRecord, webhook_id: str, message: WebhookMessage, attempt: int, *,
             now: datetime, rng: random.Random, redelivery: bool = False) -> str:
    """Send attempt ``attempt`` of the message, record it, queue the next one if there is one. Returns ``delivered``,
    ``failed`` (another attempt is queued, or none for a redelivery), ``exhausted`` (that was the last), ``gone``
    (410: the job's deliveries stop) or ``forbidden`` (the destination is not public: not tried again)."""
    presign_seconds = svc.settings.webhook_presign_seconds
    data = WebhookJob.of(record, lambda uri: svc.blobs.presign_get(uri, presign_seconds))
    body = json.dumps({"type": message.type, "timestamp": message.timestamp, "data": data.model_dump(mode="json")},
                      separators=(",", ":"), ensure_ascii=False)
    answer = svc.webhook_sender.send(record.request.webhook, webhook_id, body, svc.webhook_secret.keys())
    wait = None
    if answer.delivered:
        outcome = "delivered"
    elif answer.gone:
        outcome = "gone"
    elif answer.forbidden:
        outcome = "forbidden"
    elif redelivery:
        outcome = "failed"
    else:
        wait = next_wait(svc.settings, attempt, answer.retry_after, rng)
        outcome = "exhausted" if wait is None else "failed"
    next_at = iso(now + timedelta(seconds=wait)) if wait is not None else None
    svc.store.record_delivery(record.job_id, WebhookDelivery(
        id=webhook_id, type=message.type, attempt=attempt, at=iso(now), status_code=answer.status_code,
        error=answer.error, next_attempt_at=next_at, redelivery=redelivery), stop=answer.gone)
    if next_at is not None:
        svc.queues.send_delivery(DeliveryMessage(job_id=record.job_id, webhook_id=webhook_id, attempt=attempt + 1,
                                                 due_at=next_at),
                                 delay_seconds=min(MAX_SQS_DELAY_SECONDS, math.ceil(wait)))
    log = logger.info if answer.delivered else logger.warning
    log("webhook attempt", extra={"job_id": record.job_id, "webhook_id": webhook_id, "type": message.type,
                                  "attempt": attempt, "outcome": outcome, "status_code": answer.status_code,
                                  "error": answer.error, "next_attempt_at": next_at})
    return outcome


def redeliver(svc: Services, job_id: str, owner: str | None = None, now: datetime | None = None) -> dict:
    """Queue the job's latest webhook message once more (same ``webhook-id``, the next attempt number, one attempt),
    for the job's owner. Returns ``{"job_id", "webhook_id", "type", "attempt"}``.

    Raises ``JobNotFound``; ``WebhookConflict`` (409): ``webhook_not_set`` (the job has no ``webhook``),
    ``webhook_no_message`` (no message was made yet: none of its ``webhook_events`` has happened) or
    ``webhook_deliveries_full`` (``MAX_DELIVERIES`` attempts are recorded)."""
    svc.need("store", "queues")
    record = owned(svc, job_id, owner)
    if not record.request.webhook:
        raise WebhookConflict(f"job {job_id} has no webhook; give one in the request (webhook) to be told of its moves")
    messages = record.webhook_messages or {}
    if not messages:
        raise WebhookConflict(f"no webhook message was made for job {job_id} yet: one is made when the job makes a move "
                              f"its webhook_events name ({', '.join(record.request.webhook_events)})",
                              code="webhook_no_message")
    if len(record.webhook_deliveries) >= MAX_DELIVERIES:
        raise WebhookConflict(f"job {job_id} has {len(record.webhook_deliveries)} delivery attempts recorded, the most "
                              "one job keeps; no more redeliveries", code="webhook_deliveries_full")
    webhook_id, latest = max(messages.items(), key=lambda item: item[1].created_at)
    attempt = 1 + sum(1 for d in record.webhook_deliveries if d.id == webhook_id)
    svc.queues.send_delivery(DeliveryMessage(job_id=job_id, webhook_id=webhook_id, attempt=attempt,
                                             due_at=iso(now or datetime.now(UTC)), redelivery=True))
    logger.info("webhook redelivery queued", extra={"job_id": job_id, "webhook_id": webhook_id, "attempt": attempt})
    return {"job_id": job_id, "webhook_id": webhook_id, "type": latest.type, "attempt": attempt}
