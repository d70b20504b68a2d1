"""Intake: the S3 and EventBridge doors' one way in — ``accept``, exactly as ``POST /v1/jobs`` uses it.

The intake queue holds EventBridge events, as an EventBridge rule's SQS target delivers them (``read_arrival``):

- **S3 door** (rule on the default bus, where S3 sends): ``source: aws.s3``, ``Object Created`` in the
  stack's bucket for ``requests/<name>.json`` (layout: ``seedream.doors``). The manifest — the object
  version the event names — is read as the API reads a body (≤ 256 KiB, UTF-8 JSON, nesting ≤ 16:
  ``payloads``), its relative ``images`` become ``s3://<bucket>/requests/<name>/<path>``, and it is
  accepted. Refused → ``results/<name>.error.json`` holds the API's error body; nothing else is made.
- **EventBridge door** (rule on the stack's bus): ``Job Requested`` from any ``source`` but the stack's
  own, ``detail`` = the ``POST /v1/jobs`` body plus optional ``reference`` (string ≤ 256 characters) and
  ``task_token`` (a Step Functions task token, ≤ 2048). Refused → ``Job Rejected`` with the API's error
  body and the reference, and ``SendTaskFailure`` (``error`` = the code) for a task token.

One request, one job: the job's id is a UUID derived from the arrival's key — bucket, key and version
id (or, in a bucket without versioning, the event's sequencer and ETag), or the event id — and the job is
created by a conditional put. A redelivered arrival finds the job it made (``duplicate``); a job still
``queued`` is put on the submit queue again, in case the first delivery stopped between storing and
queueing it (submit is idempotent per job). The intake function also keys Powertools idempotency on
the arrival key, so a redelivered refusal is not answered twice. On the message's last receive, a
request that could not be accepted (``queue_unavailable`` or any other failure) is refused to its door.
"""

from __future__ import annotations

import functools
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from typing import Literal

from aws_lambda_powertools import Logger

from ..doors import image_key, manifest_name
from ..errors import InvalidRequest, JobError, ServiceUnavailable
from ..models.messages import SubmitMessage
from ..models.origins import Entry, EventBridgeOrigin, S3Origin
from ..models.records import JobRecord
from ..models.requests import BIDI_CONTROLS
from ..payloads import MAX_BODY_BYTES, check_depth, read_json, too_large
from ..services import Services
from ..settings import Settings
from ..store import Conflict
from .accept import accept

logger = Logger(child=True)

OBJECT_CREATED = "Object Created"
JOB_REQUESTED = "Job Requested"
MAX_REFERENCE_CHARS = 256
MAX_TASK_TOKEN_CHARS = 2048
JOB_IDS = uuid.UUID("6b1f2c4e-3d5a-4f7b-9e8c-0a1d2e3f4b5c")
"""Namespace of the doors' job ids: ``uuid5(JOB_IDS, arrival key)``."""

IntakeOutcome = Literal["accepted", "duplicate", "rejected", "ignored"]


@dataclass(frozen=True)
class Arrival:
    """A request read off the intake queue: its door, the key naming it across redeliveries, its origin,
    and (EventBridge door) the event's ``detail`` (a JSON object: EventBridge takes no other)."""

    door: Literal["s3", "eventbridge"]
    key: str
    origin: S3Origin | EventBridgeOrigin
    detail: dict | None = None

    @property
    def job_id(self) -> str:
        """The job this request makes: uuid5 of its ``key``, so a redelivered request finds the same job."""
        return str(uuid.uuid5(JOB_IDS, self.key))


@dataclass(frozen=True)
class IntakeResult:
    """``accepted`` (a job was made), ``duplicate`` (this request's job exists), ``rejected`` (refused to its
    door: ``error`` is the API's ``{"code", "message", "details"}``) or ``ignored`` (the manifest is gone)."""

    outcome: IntakeOutcome
    job_id: str | None = None
    error: dict | None = None

    def as_dict(self) -> dict:
        """``{"outcome", "job_id", "error"}``, as the handler logs it."""
        return asdict(self)


def read_arrival(settings: Settings, body: str) -> Arrival | None:
    """The intake queue message ``body`` as an ``Arrival``; None for an event that asks nothing of this stack
    (another bucket, a key outside ``requests/*.json``, another ``detail-type``, the stack's own ``source``).
    Raises ``ValueError`` when the body is not an EventBridge event at all.

    Parsed by Powertools' parser models: ``EventBridgeModel``, and for S3's ``Object Created``
    ``S3EventNotificationEventBridgeModel`` (the object's key, ``version-id``, ``sequencer`` and ``etag``, as
    "Amazon S3 Event Notifications with EventBridge" documents them)."""
    from pydantic import ValidationError

    event_model, s3_event_model = _models()
    try:
        event = event_model.model_validate_json(body)
        if event.detail_type == OBJECT_CREATED and event.source == "aws.s3":
            return _s3_arrival(settings, s3_event_model.model_validate_json(body))
    except ValidationError as exc:
        raise ValueError(f"the message is not an EventBridge event: {str(exc)[:300]}") from None
    if event.detail_type == JOB_REQUESTED and event.source != settings.event_source:
        origin = EventBridgeOrigin(event_id=event.id, source=event.source)
        return Arrival("eventbridge", f"eventbridge:{event.id}", origin, event.detail)
    return None


