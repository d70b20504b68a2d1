"""``JobRecord``: the job as the jobs table keeps it (one item per job, keyed by ``job_id``).

Fields only the table needs (the callback token's hash, the recorded callback, the outputs an
unfinished ingest has already stored, when the terminal event went out) live here and never in
the API view (``views.JobView``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..lifecycle import JobClock
from . import JobStatus
from .origins import Origin
from .requests import JobRequest


class Output(BaseModel):
    """One stored output image. ``bytes`` is the object size; ``width``/``height`` in pixels; ``sha256`` hex."""

    index: int
    s3_uri: str
    content_type: str
    bytes: int
    width: int
    height: int
    sha256: str
    size_mismatch: bool = False
    """The image is not the ``W*H`` the request asked for (kept, flagged, counted in ``OutputSizeMismatch``)."""


class StoredOutput(Output):
    """An output an unfinished ingest has written and verified: ``etag`` pins the S3 object, and
    ``provider_task_id`` the task it came from, so a retry keeps it only for the same task."""

    etag: str
    provider_task_id: str


class ErrorInfo(BaseModel):
    """Why a job failed: an error ``code`` (README, "Error codes on failed jobs") and a message a person can act on."""

    code: str
    message: str


class Attempt(BaseModel):
    """One hand-off of the job to a provider, successful or not."""

    provider: str
    at: str
    outcome: Literal["submitted", "provider_unavailable", "provider_rejected", "provider_not_configured"]
    """``provider_not_configured``: the provider secret has no ``api_key`` for it, so it was skipped untried."""
    provider_task_id: str | None = None
    message: str | None = None


class CallbackRecord(BaseModel):
    """The provider's completion that was accepted for the job: by its callback (``via`` ``webhook``)
    or by the reconcile sweep's status read (``reconcile``). A new one is accepted only once the
    ingest of this one has failed (``ingest_failed_at``)."""

    received_at: str
    provider_status: str
    provider_task_id: str
    webhook_id: str | None = None
    via: Literal["webhook", "reconcile", "stream"] = "webhook"
    ingest_failed_at: str | None = None
    ingest_error: str | None = None


class WebhookDelivery(BaseModel):
    """One attempt to deliver a webhook message to the job's ``webhook`` (``usecases.deliver``).

    ``id`` is the message's ``webhook-id`` (the same on every attempt of one message), ``type`` its ``job.<status>``,
    ``attempt`` counts from 1 per message, ``at`` is when it was made. ``status_code`` is the receiver's HTTP answer
    (None when there was none); ``error`` says why the attempt failed (a code: ``timeout``, ``connect_failed``,
    ``http_status``, ``redirect``, ``webhook_gone``, ``webhook_url_forbidden``; then ``: `` and the detail), None
    when it was delivered. ``next_attempt_at``: when the message is tried again, None when it will not be (delivered,
    gone, out of attempts, or a redelivery: one attempt only)."""

    id: str
    type: str
    attempt: int
    at: str
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: str | None = None
    redelivery: bool = False


class WebhookMessage(BaseModel):
    """A webhook message made for the job (table only, keyed by its ``webhook-id``): what every attempt of it
    sends again. ``timestamp`` is the payload's (when the job made the move), ``created_at`` when the message was made."""

    type: str
    timestamp: str
    created_at: str


class ReconcileRecord(BaseModel):
    """What the reconcile sweep has done for the job: status reads made at the provider, the last one."""

    reads: int = 0
    last_read_at: str | None = None
    last_provider_status: str | None = None


