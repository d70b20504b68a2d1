"""DynamoDB attribute values ↔ plain JSON values, for the shapes our items hold.

boto3's ``TypeSerializer`` does this too, but importing anything of boto3 imports s3transfer and
the rest of boto3 (~15 ms of every cold start); the webhook and the api use plain botocore
clients and this. Item shapes are JSON: strings, numbers (``N``, read back as int or float),
booleans, null, lists and maps. Sets and binary are never written; reading one raises ``TypeError``.
"""

from __future__ import annotations

import json
import math
from typing import Any


def to_attribute(value: Any) -> dict:
    """A plain JSON value → a DynamoDB attribute value (``{"S": ...}``, ``{"N": ...}``, ``{"M": ...}`` ...)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"DynamoDB cannot store {value!r}")
        return {"N": json.dumps(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def from_attribute(attribute: dict) -> Any:
    """A DynamoDB attribute value → a plain JSON value (numbers as int when whole, else float)."""
    (kind, value), = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        try:
            return int(value)
        except ValueError:
            return float(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    raise TypeError(f"unexpected DynamoDB attribute type {kind}")


def to_item(values: dict[str, Any]) -> dict[str, dict]:
    """A dict of plain values as a DynamoDB item (``{"name": {"S": ...}}``, :func:`to_attribute` per value)."""
    return {key: to_attribute(value) for key, value in values.items()}


def from_item(item: dict[str, dict]) -> dict[str, Any]:
    """A DynamoDB item as a dict of plain values (:func:`from_attribute` per attribute); the inverse of :func:`to_item`."""
    return {key: from_attribute(value) for key, value in item.items()}


CALLBACK_FREE = "attribute_not_exists(#callback) OR attribute_exists(#callback.#failed)"
"""Condition: no completion recorded, or the recorded one's ingest has failed (so a new one may be).
Needs ``#callback`` = ``callback`` and ``#failed`` = ``ingest_failed_at``."""


class ConditionFailed(Exception):
    """A conditional write found the item otherwise. ``old`` is the item as it was (plain JSON), or None."""

    def __init__(self, old: dict | None):
        super().__init__("the item is not in the expected state")
        self.old = old


def update_job(dynamodb, table: str, job_id: str, sets: dict[str, Any], *, when, condition: str | None = None,
               values: dict[str, Any] | None = None, names: dict[str, str] | None = None,
               append: dict[str, Any] | None = None, remove=(), raw_set: dict[str, dict] | None = None,
               returns: bool = False) -> dict | None:
    """One conditional ``UpdateItem`` on the jobs table: the job must exist with a ``status`` in ``when``
    (and ``condition``).

    ``sets`` are ``SET name = value`` pairs (``updated_at`` is always set), ``append`` appends one
    element to a list attribute, ``raw_set`` adds ``SET`` clauses with their own values, ``remove``
    names attributes to remove. Returns the new item (plain JSON) when ``returns``. Raises
    ``ConditionFailed`` with the old item (``ReturnValuesOnConditionCheckFailure``), or botocore's
    ``ClientError`` for anything else.
    """
    from botocore.exceptions import ClientError

    from .models import now_iso

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
    # no attribute_exists(job_id): a missing item has no status, so the IN is already false
    full_condition = f"#status IN ({', '.join(allowed)})"
    if condition:
        full_condition += f" AND {condition}"
    attribute_values.update({k: to_attribute(v) for k, v in (values or {}).items()})
    try:
        result = dynamodb.update_item(
            TableName=table, Key={"job_id": {"S": job_id}}, UpdateExpression=expression,
            ConditionExpression=full_condition, ExpressionAttributeNames=attribute_names,
            ExpressionAttributeValues=attribute_values, ReturnValues="ALL_NEW" if returns else "NONE",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        old = exc.response.get("Item")
        raise ConditionFailed(from_item(old) if old else None) from exc
    return from_item(result["Attributes"]) if returns else None