@functools.cache
def _models():
    """Powertools' ``EventBridgeModel`` and ``S3EventNotificationEventBridgeModel``, but ``account`` may be missing:
    AWS always sends it, moto's rule targets (the local stack's) leave it out, and nothing here reads it."""
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, S3EventNotificationEventBridgeModel

    class Event(EventBridgeModel):
        account: str = ""

    class S3Event(S3EventNotificationEventBridgeModel):
        account: str = ""

    return Event, S3Event


def _s3_arrival(settings: Settings, event) -> Arrival | None:
    bucket, item = event.detail.bucket.name, event.detail.object
    if bucket != settings.bucket or manifest_name(item.key) is None:
        return None
    version = item.version_id if item.version_id not in (None, "", "null") else None
    identity = f"version={version}" if version else f"sequencer={item.sequencer},etag={item.etag}"
    return Arrival("s3", f"s3://{bucket}/{item.key}#{identity}", S3Origin(bucket=bucket, key=item.key,
                                                                         version_id=version))


def intake(svc: Services, arrival: Arrival, final_attempt: bool = False) -> IntakeResult:
    """Accept ``arrival``'s request as ``POST /v1/jobs`` would, or refuse it to its door (module docstring).

    Raises what ``accept`` raises when the job could not be stored or queued (``ServiceUnavailable``, AWS
    errors), so the message is retried; on the ``final_attempt`` the request is refused to its door first."""
    svc.need("store", "queues", "blobs", "bus", "replies")
    existing = svc.store.find(arrival.job_id)
    if existing is not None:
        return _duplicate(svc, existing)
    reference = token = None
    try:
        if arrival.door == "s3":
            payload = _manifest(svc, arrival.origin)
            if payload is None:
                logger.warning("the manifest is gone", extra={"key": arrival.origin.key})
                return IntakeResult("ignored")
        else:
            payload = dict(arrival.detail)  # the token first: whatever else is wrong, the task hears of it
            token = _task_token(payload.pop("task_token", None))
            reference = _reference(payload.pop("reference", None))
            check_depth(payload)  # then the API's rules: nesting (EventBridge caps the size), the request
        entry = Entry(origin=arrival.origin, reference=reference, task_token=token, job_id=arrival.job_id)
        record = accept(svc, payload, entry=entry)
    except Conflict as conflict:  # a concurrent delivery of the same request stored it first
        return _duplicate(svc, conflict.current or svc.store.get(arrival.job_id))
    except InvalidRequest as exc:
        _refuse(svc, arrival, exc, reference, token)
        return IntakeResult("rejected", error=exc.to_body()["error"])
    except Exception as exc:
        if final_attempt:
            message = exc.message if isinstance(exc, JobError) else str(exc)
            _refuse(svc, arrival, ServiceUnavailable(f"the request could not be accepted after "
                                                     f"{svc.settings.intake_max_receives} tries: {message}"),
                    reference, token)
        raise
    return IntakeResult("accepted", record.job_id)


def _duplicate(svc: Services, record: JobRecord) -> IntakeResult:
    if record.status == "queued":
        svc.queues.send_submit(SubmitMessage(job_id=record.job_id))
    logger.info("request already taken", extra={"job_id": record.job_id, "status": record.status})
    return IntakeResult("duplicate", record.job_id)


def _refuse(svc: Services, arrival: Arrival, error: JobError, reference: str | None, token: str | None) -> None:
    if arrival.door == "eventbridge":
        svc.bus.job_rejected(arrival.origin, reference, error.to_body()["error"])
    svc.replies.refused(arrival.origin, error, token)
    logger.info("request refused", extra={"door": arrival.door, "code": error.code, "reference": reference})


def _manifest(svc: Services, origin: S3Origin) -> object | None:
    """The manifest's JSON with relative images resolved; None when the object (version) is gone."""
    found = svc.blobs.read(origin.key, origin.version_id, MAX_BODY_BYTES + 1)
    if found is None:
        return None
    data, size = found
    if size > MAX_BODY_BYTES:
        raise too_large(size)
    payload = read_json(data)
    if isinstance(payload, dict) and isinstance(payload.get("images"), list):
        name = manifest_name(origin.key)
        payload["images"] = [_image(origin.bucket, name, i, entry) for i, entry in enumerate(payload["images"])]
    return payload


def _image(bucket: str, name: str, index: int, entry: object) -> object:
    """A relative ``images`` entry → ``s3://<bucket>/requests/<name>/<path>``; URLs (and what is not a string)
    are left to the request's own rules."""
    if not isinstance(entry, str) or "://" in entry:
        return entry
    key = image_key(name, entry)
    if key is None:
        raise InvalidRequest(f"images.{index}: {entry[:120]!r} is not a path under requests/{name}/", details=[
            {"field": f"images.{index}", "message": "a relative image is a path under requests/<name>/ "
                                                    "(no leading /, no empty, . or .. segments)"}])
    return f"s3://{bucket}/{key}"


def _reference(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REFERENCE_CHARS or any(
            unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS for c in value):
        raise InvalidRequest(f"reference: must be a string of at most {MAX_REFERENCE_CHARS} characters without "
                             "control characters", details=[{"field": "reference", "limit": MAX_REFERENCE_CHARS,
                                                              "message": "a string of at most 256 characters"}])
    return value


def _task_token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_TASK_TOKEN_CHARS:
        raise InvalidRequest(f"task_token: must be a Step Functions task token (1-{MAX_TASK_TOKEN_CHARS} characters)",
                             details=[{"field": "task_token", "limit": MAX_TASK_TOKEN_CHARS,
                                       "message": "a string from $$.Task.Token"}])
    return value
