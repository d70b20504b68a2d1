"""``JobView``: the job as ``GET /v1/jobs/{job_id}`` shows it (and as the demo prints it); ``JobDocument``: the
same job as a door hands it back (``results/<name>.json``, a Step Functions task's output), with ``s3_uri``s only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from . import JobStatus
from .origins import Origin
from .records import Attempt, ErrorInfo, JobRecord, Output, ReconcileRecord, WebhookDelivery
from .requests import JobRequest


class OutputView(Output):
    """A stored output as the API shows it: the S3 object and a presigned URL to it."""

    url: str
    """Presigned GET URL of the object, valid ``PRESIGN_SECONDS``."""


class JobView(BaseModel):
    """A job as ``GET /v1/jobs/{job_id}`` and the listing show it (no callback token, no internal bookkeeping)."""

    job_id: str
    status: JobStatus
    provider: str
    model: str
    request: JobRequest
    metadata: dict[str, str] = Field(default_factory=dict)
    origin: Origin | None = None
    """The door it came by: ``{"type": "http", "caller"}``, ``{"type": "s3", "bucket", "key", "version_id"}`` or
    ``{"type": "eventbridge", "event_id", "source"}``."""
    reference: str | None = None
    provider_task_id: str | None = None
    created_at: str
    updated_at: str
    submitted_at: str | None = None
    completed_at: str | None = None
    outputs: list[OutputView] = Field(default_factory=list)
    error: ErrorInfo | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    provider_order: list[str] = Field(default_factory=list)
    estimated_cost_usd: float | None = None
    outputs_dropped: int = 0
    deadline_at: str | None = None
    """While open: when the service checks on the job if the provider has not called back."""
    reconcile: ReconcileRecord = Field(default_factory=ReconcileRecord)
    cancelled_at: str | None = None
    webhook_deliveries: list[WebhookDelivery] = Field(default_factory=list)
    """Every attempt to deliver a message to ``request.webhook``, oldest first (id, type, attempt, at, status code
    or error, next attempt)."""
    webhook_stopped_at: str | None = None
    """When the webhook answered 410 Gone (no further message of the job is sent)."""

    @classmethod
    def of(cls, record: JobRecord, presign: Callable[[str], str]) -> JobView:
        """The view of ``record``; ``presign(s3_uri)`` gives each output's URL. ``record``'s parts (request, origin,
        attempts, …) are taken as they are, not dumped and validated again."""
        outputs = [OutputView(**dict(o), url=presign(o.s3_uri)) for o in record.outputs]
        return cls.model_validate(_fields(cls, record) | {"outputs": outputs})


class JobDocument(JobView):
    """The job as its door hands it back when it ends: ``results/<name>.json`` (S3 door) and the output of
    ``SendTaskSuccess`` (Step Functions). The fields of ``JobView``, but outputs carry their ``s3_uri`` and no
    presigned ``url`` (a document kept in S3 or in an execution's history would outlive the URL)."""

    outputs: list[Output] = Field(default_factory=list)

    @classmethod
    def of(cls, record: JobRecord, presign: Callable[[str], str] | None = None) -> JobDocument:
        """The document of ``record`` (``presign`` is not used: there are no URLs in it)."""
        return cls.model_validate(_fields(cls, record) | {"outputs": record.outputs})


def _fields(view: type[BaseModel], record: JobRecord) -> dict:
    """``record``'s values of ``view``'s fields but ``outputs``: its validated models, shared rather than copied
    (pydantic takes an instance of a field's own model class without validating it again)."""
    return {name: getattr(record, name) for name in view.model_fields if name != "outputs"}


class ProviderEstimate(BaseModel):
    """One provider ``auto`` would try for a dry-run request, in order, with its price for the job."""

    provider: str
    estimated_cost_usd: float
    """The job's price in USD at this provider if it makes all ``max_images`` (its price table: ``GET /v1/models``)."""


class DryRun(BaseModel):
    """``POST /v1/jobs?dry_run=true``: what a real request with this body would be given, nothing created."""

    dry_run: Literal[True] = True
    provider: str
    """The provider tried first (the job's ``provider`` when it is accepted)."""
    provider_order: list[str]
    """Every provider that takes the request, in the order they would be tried (``auto``: cheapest first, or the
    deployment's ``PROVIDER_PREFERENCE``)."""
    model: str
    max_images: int
    size: str
    estimated_cost_usd: float
    """At ``provider``, if it makes all ``max_images`` (what the job's ``estimated_cost_usd`` starts at)."""
    estimates: list[ProviderEstimate]
    """The same at each provider of ``provider_order``."""
    missing_images: list[str] = Field(default_factory=list)
    """``s3://`` sources in the stack's bucket that do not exist (yet): a real request is refused (422
    ``invalid_request``) until they are uploaded. Every other rule holds."""


class ModelOffer(BaseModel):
    """One model at one provider: the limits the door holds a request to and the price it estimates with
    (``seedream.providers``' tables, the same the door checks). Sides in pixels, ``*_pixels`` in W×H."""

    model: str
    provider: str
    provider_model: str
    """The provider's own id (or path) for the model."""
    max_input_images: int
    max_outputs: int
    max_references_plus_outputs: int
    """Source images + ``max_images`` at most."""
    min_side: int
    max_side: int
    min_pixels: int
    max_pixels: int
    max_aspect_ratio: float
    """The longer side over the shorter at most (16: 1:16 to 16:1)."""
    sizes: list[str]
    """The only ``W*H`` taken; empty: any size within the ranges."""
    max_prompt_chars: int
    accepts_seed: bool
    price_usd: float | None
    """USD per ``price_basis`` unit."""
    price_basis: Literal["per_run", "per_image_requested", "per_image_produced"]
    """``per_run``: one price per job; ``per_image_requested``: × ``max_images``; ``per_image_produced``: × outputs."""
    price_documented: bool
    """True: the provider's published price; False: a default the deployment may set (README, "Models and prices")."""


class ModelList(BaseModel):
    """``GET /v1/models``: every model at every provider."""

    models: list[ModelOffer]


class WebhookJob(BaseModel):
    """The job as a webhook message carries it (the message's ``data``): kept small, so no request (the caller
    sent it), provider attempts, sweep record or deliveries. Each output has its ``s3_uri`` and a presigned ``url``
    valid ``WEBHOOK_PRESIGN_SECONDS`` (24 h by default), made again at every attempt of the message."""

    job_id: str
    status: JobStatus
    provider: str
    model: str
    metadata: dict[str, str] = Field(default_factory=dict)
    origin: Origin | None = None
    reference: str | None = None
    created_at: str
    updated_at: str
    submitted_at: str | None = None
    completed_at: str | None = None
    cancelled_at: str | None = None
    outputs: list[OutputView] = Field(default_factory=list)
    outputs_dropped: int = 0
    error: ErrorInfo | None = None
    estimated_cost_usd: float | None = None

    @classmethod
    def of(cls, record: JobRecord, presign: Callable[[str], str]) -> WebhookJob:
        """The message data of ``record``; ``presign(s3_uri)`` gives each output's URL."""
        data = record.model_dump(include=set(cls.model_fields) - {"outputs"})
        outputs = [OutputView(**o.model_dump(), url=presign(o.s3_uri)) for o in record.outputs]
        return cls.model_validate(data | {"outputs": outputs})
