"""``JobEvent``: the ``detail`` of ``Job Succeeded`` / ``Job Failed`` on the stack's bus."""

from __future__ import annotations

from pydantic import BaseModel

from . import JobStatus
from .records import ErrorInfo, JobRecord


class JobEvent(BaseModel):
    job_id: str
    status: JobStatus
    provider: str
    model: str
    outputs: list[str]
    """Output S3 URIs, in order."""
    metadata: dict[str, str]
    error: ErrorInfo | None = None
    completed_at: str | None = None

    @classmethod
    def of(cls, record: JobRecord) -> JobEvent:
        return cls(job_id=record.job_id, status=record.status, provider=record.provider, model=record.model,
                   outputs=[o.s3_uri for o in record.outputs], metadata=record.metadata, error=record.error,
                   completed_at=record.completed_at)
