"""DynamoDB repository for jobs: one item per job, keyed by ``job_id``, through a plain boto3 client.

State moves are listed once, in ``MOVES``, and each is one conditional ``UpdateItem`` that
returns the old item when its condition fails (``ReturnValuesOnConditionCheckFailure``), so a
duplicate, late or out-of-order caller changes nothing and learns why in the same call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .errors import JobNotFound
from .models import OPEN, now_iso
from .models.messages import CompletionNotice
from .models.records import Attempt, CallbackRecord, ErrorInfo, JobRecord, Output, StoredOutput

MOVES: dict[str, tuple[str, ...]] = {
    "submitted": ("queued",),
    "succeeded": ("queued", "submitted"),  # a callback may outrun submit's own update
    "failed": ("queued", "submitted"),
}
"""Target status → the statuses a job may move to it from. Nothing leaves a terminal status."""

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attribute(value: Any) -> dict:
    """Plain JSON value → DynamoDB attribute value (floats as ``Decimal``)."""
    return _serializer.serialize(json.loads(json.dumps(value), parse_float=Decimal))


def from_item(item: dict) -> dict:
    """DynamoDB item (attribute values) → plain JSON types."""
    plain = {key: _deserializer.deserialize(value) for key, value in item.items()}
    return json.loads(json.dumps(plain, default=lambda d: int(d) if d == int(d) else float(d)))


class Conflict(Exception):
    """A conditional update found the job in another state. ``current`` is the item as it is (or None)."""

    def __init__(self, current: JobRecord | None):
        super().__init__("job is not in the expected state")
        self.current = current


class JobStore:
    """The jobs table. ``dynamodb`` is a boto3 DynamoDB *client*; ``table`` its name."""

    def __init__(self, dynamodb, table: str):
        self.dynamodb = dynamodb
        self.table = table

    # -- reads -----------------------------------------------------------------------------
    def find(self, job_id: str) -> JobRecord | None:
        """The job (strongly consistent read) or None."""
        item = self.dynamodb.get_item(TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True).get("Item")
        return JobRecord.model_validate(from_item(item)) if item else None

    def get(self, job_id: str) -> JobRecord:
        """The job; raises ``JobNotFound``."""
        record = self.find(job_id)
        if record is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        return record

    # -- writes ----------------------------------------------------------------------------
    def create(self, record: JobRecord) -> None:
        """Put a new job; raises ``Conflict`` if the id exists. Unset optional attributes are not written
        (``attribute_not_exists`` conditions rely on it)."""
        item = {key: to_attribute(value) for key, value in record.model_dump(mode="json", exclude_none=True).items()}
        try:
            self.dynamodb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(job_id)")
        except ClientError as exc:
            raise _conflict(exc) from exc

    def delete_queued(self, job_id: str) -> None:
        """Remove a job that never left ``queued`` (used when it could not be enqueued)."""
        try:
            self.dynamodb.delete_item(TableName=self.table, Key={"job_id": {"S": job_id}},
                                      ConditionExpression="#s = :queued", ExpressionAttributeNames={"#s": "status"},
                                      ExpressionAttributeValues={":queued": {"S": "queued"}})
        except ClientError as exc:
            raise _conflict(exc) from exc

    def arm_callback(self, job_id: str, provider: str, token_sha256: str) -> None:
        """Store the hash of the token the next provider attempt will call back with (job must be queued)."""
        self._update(job_id, {"callback_token_sha256": token_sha256, "provider": provider}, when=("queued",))

    def add_attempt(self, job_id: str, attempt: Attempt) -> None:
        """Append an attempt record (job must be queued)."""
        self._update(job_id, {}, when=("queued",), append={"attempts": attempt.model_dump(mode="json")})

    def mark_submitted(self, job_id: str, attempt: Attempt) -> None:
        """``queued → submitted`` with the provider task id and the attempt."""
        self._update(job_id, {"status": "submitted", "provider": attempt.provider,
                              "provider_task_id": attempt.provider_task_id, "submitted_at": now_iso()},
                     when=MOVES["submitted"], append={"attempts": attempt.model_dump(mode="json")})

    def accept_callback(self, job_id: str, provider: str, token_sha256: str, notice: CompletionNotice,
                        received_at: str) -> None:
        """Record the first terminal callback of an open job, in one conditional update that checks the
        token's hash, the provider, the task id (when known), an open status and no callback recorded yet.

        Raises ``Conflict`` with the old item (or None) when any of those fails; the caller tells a
        forgery (token or provider) from a duplicate (finished, or a callback already recorded)."""
        callback = CallbackRecord(received_at=received_at, provider_status=notice.provider_status,
                                  provider_task_id=notice.provider_task_id, webhook_id=notice.webhook_id)
        condition = ("#provider = :provider AND #token = :token AND attribute_not_exists(#callback) "
                     "AND (attribute_not_exists(#task) OR #task = :task)")
        self._update(job_id, {"callback": callback.model_dump(mode="json")}, when=OPEN, condition=condition,
                     values={":provider": provider, ":token": token_sha256, ":task": notice.provider_task_id},
                     names={"#provider": "provider", "#token": "callback_token_sha256", "#callback": "callback",
                            "#task": "provider_task_id"})

    def forget_callback(self, job_id: str) -> None:
        """Undo ``accept_callback`` (the callback could not be enqueued, so the provider must retry)."""
        self._update(job_id, {}, when=OPEN, remove=("callback",))

    def keep_stored_output(self, job_id: str, output: StoredOutput) -> None:
        """Note an output ingest has written and verified, so a retry need not fetch it again (job must be open)."""
        self._update(job_id, {}, when=OPEN, condition="attribute_exists(stored_outputs)",
                     raw_set={"stored_outputs.#index = :stored": {":stored": output.model_dump(mode="json")}},
                     names={"#index": str(output.index)})

    def open_stored_outputs(self, job_id: str) -> None:
        """Make sure the ``stored_outputs`` map exists (before ``keep_stored_output``)."""
        self._update(job_id, {}, when=OPEN,
                     raw_set={"stored_outputs = if_not_exists(stored_outputs, :no_outputs)": {":no_outputs": {}}})

    def mark_succeeded(self, job_id: str, outputs: list[Output], extra: dict | None = None) -> JobRecord:
        """``→ succeeded`` with the complete outputs manifest (and ``extra`` attributes); returns the new record."""
        sets = {"status": "succeeded", "outputs": [o.model_dump(mode="json") for o in outputs],
                "completed_at": now_iso(), "error": None} | (extra or {})
        return self._update(job_id, sets, when=MOVES["succeeded"], remove=("stored_outputs",), returns=True)

    def mark_failed(self, job_id: str, error: ErrorInfo, extra: dict | None = None) -> JobRecord:
        """``→ failed`` with ``error`` (and ``extra`` attributes); returns the new record."""
        sets = {"status": "failed", "error": error.model_dump(mode="json"), "completed_at": now_iso()} | (extra or {})
        return self._update(job_id, sets, when=MOVES["failed"], remove=("stored_outputs",), returns=True)

    def mark_event_published(self, job_id: str) -> None:
        """Note that the terminal event went out (so a redelivered ingest does not send it twice)."""
        self.dynamodb.update_item(TableName=self.table, Key={"job_id": {"S": job_id}},
                                  UpdateExpression="SET event_published_at = :now",
                                  ExpressionAttributeValues={":now": {"S": now_iso()}})

    # -- internals -------------------------------------------------------------------------
    def _update(self, job_id: str, sets: dict[str, Any], *, when: Iterable[str], condition: str | None = None,
                values: dict[str, Any] | None = None, names: dict[str, str] | None = None,
                append: dict[str, Any] | None = None, remove: Iterable[str] = (),
                raw_set: dict[str, dict] | None = None, returns: bool = False) -> JobRecord | None:
        """One conditional ``UpdateItem``: the job must exist with a status in ``when`` (and ``condition``).

        ``sets`` are ``SET name = value`` pairs (``updated_at`` is always set), ``append`` appends one
        element to a list attribute, ``raw_set`` adds ``SET`` clauses with their own values, ``remove``
        names attributes to remove. Returns the new record when ``returns``. Raises ``Conflict``.
        """
        attribute_names = {"#status": "status", **(names or {})}
        attribute_values: dict[str, dict] = {":updated_at": {"S": now_iso()}}
        clauses = ["updated_at = :updated_at"]
        for i, (name, value) in enumerate(sets.items()):
            attribute_names[f"#a{i}"] = name
            attribute_values[f":a{i}"] = to_attribute(value)
            clauses.append(f"#a{i} = :a{i}")
        for i, (name, element) in enumerate((append or {}).items()):
            attribute_names[f"#l{i}"] = name
            attribute_values[f":l{i}"] = to_attribute([element])
            attribute_values[":empty_list"] = to_attribute([])
            clauses.append(f"#l{i} = list_append(if_not_exists(#l{i}, :empty_list), :l{i})")
        for clause, clause_values in (raw_set or {}).items():
            clauses.append(clause)
            attribute_values.update({k: to_attribute(v) for k, v in clause_values.items()})
        expression = "SET " + ", ".join(clauses)
        removed = list(remove)
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        allowed = []
        for i, status in enumerate(when):
            attribute_values[f":when{i}"] = {"S": status}
            allowed.append(f":when{i}")
        full_condition = f"attribute_exists(job_id) AND #status IN ({', '.join(allowed)})"
        if condition:
            full_condition += f" AND {condition}"
        attribute_values.update({k: to_attribute(v) for k, v in (values or {}).items()})
        try:
            result = self.dynamodb.update_item(
                TableName=self.table, Key={"job_id": {"S": job_id}}, UpdateExpression=expression,
                ConditionExpression=full_condition, ExpressionAttributeNames=attribute_names,
                ExpressionAttributeValues=attribute_values, ReturnValues="ALL_NEW" if returns else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise _conflict(exc) from exc
        return JobRecord.model_validate(from_item(result["Attributes"])) if returns else None


def _conflict(exc: ClientError) -> Exception:
    """``ConditionalCheckFailedException`` → ``Conflict`` with the old item; any other error unchanged."""
    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        return exc
    item = exc.response.get("Item")
    return Conflict(JobRecord.model_validate(from_item(item)) if item else None)
