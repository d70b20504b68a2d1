"""Live events over the WebSocket API on the local stack: the template's API served with ``websockets``, connections
signed with botocore's SigV4 signer (independent of the CLI's), the push function posting through the management API.

What a client sees: every event of its job, in order, and none of another owner's; an unsigned ``$connect`` refused;
a closed connection forgotten; a connection that is gone (its ``$disconnect`` lost) removed at the first 410."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.client import JobsClient
from local.template import ACCOUNT

from .conftest import wait_until

pytestmark = pytest.mark.integration

TERMINAL = {"Job Succeeded", "Job Failed", "Job Cancelled"}


def websocket_url(stack) -> str:
    return stack.resources.outputs["WebSocketUrl"]


def caller(name: str) -> tuple[str, str]:
    """A fresh IAM caller: ``(access key id, the owner ARN the stack derives from it)``."""
    key = f"{name}-{uuid.uuid4().hex[:8]}"
    return key, f"arn:aws:iam::{ACCOUNT}:user/{key}"


def connect_as(stack, key: str) -> ClientConnection:
    """A connection whose upgrade request is SigV4-signed (service execute-api) with access key ``key``."""
    url = websocket_url(stack)
    request = AWSRequest(method="GET", url=url.replace("ws://", "http://", 1))
    SigV4Auth(Credentials(key, "secret"), "execute-api", "us-east-1").add_auth(request)
    return connect(url, additional_headers=dict(request.headers.items()), proxy=None)


def jobs_client(stack, key: str) -> JobsClient:
    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key="secret", region_name="us-east-1")
    return JobsClient(stack.api_url, session)


def send(ws: ClientConnection, message: dict) -> dict:
    """Send a subscription; its answer (events that come first are returned by ``events`` later, not lost)."""
    ws.send(json.dumps(message))
    while True:
        answer = json.loads(ws.recv(timeout=30))
        if answer.get("type") != "event":
            return answer
        ws.early = [*getattr(ws, "early", []), answer]


def events_until_end(ws: ClientConnection, job_id: str) -> list[dict]:
    """Every event the connection receives until ``job_id``'s terminal one (others included)."""
    received = list(getattr(ws, "early", []))
    ws.early = []
    while not any(e["detail"]["job_id"] == job_id and e["detail-type"] in TERMINAL for e in received):
        message = json.loads(ws.recv(timeout=60))
        assert message["type"] == "event", message
        received.append(message)
    return received


def job_body(source_image: str) -> dict:
    return {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 1 images of this astronaut",
            "images": [source_image], "max_images": 1, "size": "2048*2048"}


