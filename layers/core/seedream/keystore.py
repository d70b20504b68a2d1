"""DynamoDB repository for API keys (``ApiKeysTable``): one item per key, keyed by ``key_id``.

Item: ``key_id``, ``owner`` (the IAM caller's ARN that made it), ``secret_sha256`` (``seedream.apikeys.key_hash``;
never the key), ``created_at``, ``last_used_at`` (absent until first use), ``revoked`` (bool), ``revoked_at``.
A caller's keys are read through the ``KeysByOwner`` index (``owner`` + ``created_at``), never a scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from .dynamo import from_item, to_item

OWNER_INDEX = "KeysByOwner"
"""GSI (``template.yaml``): ``owner`` + ``created_at``; a caller's keys, newest first."""


@dataclass(frozen=True)
class KeyRecord:
    """The stored shape of a key (with its hash); ``seedream.usecases`` turn it into the API's ``ApiKeyView``."""

    key_id: str
    owner: str
    created_at: str
    secret_sha256: str = ""
    """Empty when read through ``KeysByOwner``, which does not project it."""
    last_used_at: str | None = None
    revoked: bool = False
    revoked_at: str | None = None

    @classmethod
    def stored(cls, item: dict) -> KeyRecord:
        """The record of a table item (plain values, :func:`seedream.dynamo.from_item`); unknown attributes are dropped."""
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in item.items() if k in fields})


class KeyStore:
    """The API keys table. ``dynamodb`` is a botocore DynamoDB client; ``table`` its name."""

    def __init__(self, dynamodb, table: str):
        self.dynamodb = dynamodb
        self.table = table

    def add(self, record: KeyRecord) -> None:
        """Store a new key (conditional put: a key id is never reused)."""
        item = {k: v for k, v in record.__dict__.items() if v is not None}
        self.dynamodb.put_item(TableName=self.table, Item=to_item(item),
                               ConditionExpression="attribute_not_exists(key_id)")

    def find(self, key_id: str) -> KeyRecord | None:
        """The key (strongly consistent read), or None."""
        item = self.dynamodb.get_item(TableName=self.table, Key={"key_id": {"S": key_id}}, ConsistentRead=True).get("Item")
        return KeyRecord.stored(from_item(item)) if item else None

    def by_owner(self, owner: str) -> list[KeyRecord]:
        """Every key ``owner`` made, newest first (revoked ones included)."""
        records, start = [], None
        while True:
            page = self.dynamodb.query(
                TableName=self.table, IndexName=OWNER_INDEX, KeyConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":o": {"S": owner}},
                ScanIndexForward=False, **({"ExclusiveStartKey": start} if start else {}))
            records += [KeyRecord.stored(from_item(item)) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return records

    def revoke(self, key_id: str, owner: str, at: str) -> KeyRecord | None:
        """Mark ``owner``'s key revoked (``revoked_at`` = ``at`` the first time; again, nothing changes).
        Returns the key as it now is, or None when ``owner`` has no key ``key_id``."""
        try:
            item = self.dynamodb.update_item(
                TableName=self.table, Key={"key_id": {"S": key_id}},
                UpdateExpression="SET revoked = :t, revoked_at = if_not_exists(revoked_at, :at)",
                ConditionExpression="#o = :o", ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":t": {"BOOL": True}, ":at": {"S": at}, ":o": {"S": owner}},
                ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return KeyRecord.stored(from_item(item))

    def touch(self, key_id: str, at: str) -> None:
        """Set ``last_used_at`` = ``at`` on a key that exists and is not revoked (else nothing changes)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key={"key_id": {"S": key_id}}, UpdateExpression="SET last_used_at = :at",
                ConditionExpression="attribute_exists(key_id) AND revoked = :f",
                ExpressionAttributeValues={":at": {"S": at}, ":f": {"BOOL": False}})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
