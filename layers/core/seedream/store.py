"""DynamoDB repository for jobs: one item per job, keyed by ``job_id``, through a plain botocore client.

The allowed moves are ``seedream.lifecycle.MOVES``; each is one conditional ``UpdateItem`` that
returns the old item when its condition fails (``ReturnValuesOnConditionCheckFailure``), so a
duplicate, late or out-of-order caller changes nothing and learns why in the same call. A terminal
move claims the job's terminal event in the same write (``announce_claimed_at``), and the ingest lease
(``lease_owner``, ``lease_until``) is a condition of the moves it guards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any

from botocore.exceptions import ClientError

from .dynamo import CALLBACK_FREE, ConditionFailed, from_item, to_attribute, to_item, update_job
from .errors import JobNotFound
from .lifecycle import MOVES, OPEN, TERMINAL
from .models import now_iso
from .models.records import (
    Attempt,
    CallbackRecord,
    ErrorInfo,
    JobRecord,
    Output,
    ReconcileRecord,
    StoredOutput,
    WebhookDelivery,
    WebhookMessage,
)

OPEN_JOBS_INDEX = "OpenJobsByDeadline"
"""Sparse GSI (``template.yaml``): ``open_shard`` (``"open"`` while open) + ``deadline_at``; keys only."""
OPEN_SHARD = "open"
OWNER_INDEX = "JobsByOwner"
"""GSI (``template.yaml``): ``owner`` + ``created_at``, all attributes: a caller's jobs, newest first."""
FINISHED = ("open_shard", "stored_outputs", "lease_owner", "lease_until")
"""Attributes a finished job no longer has: it leaves the open-jobs index, its partial outputs and its lease."""
UNLEASED = "(attribute_not_exists(lease_until) OR lease_until < :now)"
"""Condition: no ingest holds a live lease on the job (needs ``:now``)."""

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
        return JobRecord.stored(from_item(item)) if item else None

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
        item = to_item(record.model_dump(mode="json", exclude_none=True))
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

    def arm_callback(self, job_id: str, provider: str, token_sha256: str, estimated_cost_usd: float | None = None) -> None:
        """Store the hash of the token the next provider attempt will call back with, the provider and the job's
        price there in USD (job must be queued)."""
        sets = {"callback_token_sha256": token_sha256, "provider": provider}
        if estimated_cost_usd is not None:
            sets["estimated_cost_usd"] = estimated_cost_usd
        self._update(job_id, sets, when=("queued",))

    def add_attempt(self, job_id: str, attempt: Attempt) -> None:
        """Append an attempt record (job must be queued)."""
        self._update(job_id, {}, when=("queued",), append={"attempts": attempt.model_dump(mode="json")})

    def requeue(self, job_id: str, enqueued_at: str, deadline_at: str) -> None:
        """Note a queued job's new submit message (sent again after a provider's 429) and its new deadline."""
        self._update(job_id, {"enqueued_at": enqueued_at, "deadline_at": deadline_at}, when=("queued",))

    def mark_submitted(self, job_id: str, attempt: Attempt, submitted_at: str, deadline_at: str,
                       provider_urls: Mapping[str, str] | None = None) -> JobRecord:
        """``queued → submitted`` with the provider task id, the URLs the provider gave for the task (if any), the
        attempt and the first deadline; returns the new record. Raises ``Conflict`` (the job moved on first)."""
        return self._update(job_id, {"status": "submitted", "provider": attempt.provider,
                                     "provider_task_id": attempt.provider_task_id, "submitted_at": submitted_at,
                                     "deadline_at": deadline_at, "provider_urls": dict(provider_urls or {})},
                            when=MOVES["submitted"], append={"attempts": attempt.model_dump(mode="json")}, returns=True)

    def set_deadline(self, job_id: str, deadline_at: str, reconcile: ReconcileRecord | None = None) -> None:
        """Move an open job's deadline (and note the sweep's reads)."""
        sets: dict[str, Any] = {"deadline_at": deadline_at}
        if reconcile is not None:
            sets["reconcile"] = reconcile.model_dump(mode="json")
        self._update(job_id, sets, when=OPEN)

    def record_completion(self, job_id: str, callback: CallbackRecord, deadline_at: str,
                          reconcile: ReconcileRecord | None = None, replacing: str | None = None) -> None:
        """Record a completion the sweep read at the provider, unless one is already being ingested; ``replacing``
        (the ``received_at`` of a recorded completion whose ingest never came) lets it take that one's place."""
        sets: dict[str, Any] = {"callback": callback.model_dump(mode="json"), "deadline_at": deadline_at}
        if reconcile is not None:
            sets["reconcile"] = reconcile.model_dump(mode="json")
        condition, values = f"({CALLBACK_FREE})", {}
        names = {"#callback": "callback", "#failed": "ingest_failed_at"}
        if replacing:
            condition = f"({CALLBACK_FREE} OR #callback.#received = :replacing)"
            values, names = {":replacing": replacing}, names | {"#received": "received_at"}
        self._update(job_id, sets, when=OPEN, condition=condition, names=names, values=values)

    def take_lease(self, job_id: str, owner: str, until: str) -> JobRecord:
        """Lease the open job to the ingest invocation ``owner`` until ``until`` (ISO), unless another holds a live
        lease; returns the job as it now is. Raises ``Conflict`` (the job ended, or is leased to another)."""
        return self._update(job_id, {"lease_owner": owner, "lease_until": until}, when=OPEN,
                            condition=f"({UNLEASED} OR lease_owner = :owner)",
                            values={":now": now_iso(), ":owner": owner}, returns=True)

    def start_generation(self, job_id: str, owner: str, until: str, started_at: str) -> JobRecord:
        """Claim the job's one generation at a synchronous provider for the generate invocation ``owner``: note
        ``generation_started_at``, lease the job to it until ``until`` (the sweep waits meanwhile) and open its
        ``stored_outputs``. Raises ``Conflict`` when it ended or a generation was already started (a redelivered
        message of a lost invocation: never generated, and billed, twice)."""
        return self._update(job_id, {"generation_started_at": started_at, "lease_owner": owner, "lease_until": until},
                            when=OPEN, condition=f"attribute_not_exists(generation_started_at) AND {UNLEASED}",
                            values={":now": now_iso()}, returns=True,
                            raw_set={"stored_outputs = if_not_exists(stored_outputs, :no_outputs)": {":no_outputs": {}}})

    def release_generation(self, job_id: str, owner: str) -> None:
        """Undo ``start_generation`` of ``owner`` (the provider refused the request for now: it is tried again)."""
        with suppress(Conflict):
            self._update(job_id, {}, when=OPEN, condition="lease_owner = :owner", values={":owner": owner},
                         remove=("generation_started_at", "lease_owner", "lease_until"))

    def release_lease(self, job_id: str, owner: str) -> None:
        """End ``owner``'s lease on the open job (an ingest that stops early); nothing if it holds none."""
        with suppress(Conflict):
            self._update(job_id, {}, when=OPEN, condition="lease_owner = :owner", values={":owner": owner},
                         remove=("lease_owner", "lease_until"))

    def note_ingest_failure(self, job_id: str, message: str) -> None:
        """The recorded completion's ingest failed for now (its lease ends): a later callback or sweep may record
        a new one."""
        self._update(job_id, {}, when=OPEN, condition="attribute_exists(#callback)", names={"#callback": "callback"},
                     raw_set={"#callback.ingest_failed_at = :failed_at, #callback.ingest_error = :ingest_error":
                              {":failed_at": now_iso(), ":ingest_error": message[:1000]}},
                     remove=("lease_owner", "lease_until"))

    def release_completion(self, job_id: str, deadline_at: str) -> None:
        """Forget a recorded completion the provider's status API does not confirm yet; look again at ``deadline_at``."""
        self._update(job_id, {"deadline_at": deadline_at}, when=OPEN, remove=("callback", "lease_owner", "lease_until"))

    def by_owner(self, owner: str, limit: int, status: str | None = None,
                 start: dict | None = None) -> tuple[list[JobRecord], dict | None]:
        """A page of ``owner``'s jobs, newest first: a query of the ``JobsByOwner`` index (never a scan).
        ``status`` filters; ``start`` is the ``next`` of the previous page. Returns ``(jobs, next)``."""
        kwargs: dict[str, Any] = {"TableName": self.table, "IndexName": OWNER_INDEX, "ScanIndexForward": False,
                                  "KeyConditionExpression": "#owner = :owner", "Limit": limit,
                                  "ExpressionAttributeNames": {"#owner": "owner"},
                                  "ExpressionAttributeValues": {":owner": {"S": owner}}}
        if status:
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"]["#status"] = "status"
            kwargs["ExpressionAttributeValues"][":status"] = {"S": status}
        if start:
            kwargs["ExclusiveStartKey"] = to_item(start)
        jobs: list[JobRecord] = []
        while True:  # a filter can leave a page short: read on until it is full or the index ends
            page = self.dynamodb.query(**kwargs)
            jobs += [JobRecord.stored(from_item(item)) for item in page.get("Items", [])]
            last = page.get("LastEvaluatedKey")
            if not last or len(jobs) >= limit:  # Limit caps what each query reads, so never more than limit
                return jobs, from_item(last) if last else None
            kwargs["ExclusiveStartKey"] = last
            kwargs["Limit"] = limit - len(jobs)

    def overdue(self, now: str, limit: int) -> list[str]:
        """Ids of open jobs whose deadline is at or before ``now`` (ISO), earliest first, at most ``limit``.
        A query of the sparse ``OpenJobsByDeadline`` index; never a scan."""
        ids: list[str] = []
        kwargs = {"TableName": self.table, "IndexName": OPEN_JOBS_INDEX,
                  "KeyConditionExpression": "open_shard = :open AND deadline_at <= :now",
                  "ExpressionAttributeValues": {":open": {"S": OPEN_SHARD}, ":now": {"S": now}}}
        while len(ids) < limit:
            page = self.dynamodb.query(**kwargs, Limit=limit - len(ids))
            ids += [item["job_id"]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return ids

    def keep_stored_output(self, job_id: str, output: StoredOutput) -> None:
        """Note an output ingest has written and verified, so a retry need not fetch it again (job must be open)."""
        self._update(job_id, {}, when=OPEN, condition="attribute_exists(stored_outputs)",
                     raw_set={"stored_outputs.#index = :stored": {":stored": output.model_dump(mode="json")}},
                     names={"#index": str(output.index)})

    def open_stored_outputs(self, job_id: str) -> None:
        """Make sure the ``stored_outputs`` map exists (before ``keep_stored_output``)."""
        self._update(job_id, {}, when=OPEN,
                     raw_set={"stored_outputs = if_not_exists(stored_outputs, :no_outputs)": {":no_outputs": {}}})

    def mark_succeeded(self, job_id: str, outputs: list[Output], extra: dict | None = None, *,
                       lease_owner: str) -> JobRecord:
        """``→ succeeded`` with the complete outputs manifest (and ``extra`` attributes), by the ingest holding the
        lease; claims the terminal event. Returns the new record."""
        stamp = now_iso()
        sets = {"status": "succeeded", "outputs": [o.model_dump(mode="json") for o in outputs],
                "completed_at": stamp, "announce_claimed_at": stamp, "error": None} | (extra or {})
        return self._update(job_id, sets, when=MOVES["succeeded"], remove=FINISHED, returns=True,
                            condition="lease_owner = :owner", values={":owner": lease_owner})

    def mark_failed(self, job_id: str, error: ErrorInfo, extra: dict | None = None, *, unleased: bool = False) -> JobRecord:
        """``→ failed`` with ``error`` (and ``extra`` attributes); claims the terminal event; returns the new record.
        ``unleased``: only if no ingest holds a live lease on it (the sweep's condition)."""
        stamp = now_iso()
        sets = {"status": "failed", "error": error.model_dump(mode="json"), "completed_at": stamp,
                "announce_claimed_at": stamp} | (extra or {})
        return self._update(job_id, sets, when=MOVES["failed"], remove=FINISHED, returns=True,
                            **({"condition": UNLEASED, "values": {":now": stamp}} if unleased else {}))

    def mark_cancelled(self, job_id: str) -> JobRecord:
        """``→ cancelled``; claims the terminal event; returns the new record. Raises ``Conflict`` (``current`` None:
        no such job)."""
        stamp = now_iso()
        return self._update(job_id, {"status": "cancelled", "cancelled_at": stamp, "completed_at": stamp,
                                     "announce_claimed_at": stamp},
                            when=MOVES["cancelled"], remove=FINISHED, returns=True)

    def claim_announcement(self, job_id: str, stale_before: str) -> bool:
        """Claim the terminal event of a finished job whose event never went out and whose claim is older than
        ``stale_before`` (ISO): its claimer died. True when this caller now owns the announcement."""
        try:
            self._update(job_id, {"announce_claimed_at": now_iso()}, when=sorted(TERMINAL),
                         condition="attribute_not_exists(event_published_at) AND "
                                   "(attribute_not_exists(announce_claimed_at) OR announce_claimed_at < :stale)",
                         values={":stale": stale_before})
        except Conflict:
            return False
        return True

    def release_announcement(self, job_id: str) -> None:
        """Give up a claim whose announcement failed (its reply or event was refused), so the next who finds the
        job unannounced may announce it at once."""
        with suppress(Conflict):
            self._update(job_id, {}, when=sorted(TERMINAL), condition="attribute_not_exists(event_published_at)",
                         remove=("announce_claimed_at",))

    def mark_event_published(self, job_id: str) -> None:
        """Note that the terminal event went out (so a redelivered ingest does not send it twice)."""
        self.dynamodb.update_item(TableName=self.table, Key={"job_id": {"S": job_id}},
                                  UpdateExpression="SET event_published_at = :now",
                                  ExpressionAttributeValues={":now": {"S": now_iso()}})

    # -- webhook deliveries: never a move, never updated_at (a delivery does not change the job) ------------
    def open_webhook_message(self, job_id: str, webhook_id: str, message: WebhookMessage) -> bool:
        """Claim the webhook message ``webhook_id`` for the job (a conditional write of its key in
        ``webhook_messages``). False when it was made before (a redelivered lifecycle event)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key={"job_id": {"S": job_id}},
                UpdateExpression="SET #messages.#id = :message",
                ConditionExpression="attribute_exists(#messages) AND attribute_not_exists(#messages.#id)",
                ExpressionAttributeNames={"#messages": "webhook_messages", "#id": webhook_id},
                ExpressionAttributeValues={":message": to_attribute(message.model_dump(mode="json"))})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def record_delivery(self, job_id: str, delivery: WebhookDelivery, *, stop: bool = False) -> None:
        """Append an attempt to the job's ``webhook_deliveries``; with ``stop`` (the webhook answered 410) also note
        ``webhook_stopped_at``. The job's status and ``updated_at`` are left alone."""
        expression = "SET #deliveries = list_append(if_not_exists(#deliveries, :none), :delivery)"
        values = {":none": {"L": []}, ":delivery": to_attribute([delivery.model_dump(mode="json")])}
        names = {"#deliveries": "webhook_deliveries"}
        if stop:
            expression += ", #stopped = if_not_exists(#stopped, :at)"
            values[":at"] = {"S": delivery.at}
            names["#stopped"] = "webhook_stopped_at"
        self.dynamodb.update_item(TableName=self.table, Key={"job_id": {"S": job_id}}, UpdateExpression=expression,
                                  ConditionExpression="attribute_exists(job_id)", ExpressionAttributeNames=names,
                                  ExpressionAttributeValues=values)

    # -- internals -------------------------------------------------------------------------
    def _update(self, job_id: str, sets: dict[str, Any], *, when: Iterable[str], returns: bool = False,
                **options) -> JobRecord | None:
        """``dynamo.update_job`` on this table; raises ``Conflict`` with the old record."""
        try:
            new = update_job(self.dynamodb, self.table, job_id, sets, when=when, returns=returns, **options)
        except ConditionFailed as failed:
            raise Conflict(JobRecord.stored(failed.old) if failed.old else None) from failed
        return JobRecord.stored(new) if returns else None


def _conflict(exc: ClientError) -> Exception:
    """``ConditionalCheckFailedException`` → ``Conflict`` with the old item; any other error unchanged."""
    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        return exc
    item = exc.response.get("Item")
    return Conflict(JobRecord.stored(from_item(item)) if item else None)
