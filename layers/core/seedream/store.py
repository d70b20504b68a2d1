"""DynamoDB repository for jobs: one item per job, keyed by ``job_id``.

Every state change is a conditional update, so the only moves are
``queued → submitted → succeeded | failed`` (and ``queued → failed``): a duplicate, late or
out-of-order caller finds its condition false and changes nothing.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from .errors import JobNotFound
from .models import OPEN, Attempt, CompletionNotice, ErrorInfo, Job, Output, dump, now_iso


def _plain(value: Any) -> Any:
    """DynamoDB (Decimal-bearing) value → plain JSON types."""
    return json.loads(json.dumps(value, default=lambda d: int(d) if d == int(d) else float(d)))


def _dynamo(value: Any) -> Any:
    """Plain JSON value → DynamoDB-safe (floats as Decimal)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


class Conflict(Exception):
    """A conditional update found the job in another state. ``current`` is the item as it is (or None)."""

    def __init__(self, current: dict | None):
        super().__init__("job is not in the expected state")
        self.current = current


class JobStore:
    """Jobs table access. ``table`` is a boto3 ``dynamodb.Table`` resource."""

    def __init__(self, table):
        self.table = table

    # -- reads -----------------------------------------------------------------------------
    def get_item(self, job_id: str) -> dict | None:
        """The raw item (plain JSON types) or None."""
        item = self.table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def get(self, job_id: str) -> Job:
        """The job; raises ``JobNotFound``."""
        item = self.get_item(job_id)
        if item is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        return Job.model_validate(item)

    # -- writes ----------------------------------------------------------------------------
    def create(self, job: Job) -> None:
        """Put a new ``queued`` job; raises ``Conflict`` if the id exists."""
        try:
            self.table.put_item(Item=_dynamo(dump(job)), ConditionExpression="attribute_not_exists(job_id)")
        except ClientError as exc:
            raise self._conflict(exc) from exc

    def delete_queued(self, job_id: str) -> None:
        """Remove a job that never left ``queued`` (used when it could not be enqueued)."""
        try:
            self.table.delete_item(Key={"job_id": job_id}, ConditionExpression="#s = :queued",
                                   ExpressionAttributeNames={"#s": "status"},
                                   ExpressionAttributeValues={":queued": "queued"})
        except ClientError as exc:
            raise self._conflict(exc) from exc

    def arm_callback(self, job_id: str, provider: str, token_sha256: str) -> None:
        """Store the hash of the token the next provider attempt will call back with (job must be queued)."""
        self._update(job_id, "SET callback_token_sha256 = :h, provider = :p, updated_at = :now",
                     {":h": token_sha256, ":p": provider}, allowed=("queued",))

    def add_attempt(self, job_id: str, attempt: Attempt) -> None:
        """Append an attempt record (job must be queued)."""
        self._update(job_id, "SET attempts = list_append(if_not_exists(attempts, :empty), :a), updated_at = :now",
                     {":a": [_dynamo(dump(attempt))], ":empty": []}, allowed=("queued",))

    def mark_submitted(self, job_id: str, attempt: Attempt) -> dict:
        """``queued → submitted`` with the provider task id and the attempt; returns the new item."""
        values = {":a": [_dynamo(dump(attempt))], ":empty": [], ":tid": attempt.provider_task_id,
                  ":p": attempt.provider, ":sub": "submitted"}
        expr = ("SET #s = :sub, provider = :p, provider_task_id = :tid, submitted_at = :now, updated_at = :now, "
                "attempts = list_append(if_not_exists(attempts, :empty), :a)")
        return self._update(job_id, expr, values, allowed=("queued",))

    def record_callback(self, job_id: str, notice: CompletionNotice, received_at: str) -> dict:
        """Record the first terminal callback of an open job; raises ``Conflict`` for any later one."""
        callback = {"received_at": received_at, "provider_status": notice.provider_status,
                    "provider_task_id": notice.provider_task_id, "webhook_id": notice.webhook_id}
        return self._update(job_id, "SET callback = :cb, updated_at = :now", {":cb": callback},
                            allowed=OPEN, extra_condition="attribute_not_exists(callback)")

    def forget_callback(self, job_id: str) -> None:
        """Undo ``record_callback`` (the callback could not be enqueued, so the provider must retry)."""
        self._update(job_id, "REMOVE callback SET updated_at = :now", {}, allowed=OPEN)

    def mark_succeeded(self, job_id: str, outputs: list[Output], extra: dict | None = None) -> dict:
        """``queued|submitted → succeeded`` with the outputs manifest (and ``extra`` attributes); returns the new item."""
        values = {":o": [_dynamo(dump(o)) for o in outputs], ":st": "succeeded", ":null": None}
        expr = "SET #s = :st, outputs = :o, completed_at = :now, updated_at = :now, #e = :null"
        return self._update(job_id, expr, values, allowed=OPEN, names={"#e": "error"}, also_set=extra)

    def mark_failed(self, job_id: str, error: ErrorInfo, extra: dict | None = None) -> dict:
        """``queued|submitted → failed`` with ``error`` (and ``extra`` attributes); returns the new item."""
        values = {":err": dump(error), ":st": "failed"}
        expr = "SET #s = :st, #e = :err, completed_at = :now, updated_at = :now"
        return self._update(job_id, expr, values, allowed=OPEN, names={"#e": "error"}, also_set=extra)

    def mark_event_published(self, job_id: str) -> None:
        """Note that the terminal event went out (so a redelivered ingest does not send it twice)."""
        self.table.update_item(Key={"job_id": job_id}, UpdateExpression="SET event_published_at = :now",
                               ExpressionAttributeValues={":now": now_iso()})

    # -- internals -------------------------------------------------------------------------
    def _update(self, job_id: str, expression: str, values: dict, *, allowed: tuple[str, ...],
                extra_condition: str | None = None, names: dict | None = None, also_set: dict | None = None) -> dict:
        """Conditional update: the job must exist and be in one of ``allowed``; ``also_set`` adds plain
        ``SET name = value`` pairs to a ``SET`` expression. Raises ``Conflict`` when the condition fails."""
        values = dict(values)
        values[":now"] = now_iso()
        for i, (key, value) in enumerate((also_set or {}).items()):
            expression += f", {key} = :x{i}"
            values[f":x{i}"] = _dynamo(value)
        placeholders = []
        for i, status in enumerate(allowed):
            values[f":allowed{i}"] = status
            placeholders.append(f":allowed{i}")
        condition = f"attribute_exists(job_id) AND #s IN ({', '.join(placeholders)})"
        if extra_condition:
            condition += f" AND {extra_condition}"
        attr_names = {"#s": "status", **(names or {})}
        try:
            result = self.table.update_item(
                Key={"job_id": job_id}, UpdateExpression=expression, ConditionExpression=condition,
                ExpressionAttributeNames=attr_names, ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise self._conflict(exc) from exc
        return _plain(result["Attributes"])

    @staticmethod
    def _conflict(exc: ClientError) -> Exception:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            return exc
        item = exc.response.get("Item")
        if item:
            from boto3.dynamodb.types import TypeDeserializer

            deserializer = TypeDeserializer()
            item = _plain({k: deserializer.deserialize(v) for k, v in item.items()})
        return Conflict(item)
