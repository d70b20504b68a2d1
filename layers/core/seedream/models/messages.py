"""What moves between the functions: the provider's completion in our terms, and queue message bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CompletionNotice(BaseModel):
    """What a provider's completion callback says, in our terms (built by the provider's adapter).

    ``status`` is ``succeeded`` or ``failed``; ``output_urls`` are the provider's (short-lived)
    URLs in output order; ``nsfw`` holds the provider's per-output flags where it sends them.
    """

    provider: str
    provider_task_id: str
    status: Literal["succeeded", "failed"]
    provider_status: str
    output_urls: list[str] = Field(default_factory=list)
    nsfw: list[bool] = Field(default_factory=list)
    error_message: str | None = None
    webhook_id: str | None = None


class SubmitMessage(BaseModel):
    """Body of a message on the submit queue."""

    job_id: str


class IngestMessage(BaseModel):
    """Body of a message on the ingest queue: which job, and what its callback said."""

    job_id: str
    notice: CompletionNotice
    received_at: str
