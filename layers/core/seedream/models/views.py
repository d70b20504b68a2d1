"""``JobView``: the job as ``GET /v1/jobs/{job_id}`` shows it (and as the demo prints it)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from . import JobStatus
from .records import Attempt, ErrorInfo, JobRecord, Output, ReconcileRecord
from .requests import JobRequest


class OutputView(Output):
    url: str
    """Presigned GET URL of the object, valid ``PRESIGN_SECONDS``."""


class JobView(BaseModel):
    job_id: str
    status: JobStatus
    provider: str
    model: str
    request: JobRequest
    metadata: dict[str, str] = Field(default_factory=dict)
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

    @classmethod
    def of(cls, record: JobRecord, presign: Callable[[str], str]) -> JobView:
        """The view of ``record``; ``presign(s3_uri)`` gives each output's URL."""
        data = record.model_dump(include=set(cls.model_fields) - {"outputs"})
        outputs = [OutputView(**o.model_dump(), url=presign(o.s3_uri)) for o in record.outputs]
        return cls.model_validate(data | {"outputs": outputs}, context={"stored": True})
