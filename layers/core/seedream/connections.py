"""The WebSocket API's connections and their subscriptions, in the connections table (DynamoDB, ``CONNECTIONS_TABLE``).

Items (partition key ``pk``, sort key ``sk``, both strings; ``expires_at`` is the table's TTL attribute, epoch seconds):

- the connection: ``pk`` ``connection#<connection id>``, ``sk`` ``connection``; ``owner`` (the IAM caller's ARN that
  opened it), ``connected_at`` (ISO), ``topics`` (a map whose keys are the ``pk`` of each of its subscriptions);
- a subscription: ``pk`` ``job#<job id>`` (one job) or ``owner#<owner ARN>`` (all the owner's jobs), ``sk`` the
  connection id; ``owner``.

A lifecycle event finds its connections with two ``Query`` calls (the job's topic and its owner's), never a scan.
API Gateway closes a WebSocket connection after 2 hours at most (its quota "Connection duration for WebSocket API"),
so every item expires ``CONNECTION_TTL_SECONDS`` after the connection opened: DynamoDB's TTL deletes what a lost
``$disconnect`` left behind, and a ``PostToConnection`` answered 410 ``GoneException`` removes it at once
(``seedream.usecases.live``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .dynamo import from_attribute

CONNECTION_TTL_SECONDS = 2 * 3600 + 600
"""API Gateway's longest WebSocket connection (2 h) plus 10 minutes: past it no item can still be live."""
CONNECTION = "connection"
"""The sort key of a connection's own item."""


def job_topic(job_id: str) -> str:
    """The subscription key of one job's events."""
    return f"job#{job_id}"


def owner_topic(owner: str) -> str:
    """The subscription key of every event of ``owner``'s jobs (``owner``: an IAM ARN)."""
    return f"owner#{owner}"


@dataclass(frozen=True)
class Connection:
    """A WebSocket connection as stored: its API Gateway ``connection_id``, the IAM ``owner`` it opened as, its TTL
    and the ``topics`` it subscribed to (a job id, or the owner's every job)."""

    connection_id: str
    owner: str
    expires_at: int
    """Epoch seconds (the TTL): its subscriptions expire with it."""
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subscriber:
    """One connection subscribed to a topic, as a push reads it (``Connections.subscribers``)."""

    connection_id: str
    owner: str
    """The owner the connection opened as: an event is sent only when its job has this owner."""


class Connections:
    """``dynamodb`` is a botocore DynamoDB client; ``table`` the connections table's name."""

    def __init__(self, dynamodb, table: str):
        self.dynamodb = dynamodb
        self.table = table

    @staticmethod
    def _key(pk: str, sk: str) -> dict:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def open(self, connection_id: str, owner: str, connected_at: str, expires_at: int) -> None:
        """Record a connection opened by ``owner`` (``expires_at``: epoch seconds, the TTL)."""
        self.dynamodb.put_item(TableName=self.table, Item={
            **self._key(f"connection#{connection_id}", CONNECTION), "owner": {"S": owner},
            "connected_at": {"S": connected_at}, "topics": {"M": {}}, "expires_at": {"N": str(expires_at)}})

    def find(self, connection_id: str) -> Connection | None:
        """The connection, or None when it is unknown (closed, expired or never opened)."""
        item = self.dynamodb.get_item(TableName=self.table, Key=self._key(f"connection#{connection_id}", CONNECTION),
                                      ConsistentRead=True).get("Item")
        if item is None:
            return None
        topics = from_attribute(item.get("topics", {"M": {}}))
        return Connection(connection_id, item["owner"]["S"], int(item["expires_at"]["N"]), tuple(sorted(topics)))

    def subscribe(self, connection: Connection, topic: str) -> None:
        """Add ``topic`` to the connection: its subscription item first, then the topic in the connection's own item
        (so a removal that reads the connection finds every subscription that can receive an event)."""
        self.dynamodb.put_item(TableName=self.table, Item={
            **self._key(topic, connection.connection_id), "owner": {"S": connection.owner},
            "expires_at": {"N": str(connection.expires_at)}})
        self.dynamodb.update_item(TableName=self.table, Key=self._key(f"connection#{connection.connection_id}", CONNECTION),
                                  UpdateExpression="SET topics.#topic = :yes",
                                  ExpressionAttributeNames={"#topic": topic},
                                  ExpressionAttributeValues={":yes": {"BOOL": True}})

    def unsubscribe(self, connection_id: str, topic: str) -> None:
        """Remove the connection's subscription to ``topic`` (one DeleteItem; none there is no error)."""
        self.dynamodb.delete_item(TableName=self.table, Key=self._key(topic, connection_id))

    def subscribers(self, topic: str) -> list[Subscriber]:
        """The connections subscribed to ``topic`` (every page of the query)."""
        found: list[Subscriber] = []
        request = {"TableName": self.table, "KeyConditionExpression": "pk = :topic",
                   "ExpressionAttributeValues": {":topic": {"S": topic}}}
        while True:
            page = self.dynamodb.query(**request)
            found += [Subscriber(item["sk"]["S"], item["owner"]["S"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, connection_id: str) -> int:
        """Delete the connection and each of its subscriptions; how many items were deleted (0: already gone)."""
        connection = self.find(connection_id)
        if connection is None:
            return 0
        for topic in connection.topics:
            self.unsubscribe(connection_id, topic)
        self.dynamodb.delete_item(TableName=self.table, Key=self._key(f"connection#{connection_id}", CONNECTION))
        return len(connection.topics) + 1
