"""Live events over the WebSocket API: connect, subscribe, disconnect, and push each lifecycle event to the
connections subscribed to it (``functions/live`` runs the first three, ``functions/push`` the last).

The push is one more subscriber of the lifecycle events on the bus (the single source of truth): an EventBridge rule
puts every ``Job Queued`` … ``Job Cancelled`` of the stack's own source on the live queue, and the push function sends
each to the connections that asked for it. Owner scoping is the HTTP API's (``usecases.read.owned``): a connection is
opened by an IAM caller (``$connect`` is IAM-authorised; the caller's ARN is the owner), it can subscribe only to its
own jobs, and an event is sent to a subscriber only when the event's job has the subscriber's owner and came over
HTTP — checked again at push time, so a subscription never outlives a wrong answer.

Messages a client sends (the route is chosen by ``action``; AWS docs, "WebSocket API route selection expressions"):

- ``{"action": "subscribe", "job_id": "<job id>"}`` — one job. Answer ``{"type": "subscribed", "job_id": …,
  "current": {"detail-type": "Job Submitted", "detail": {…}}}``: the job as it is right after the subscription was
  stored (so no event falls between the two), shaped as its latest lifecycle event (``detail-type`` and ``detail``
  as on the bus).
- ``{"action": "subscribe", "all_jobs": true}`` — every job of the caller, from now on. Answer ``{"type":
  "subscribed", "all_jobs": true}``.
- A request that breaks these rules, or names a job that is not the caller's: ``{"type": "error", "error": {"code",
  "message"}}`` (``invalid_request``, ``job_not_found``); nothing is stored.

Messages a client receives, besides those answers: ``{"type": "event", "id", "source", "detail-type", "time",
"detail"}`` — the lifecycle event as EventBridge has it (``detail`` is ``models.events.JobEvent``). EventBridge and SQS
do not promise order: use ``detail.status`` and ``detail.at``; a terminal status is the job's last word.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ..connections import CONNECTION_TTL_SECONDS, job_topic, owner_topic
from ..errors import InvalidRequest, JobError, JobNotFound
from ..models.events import DETAIL_TYPES, BusEvent, JobEvent
from ..services import Services
from .read import owned

logger = Logger(child=True)

LIFECYCLE = frozenset(DETAIL_TYPES[s] for s in ("queued", "submitted", "succeeded", "failed", "cancelled"))
"""The ``detail-type``s a subscriber receives."""


class Forbidden(JobError):
    """``$connect`` without an IAM caller (the route must be IAM-authorised). HTTP 403."""

    code = "forbidden"
    http_status = 403


class SubscribeRequest(BaseModel):
    """``{"action": "subscribe", "job_id": "…"}`` or ``{"action": "subscribe", "all_jobs": true}``."""

    model_config = ConfigDict(extra="forbid")
    action: str = "subscribe"
    job_id: str | None = None
    all_jobs: bool = False

    @model_validator(mode="after")
    def one_scope(self) -> SubscribeRequest:
        """Raise ``ValueError`` (a 400 reply) unless the message subscribes to one job or to all of the caller's."""
        if self.action != "subscribe":
            raise ValueError(f"action must be 'subscribe', not {self.action!r}")
        if (self.job_id is not None) == self.all_jobs:
            raise ValueError("give either job_id (one job) or all_jobs: true (every job of yours)")
        if self.job_id is not None and not (1 <= len(self.job_id) <= 128):
            raise ValueError("job_id must be 1 to 128 characters")
        return self


def connect(svc: Services, connection_id: str, owner: str | None, connected_at_ms: int) -> None:
    """Record a new connection of the IAM caller ``owner`` (an ARN), opened at ``connected_at_ms`` (epoch ms, API
    Gateway's ``requestContext.connectedAt``). Raises ``Forbidden`` without a caller."""
    svc.need("connections")
    if not owner:
        raise Forbidden("the WebSocket API takes IAM-signed connections only")
    opened = datetime.fromtimestamp(connected_at_ms / 1000, UTC)
    svc.connections.open(connection_id, owner, opened.isoformat().replace("+00:00", "Z"),
                         int(opened.timestamp()) + CONNECTION_TTL_SECONDS)


def error_reply(error: JobError) -> dict:
    """The WebSocket message answering a refused ``subscribe``: ``{"type": "error", "error": {"code", "message"}}``."""
    return {"type": "error", "error": {"code": error.code, "message": error.message}}


def subscribe(svc: Services, connection_id: str, body: str | bytes | None) -> dict:
    """Subscribe the connection to what ``body`` (the client's JSON message) asks for; the answer to send back
    (module docstring). Never raises for the client's mistakes: they are ``{"type": "error"}`` answers."""
    svc.need("store", "connections")
    try:
        request = SubscribeRequest.model_validate(json.loads(body or "null"))
    except (ValueError, ValidationError) as exc:
        message = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()) \
            if isinstance(exc, ValidationError) else "the message is not a JSON object"
        return error_reply(InvalidRequest(message))
    connection = svc.connections.find(connection_id)
    if connection is None:  # $disconnect ran, or the TTL took it: nothing to subscribe
        return error_reply(JobError("this connection is closed", code="connection_gone", http_status=410))
    if request.all_jobs:
        svc.connections.subscribe(connection, owner_topic(connection.owner))
        return {"type": "subscribed", "all_jobs": True}
    topic = job_topic(request.job_id)
    svc.connections.subscribe(connection, topic)  # before the read: an event after it is pushed, one before it is read
    try:
        record = owned(svc, request.job_id, connection.owner)
    except JobNotFound as exc:
        svc.connections.unsubscribe(connection_id, topic)
        return error_reply(exc)
    current = {"detail-type": DETAIL_TYPES[record.status], "detail": JobEvent.of(record).model_dump(mode="json")}
    return {"type": "subscribed", "job_id": record.job_id, "current": current}


def disconnect(svc: Services, connection_id: str) -> int:
    """Forget the connection and its subscriptions; how many items went (0 when none were left)."""
    svc.need("connections")
    return svc.connections.remove(connection_id)


def push(svc: Services, event: BusEvent) -> dict[str, int]:
    """Send ``event`` to every connection subscribed to its job or to its owner's jobs; a connection answered 410 is
    removed. Returns ``{"sent": n, "gone": n}`` (both 0 for an event no one may see: another door's job, or one no
    longer stored). Raises botocore's ``ClientError`` for any other failure of DynamoDB or the management API."""
    svc.need("store", "connections", "socket_api")
    job_id = event.detail.get("job_id")
    if event.detail_type not in LIFECYCLE or not job_id:
        return {"sent": 0, "gone": 0}
    record = svc.store.find(job_id)
    if record is None or not record.owner or (record.origin is not None and record.origin.type != "http"):
        return {"sent": 0, "gone": 0}
    subscribers = {s.connection_id: s for topic in (job_topic(job_id), owner_topic(record.owner))
                   for s in svc.connections.subscribers(topic) if s.owner == record.owner}
    if not subscribers:
        return {"sent": 0, "gone": 0}
    data = json.dumps({"type": "event", "id": event.id, "source": event.source, "detail-type": event.detail_type,
                       "time": event.time, "detail": event.detail}, separators=(",", ":")).encode()
    sent = gone = 0
    for connection_id in sorted(subscribers):
        if svc.socket_api.post(connection_id, data):
            sent += 1
        else:
            gone += 1
            svc.connections.remove(connection_id)
            logger.info("connection gone", extra={"connection_id": connection_id, "job_id": job_id})
    return {"sent": sent, "gone": gone}
