"""The webhook's view of the jobs table: record a provider's callback once, in one conditional update.

The webhook never reads a whole job (nor imports the record model): ``accept`` is a single
``UpdateItem`` whose condition checks the callback token's hash, the provider, the task id (when
known), an open status and that no callback is recorded yet; when it fails, DynamoDB returns the
old item (``ReturnValuesOnConditionCheckFailure``) and ``CallbackRefused.state`` holds the few
attributes that tell a forgery from a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dynamo import CALLBACK_FREE, ConditionFailed, update_job
from .models import OPEN
from .models.messages import CompletionNotice


@dataclass(frozen=True)
class CallbackState:
    """What the job looked like when a callback was refused."""

    status: str
    provider: str | None
    callback_token_sha256: str | None
    provider_task_id: str | None
    being_ingested: bool
    """A completion is recorded and its ingest has not failed."""


class CallbackRefused(Exception):
    """The conditional update refused the callback; ``state`` is the job as it was (None: no such job)."""

    def __init__(self, state: CallbackState | None):
        super().__init__("callback refused")
        self.state = state


class CallbackLedger:
    """``dynamodb`` is a botocore DynamoDB client; ``table`` the jobs table's name."""

    def __init__(self, dynamodb, table: str):
        self.dynamodb = dynamodb
        self.table = table

    def accept(self, job_id: str, provider: str, token_sha256: str, notice: CompletionNotice, received_at: str,
               deadline_at: str) -> None:
        """Record a terminal callback of an open job — the first, or a new one after the last one's ingest
        failed — and give ingest until ``deadline_at``. Raises ``CallbackRefused``."""
        callback = {"received_at": received_at, "provider_status": notice.provider_status,
                    "provider_task_id": notice.provider_task_id, "webhook_id": notice.webhook_id, "via": "webhook"}
        condition = (f"#provider = :provider AND #token = :token AND ({CALLBACK_FREE}) "
                     "AND (attribute_not_exists(#task) OR #task = :task)")
        try:
            update_job(self.dynamodb, self.table, job_id, {"callback": callback, "deadline_at": deadline_at},
                       when=OPEN, condition=condition,
                       values={":provider": provider, ":token": token_sha256, ":task": notice.provider_task_id},
                       names={"#provider": "provider", "#token": "callback_token_sha256", "#callback": "callback",
                              "#failed": "ingest_failed_at", "#task": "provider_task_id"})
        except ConditionFailed as failed:
            old = failed.old
            raise CallbackRefused(None if old is None else CallbackState(
                status=old.get("status", ""), provider=old.get("provider"),
                callback_token_sha256=old.get("callback_token_sha256"), provider_task_id=old.get("provider_task_id"),
                being_ingested=old.get("callback") is not None and not (old.get("callback") or {}).get(
                    "ingest_failed_at"))) from failed

    def forget(self, job_id: str) -> None:
        """Undo ``accept`` (the callback could not be enqueued, so the provider must retry)."""
        try:
            update_job(self.dynamodb, self.table, job_id, {}, when=OPEN, remove=("callback",))
        except ConditionFailed:
            pass  # the job finished meanwhile: nothing to undo
