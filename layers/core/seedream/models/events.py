"""``JobEvent``: the ``detail`` of every ``Job ...`` event on the stack's bus (``source`` = ``EVENT_SOURCE``).

``detail-type`` by status: ``Job Queued``, ``Job Submitted``, ``Job Succeeded``, ``Job Failed``,
``Job Cancelled``, and ``Job Rejected`` for a ``Job Requested`` event the intake refused (no job was made).
``at`` is when the job reached that status (``created_at``, ``submitted_at``, ``completed_at``; for a
rejection, when it was refused).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from . import JobStatus
from .origins import Origin
from .records import JobRecord

DETAIL_TYPES = {"queued": "Job Queued", "submitted": "Job Submitted", "succeeded": "Job Succeeded",
                "failed": "Job Failed", "cancelled": "Job Cancelled", "rejected": "Job Rejected"}
"""Status → ``detail-type``."""


class JobEvent(BaseModel):
    """The ``detail`` of a ``Job ...`` event (module docstring): what a subscriber needs without reading the job."""

    job_id: str | None
    """None only in ``Job Rejected``."""
    status: JobStatus | Literal["rejected"]
    origin: Origin | None = None
    reference: str | None = None
    provider: str | None = None
    model: str | None = None
    outputs: list[str] = Field(default_factory=list)
    """Output S3 URIs, in order (``Job Succeeded``)."""
    metadata: dict[str, str] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    """``{"code", "message"}`` of a failed job; in ``Job Rejected`` the API's error body ``{"code", "message", "details"}``."""
    at: str | None = None
    webhook_wanted: bool = False
    """True when the job has a ``webhook`` whose ``webhook_events`` name this event (``job.<status>``): the stack's
    ``WebhookEventsRule`` sends only these to the delivery function (the URL itself is never in the event)."""

    @classmethod
    def of(cls, record: JobRecord) -> JobEvent:
        """The event of ``record``'s current status; ``at`` is when it reached it (``updated_at`` if unset)."""
        at = {"queued": record.created_at, "submitted": record.submitted_at}.get(record.status, record.completed_at)
        request = record.request
        return cls(job_id=record.job_id, status=record.status, origin=record.origin, reference=record.reference,
                   provider=record.provider, model=record.model, outputs=[o.s3_uri for o in record.outputs],
                   metadata=record.metadata, error=record.error.model_dump() if record.error else None,
                   at=at or record.updated_at,
                   webhook_wanted=bool(request.webhook) and f"job.{record.status}" in request.webhook_events)

    @classmethod
    def rejected(cls, origin: Origin, reference: str | None, error: dict[str, Any], at: str) -> JobEvent:
        """``Job Rejected``: a request refused at the door (``error`` is the ``error`` of ``JobError.to_body()``)."""
        return cls(job_id=None, status="rejected", origin=origin, reference=reference, error=error, at=at)


class BusEvent(BaseModel):
    """An event as an EventBridge rule's SQS target delivers it, with only what the delivery function reads (the other
    envelope fields AWS adds — ``account``, ``region``, ``resources`` … — are not required: the local stack's
    EventBridge, moto, leaves some out)."""

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: dict[str, Any]
    time: str | None = None
    """When EventBridge received the event (ISO 8601); sent on to WebSocket subscribers."""
