"""Where a job came from: its door (``origin``), and what that door adds to the request (``Entry``).

Three doors, one intake path (``usecases.accept``):

- ``http``: ``POST /v1/jobs``; ``caller`` is the IAM caller's ARN (API Gateway's ``requestContext.authorizer.iam.userArn``).
- ``s3``: a request manifest ``requests/<name>.json`` uploaded to the stack's bucket (S3 → EventBridge
  ``Object Created`` → intake queue); ``bucket``, ``key`` and ``version_id`` (null in an unversioned bucket).
- ``eventbridge``: a ``Job Requested`` event on the stack's bus; ``event_id`` is EventBridge's ``id``,
  ``source`` the event's ``source``.

The origin is stored on the job, shown by ``GET /v1/jobs/{job_id}`` and carried by every ``Job ...`` event.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class HttpOrigin(BaseModel):
    """A job made by ``POST /v1/jobs``."""

    type: Literal["http"] = "http"
    caller: str | None = None
    """The IAM caller's ARN."""


class S3Origin(BaseModel):
    """A job made from a manifest uploaded to ``requests/`` (the S3 door)."""

    type: Literal["s3"] = "s3"
    bucket: str
    key: str
    """The manifest's key, ``requests/<name>.json``."""
    version_id: str | None = None


class EventBridgeOrigin(BaseModel):
    """A job made from a ``Job Requested`` event: its EventBridge ``id`` (the job id derives from it) and ``source``."""

    type: Literal["eventbridge"] = "eventbridge"
    event_id: str
    source: str


Origin = Annotated[HttpOrigin | S3Origin | EventBridgeOrigin, Field(discriminator="type")]


class Entry(BaseModel):
    """What a door adds to a request when it hands it to ``accept``: stored on the job as it is.

    ``job_id`` is the door's deterministic id (from the object version or the event id), so a redelivered
    S3 event or ``Job Requested`` finds the job it already made instead of making another; empty for HTTP.
    ``task_token`` is a Step Functions task token (``events:putEvents.waitForTaskToken``), answered when
    the job ends; it is kept on the job's item and never shown.
    """

    origin: Origin
    reference: str | None = None
    task_token: str | None = None
    job_id: str | None = None