def live_queue_drained(stack) -> bool:
    attributes = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=stack.name("LiveQueue"), AttributeNames=["ApproximateNumberOfMessages",
                                                          "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return all(value == "0" for value in attributes.values())


def connection_items(stack, owner: str) -> list[dict]:
    table = stack.name("ConnectionsTable")
    found = stack.session.client("dynamodb").scan(TableName=table)["Items"]
    return [item for item in found if item["owner"]["S"] == owner]


def test_a_subscriber_receives_every_event_of_its_jobs_in_order_and_none_of_another_owners(stack, source_image):
    alice, _ = caller("alice")
    bob, _ = caller("bob")
    with connect_as(stack, alice) as alice_ws, connect_as(stack, bob) as bob_ws:
        assert send(alice_ws, {"action": "subscribe", "all_jobs": True}) == {"type": "subscribed", "all_jobs": True}
        assert send(bob_ws, {"action": "subscribe", "all_jobs": True}) == {"type": "subscribed", "all_jobs": True}
        created = jobs_client(stack, alice).create_job(job_body(source_image))
        assert created.status_code == 202, created.text
        alice_job = created.json()["job_id"]
        bob_job = jobs_client(stack, bob).create_job(job_body(source_image)).json()["job_id"]

        alice_events = events_until_end(alice_ws, alice_job)
        bob_events = events_until_end(bob_ws, bob_job)
        # every push is done once the live queue is empty; a subscription answer after that comes after anything
        # the API sent the connection before it
        wait_until(lambda: live_queue_drained(stack))
        assert send(alice_ws, {"action": "subscribe", "all_jobs": True})["type"] == "subscribed"
        alice_events += getattr(alice_ws, "early", [])

        refused = send(bob_ws, {"action": "subscribe", "job_id": alice_job})

    assert [(e["detail-type"], e["detail"]["status"]) for e in alice_events] == [
        ("Job Queued", "queued"), ("Job Submitted", "submitted"), ("Job Succeeded", "succeeded")]
    assert {e["detail"]["job_id"] for e in alice_events} == {alice_job}  # none of bob's
    assert [e["detail-type"] for e in bob_events] == ["Job Queued", "Job Submitted", "Job Succeeded"]
    last = alice_events[-1]
    assert (last["type"], last["source"]) == ("event", "seedream.jobs") and last["id"] and last["time"]
    assert len(last["detail"]["outputs"]) == 1 and last["detail"]["outputs"][0].startswith("s3://")
    assert refused == {"type": "error", "error": {"code": "job_not_found", "message": f"no job with id {alice_job!r}"}}


def test_subscribing_to_a_finished_job_answers_with_its_end(stack, source_image):
    key, _ = caller("carol")
    job_id = jobs_client(stack, key).create_job(job_body(source_image)).json()["job_id"]
    with connect_as(stack, key) as ws:
        send(ws, {"action": "subscribe", "job_id": job_id})  # its events from now on
        events_until_end(ws, job_id)
    with connect_as(stack, key) as ws:
        answer = send(ws, {"action": "subscribe", "job_id": job_id})
    assert answer["type"] == "subscribed" and answer["job_id"] == job_id
    assert answer["current"]["detail-type"] == "Job Succeeded"
    assert answer["current"]["detail"]["status"] == "succeeded"


def test_an_unsigned_connection_is_refused(stack):
    refused = stack.websocket.requests["connect_refused"]
    with pytest.raises(InvalidStatus) as answer:
        connect(websocket_url(stack), proxy=None)
    assert answer.value.response.status_code == 403
    assert json.loads(answer.value.response.body) == {"message": "Forbidden"}
    assert stack.websocket.requests["connect_refused"] == refused + 1


def test_a_closed_connection_is_forgotten_with_its_subscriptions(stack):
    key, owner = caller("dave")
    with connect_as(stack, key) as ws:
        send(ws, {"action": "subscribe", "all_jobs": True})
        assert len(connection_items(stack, owner)) == 2  # the connection and its subscription
    wait_until(lambda: connection_items(stack, owner) == [])


def test_a_gone_connection_is_removed_at_the_first_410(stack, source_image):
    """A connection whose ``$disconnect`` never came (as after a lost network): its items are still in the table, the
    API no longer knows it. The first event for it is answered 410 and the push removes it."""
    key, owner = caller("erin")
    table, dynamodb = stack.name("ConnectionsTable"), stack.session.client("dynamodb")
    expires = {"N": "4102444800"}
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "connection#ghost-erin"}, "sk": {"S": "connection"},
                                             "owner": {"S": owner}, "connected_at": {"S": "2026-12-04T00:00:00Z"},
                                             "topics": {"M": {f"owner#{owner}": {"BOOL": True}}}, "expires_at": expires})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": f"owner#{owner}"}, "sk": {"S": "ghost-erin"},
                                             "owner": {"S": owner}, "expires_at": expires})
    gone = stack.websocket.requests["post_gone"]

    created = jobs_client(stack, key).create_job(job_body(source_image))
    assert created.status_code == 202, created.text

    wait_until(lambda: connection_items(stack, owner) == [])
    assert stack.websocket.requests["post_gone"] > gone