class JobRecord(BaseModel):
    """The jobs table item."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    status: JobStatus
    provider: str
    model: str
    request: JobRequest
    owner: str | None = None
    """Who created the job: the IAM caller's ARN (HTTP API). Only the owner sees or cancels it (a job that came
    by S3 or EventBridge has none: its door gives its results back)."""
    origin: Origin | None = None
    """The door the job came by (``models.origins``); None only on jobs stored before doors were recorded."""
    reference: str | None = None
    """The caller's own reference (``Job Requested``'s ``reference``), carried to the job's events."""
    metadata: dict[str, str] = Field(default_factory=dict)
    provider_order: list[str] = Field(default_factory=list)
    """Providers to try, in order (one entry unless ``request.provider`` is ``auto``)."""
    provider_task_id: str | None = None
    provider_urls: dict[str, str] = Field(default_factory=dict)
    """The URLs the provider answered the submit with for its task (fal.ai: ``status_url``, ``response_url``,
    ``cancel_url``), used as given for status reads and cancels; empty for the other providers."""
    created_at: str
    updated_at: str
    submitted_at: str | None = None
    completed_at: str | None = None
    outputs: list[Output] = Field(default_factory=list)
    """The complete, verified output set; set only together with ``succeeded``."""
    error: ErrorInfo | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    estimated_cost_usd: float | None = None
    """The job's price in USD from its provider's price table: while open, at its current provider if it makes all
    ``max_images`` (set when accepted, again at each hand-off); once succeeded, for what it made as the provider bills."""
    outputs_dropped: int = 0
    """Outputs the provider sent beyond the request's ``max_images``: never stored."""
    deadline_at: str | None = None
    """When the reconcile sweep looks at the job if it is still open (see ``seedream.lifecycle``)."""
    reconcile: ReconcileRecord = Field(default_factory=ReconcileRecord)
    cancelled_at: str | None = None
    webhook_deliveries: list[WebhookDelivery] = Field(default_factory=list)
    """Every attempt to deliver a webhook message of the job, oldest first (``usecases.deliver``)."""
    webhook_stopped_at: str | None = None
    """When the ``webhook`` answered 410 Gone: no further message of this job is sent (a redelivery still is)."""
    # table-only fields
    webhook_messages: dict[str, WebhookMessage] | None = None
    """The webhook messages made for the job, by ``webhook-id`` (``{}`` from the start on a job with a ``webhook``,
    so each message is claimed by a conditional write of its own key)."""
    open_shard: str | None = None
    """``"open"`` while the job is open: with ``deadline_at`` the key of the sparse ``OpenJobsByDeadline`` index."""
    callback_token_sha256: str | None = None
    callback: CallbackRecord | None = None
    stored_outputs: dict[str, StoredOutput] = Field(default_factory=dict)
    """Outputs an unfinished ingest has already stored, by index; removed when the job finishes."""
    event_published_at: str | None = None
    announce_claimed_at: str | None = None
    """When the terminal move (or a later announcer) claimed the job's terminal event (``seedream.lifecycle``)."""
    enqueued_at: str | None = None
    """When the job's current submit message was sent (``created_at``, or its re-queue after a provider's 429)."""
    lease_owner: str | None = None
    """The ingest invocation at work on the job (its Lambda request id), until ``lease_until``."""
    lease_until: str | None = None
    generation_started_at: str | None = None
    """When the generate function began the job's one generation at a synchronous provider (ModelArk); a job with it
    set may have outputs in S3 before any completion is recorded, and is never generated again."""
    task_token: str | None = None
    """The Step Functions task token of a ``Job Requested`` (``SendTaskSuccess``/``SendTaskFailure`` when it ends)."""

    def clock(self) -> JobClock:
        """What the lifecycle's deadline rules look at (``seedream.lifecycle.DeadlinePolicy.judge``)."""
        completion = self.callback
        return JobClock(status=self.status, enqueued_at=self.enqueued_at or self.created_at,
                        submitted_at=self.submitted_at,
                        completion_at=completion.received_at if completion and not completion.ingest_failed_at else None,
                        completion_failed=bool(completion and completion.ingest_failed_at), lease_until=self.lease_until)

    @classmethod
    def stored(cls, item: dict) -> JobRecord:
        """A record read back from the table (its request was held to the door's rules when it came in;
        the local stack's loopback URLs, for one, are not re-judged without that stack's context)."""
        return cls.model_validate(item, context={"stored": True})
