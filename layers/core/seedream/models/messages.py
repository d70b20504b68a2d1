"""What moves between the functions: the provider's completion in our terms, and queue message bodies.

Stdlib dataclasses, not pydantic models: the webhook builds and sends them on its hot path and
imports no pydantic at all (the first pydantic model of a process costs ~40 ms of cold start).
Where a message is *read* (submit and ingest), Powertools' batch processor validates it with
pydantic, which accepts dataclasses as field types (``Json[IngestMessage]``); ``parse`` does the
same for anyone else.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class CompletionNotice:
    """What a provider's completion callback says, in our terms (built by the provider's adapter).

    ``status`` is ``succeeded`` or ``failed``; ``output_urls`` are the provider's (short-lived)
    URLs in output order; ``nsfw`` holds the provider's per-output flags where it sends them.
    """

    provider: str
    provider_task_id: str
    status: Literal["succeeded", "failed"]
    provider_status: str
    output_urls: list[str] = field(default_factory=list)
    nsfw: list[bool] = field(default_factory=list)
    error_message: str | None = None
    webhook_id: str | None = None
    via: Literal["webhook", "reconcile", "stream"] = "webhook"
    """``reconcile``: read from the provider's status API by the sweep (already authoritative); ``stream``: our own
    generate function read it from a synchronous provider's stream (ModelArk)."""
    generated_images: int | None = None
    """The images the provider says it made and bills (ModelArk's ``usage.generated_images``); None where the
    provider does not say."""
    outputs_expire_at: str | None = None
    """ISO 8601: when the provider deletes ``output_urls`` (Replicate: an hour after the prediction completed);
    None where the provider keeps them longer than any job stays open. Ingest never fetches past it."""


@dataclass(frozen=True)
class SubmitMessage:
    """Body of a message on the submit queue (or, with ``provider_cancel``, a cancel for the provider). A message
    sent again after providers answered 429 counts the
    ``throttles`` so far, keeps when the first one came (``throttled_since``, ISO 8601) and the seconds the job
    was held back on purpose (``held_seconds``: the delays, not the time it then waited its turn in the queue)."""

    job_id: str
    throttles: int = 0
    throttled_since: str | None = None
    held_seconds: float = 0.0
    provider_cancel: bool = False
    """Not a submit: the job was cancelled by its owner; ask its provider to stop the task (``usecases.provider_cancel``:
    the api holds no provider keys, so it hands this to the submit function, which does)."""


@dataclass(frozen=True)
class GenerateMessage:
    """Body of a message on the ModelArk queue: the job the generate function runs at a synchronous provider, the
    task id we made for it, and the tries so far (a generation refused for now is queued again, ``attempt`` + 1)."""

    job_id: str
    provider_task_id: str
    attempt: int = 1


@dataclass(frozen=True)
class IngestMessage:
    """Body of a message on the ingest queue: which job, and what its callback said."""

    job_id: str
    notice: CompletionNotice
    received_at: str


@dataclass(frozen=True)
class DeliveryMessage:
    """Body of an attempt of a webhook message on the webhook queue (the lifecycle events the queue also holds are
    EventBridge's own shape). ``webhook_id`` names the message, ``attempt`` (from 1) which try this is, ``due_at``
    (ISO 8601) when it may be made: a message received earlier is sent back to the queue with a delay of at most
    SQS's 900 s, so waits of hours are chained (``usecases.deliver``). ``redelivery``: asked for by the job's owner
    (``POST /v1/jobs/{job_id}/webhooks/redeliver``), one attempt only."""

    job_id: str
    webhook_id: str
    attempt: int
    due_at: str
    redelivery: bool = False


def to_json(message) -> str:
    """The message as the JSON body of a queue message."""
    return json.dumps(dataclasses.asdict(message), separators=(",", ":"))


def parse(kind: type, body: str | bytes):
    """Validate a JSON body into the message ``kind`` (pydantic, strict about shapes); raises ``ValueError``."""
    from pydantic import TypeAdapter

    return TypeAdapter(kind).validate_json(body)
