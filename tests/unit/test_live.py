"""Live events (``usecases.live``): connections and subscriptions in the connections table, owner scoping as the HTTP
API's, and the push of each lifecycle event to the connections that may see it, against moto.

The management API is the one part moto cannot play (its ``PostToConnection`` never answers 410), so the push tests
use ``SentMessages``, which records what the push sends and answers False for the connections named gone;
``SocketApi``'s own 410 mapping is tested against botocore's ``Stubber``."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from botocore.stub import Stubber

from seedream.connections import CONNECTION_TTL_SECONDS, job_topic, owner_topic
from seedream.models.events import BusEvent
from seedream.models.origins import S3Origin
from seedream.socket_api import SocketApi
from seedream.usecases.accept import Entry, accept
from seedream.usecases.live import Forbidden, connect, disconnect, push, subscribe
from seedream.wiring import build_services

from .usecase_helpers import BODY

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
CONNECTED_AT_MS = 1_796_000_000_000


class SentMessages:
    """Stands in for ``SocketApi``: records each message per connection; a connection in ``gone`` answers 410."""

    def __init__(self):
        self.sent: dict[str, list[dict]] = {}
        self.gone: set[str] = set()

    def post(self, connection_id: str, data: bytes) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(json.loads(data))
        return True


@pytest.fixture
def live(aws, svc, svc_with, provider_http):
    """The unit ``svc``'s parts, with the connections table and a ``SentMessages`` management API."""
    _, resources = aws
    settings = dataclasses.replace(svc.settings, connections_table=resources.names["ConnectionsTable"])
    wired = build_services(settings, ("connections",), session=boto3.session.Session(region_name="us-east-1"))
    return svc_with(provider_http, settings=settings, connections=wired.connections, socket_api=SentMessages())


def items(svc) -> dict[tuple[str, str], dict]:
    table = svc.connections.table
    found = svc.connections.dynamodb.scan(TableName=table)["Items"]
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in found}


def lifecycle(job, detail_type: str = "Job Queued") -> BusEvent:
    detail = {"job_id": job.job_id, "status": detail_type.split()[1].lower(), "provider": job.provider,
              "model": job.model, "outputs": [], "at": job.created_at}
    return BusEvent.model_validate({"id": f"evt-{detail_type}", "source": "seedream.jobs", "detail-type": detail_type,
                                    "time": "2026-11-21T10:00:00Z", "detail": detail})


def test_a_connection_is_kept_with_its_owner_and_expires_after_api_gateways_longest_connection(live):
    connect(live, "conn-a", ALICE, CONNECTED_AT_MS)
    item = items(live)[("connection#conn-a", "connection")]
    assert item["owner"]["S"] == ALICE
    assert int(item["expires_at"]["N"]) == CONNECTED_AT_MS // 1000 + CONNECTION_TTL_SECONDS == CONNECTED_AT_MS // 1000 + 7800


def test_a_connection_without_an_iam_caller_is_refused(live):
    with pytest.raises(Forbidden) as refused:
        connect(live, "conn-x", None, CONNECTED_AT_MS)
    assert (refused.value.code, refused.value.http_status) == ("forbidden", 403)
    assert items(live) == {}


def test_subscribing_to_ones_own_job_answers_with_its_current_state(live):
    job = accept(live, dict(BODY), owner=ALICE)
    connect(live, "conn-a", ALICE, CONNECTED_AT_MS)

    answer = subscribe(live, "conn-a", json.dumps({"action": "subscribe", "job_id": job.job_id}))

    assert answer["type"] == "subscribed" and answer["job_id"] == job.job_id
    assert answer["current"]["detail-type"] == "Job Queued"
    assert answer["current"]["detail"]["job_id"] == job.job_id and answer["current"]["detail"]["status"] == "queued"
    assert (job_topic(job.job_id), "conn-a") in items(live)
    assert live.connections.find("conn-a").topics == (job_topic(job.job_id),)


def test_another_owners_job_does_not_exist_for_a_subscriber_and_leaves_no_subscription(live):
    job = accept(live, dict(BODY), owner=ALICE)
    connect(live, "conn-b", BOB, CONNECTED_AT_MS)

    answer = subscribe(live, "conn-b", json.dumps({"action": "subscribe", "job_id": job.job_id}))

    assert answer == {"type": "error", "error": {"code": "job_not_found", "message": f"no job with id {job.job_id!r}"}}
    assert (job_topic(job.job_id), "conn-b") not in items(live)


@pytest.mark.parametrize(("body", "message"), [
    ({"action": "subscribe"}, "give either job_id (one job) or all_jobs: true (every job of yours)"),
    ({"action": "subscribe", "job_id": "j", "all_jobs": True}, "give either job_id"),
    ({"action": "subscribe", "job_id": ""}, "job_id must be 1 to 128 characters"),
    ({"action": "subscribe", "jobs": "all"}, "Extra inputs are not permitted"),
    ("not json", "the message is not a JSON object"),
])
def test_a_subscription_that_breaks_the_rules_is_an_invalid_request(live, body, message):
    connect(live, "conn-a", ALICE, CONNECTED_AT_MS)
    answer = subscribe(live, "conn-a", body if isinstance(body, str) else json.dumps(body))
    assert answer["type"] == "error" and answer["error"]["code"] == "invalid_request"
    assert message in answer["error"]["message"]
    assert list(items(live)) == [("connection#conn-a", "connection")]


def test_a_closed_connection_cannot_subscribe(live):
    answer = subscribe(live, "conn-gone", json.dumps({"action": "subscribe", "all_jobs": True}))
    assert answer["error"]["code"] == "connection_gone"


def test_each_event_goes_once_to_every_connection_subscribed_to_its_job_or_its_owners_jobs(live):
    job = accept(live, dict(BODY), owner=ALICE)
    connect(live, "conn-job", ALICE, CONNECTED_AT_MS)
    connect(live, "conn-all", ALICE, CONNECTED_AT_MS)
    connect(live, "conn-both", ALICE, CONNECTED_AT_MS)
    connect(live, "conn-bob", BOB, CONNECTED_AT_MS)
    subscribe(live, "conn-job", json.dumps({"action": "subscribe", "job_id": job.job_id}))
    subscribe(live, "conn-all", json.dumps({"action": "subscribe", "all_jobs": True}))
    subscribe(live, "conn-both", json.dumps({"action": "subscribe", "all_jobs": True}))
    subscribe(live, "conn-both", json.dumps({"action": "subscribe", "job_id": job.job_id}))
    subscribe(live, "conn-bob", json.dumps({"action": "subscribe", "all_jobs": True}))

    assert push(live, lifecycle(job)) == {"sent": 3, "gone": 0}

    sent = live.socket_api.sent
    assert set(sent) == {"conn-job", "conn-all", "conn-both"}  # bob's "all my jobs" is not alice's
    for messages in sent.values():
        assert messages == [{"type": "event", "id": "evt-Job Queued", "source": "seedream.jobs",
                             "detail-type": "Job Queued", "time": "2026-11-21T10:00:00Z",
                             "detail": lifecycle(job).detail}]


def test_a_subscription_written_under_another_owner_receives_nothing(live):
    """The owner is checked again at push time: a subscription item that names the job but another owner (a race
    with the ownership check, or a forged item) gets no event."""
    job = accept(live, dict(BODY), owner=ALICE)
    connect(live, "conn-bob", BOB, CONNECTED_AT_MS)
    live.connections.subscribe(live.connections.find("conn-bob"), job_topic(job.job_id))
    live.connections.subscribe(live.connections.find("conn-bob"), owner_topic(ALICE))

    assert push(live, lifecycle(job, "Job Succeeded")) == {"sent": 0, "gone": 0}
    assert live.socket_api.sent == {}


def test_a_job_of_another_door_has_no_subscribers(live):
    job = accept(live, dict(BODY), entry=Entry(origin=S3Origin(bucket="b", key="requests/r.json", version_id="v"),
                                               reference="r", job_id="s3-door-job"))
    connect(live, "conn-a", ALICE, CONNECTED_AT_MS)
    subscribe(live, "conn-a", json.dumps({"action": "subscribe", "all_jobs": True}))
    assert push(live, lifecycle(job)) == {"sent": 0, "gone": 0}


def test_a_gone_connection_is_removed_with_every_subscription(live):
    job = accept(live, dict(BODY), owner=ALICE)
    connect(live, "conn-gone", ALICE, CONNECTED_AT_MS)
    connect(live, "conn-live", ALICE, CONNECTED_AT_MS)
    for connection in ("conn-gone", "conn-live"):
        subscribe(live, connection, json.dumps({"action": "subscribe", "job_id": job.job_id}))
        subscribe(live, connection, json.dumps({"action": "subscribe", "all_jobs": True}))
    live.socket_api.gone.add("conn-gone")

    assert push(live, lifecycle(job)) == {"sent": 1, "gone": 1}

    assert not [key for key in items(live) if "conn-gone" in key[0] or key[1] == "conn-gone"]
    assert live.connections.find("conn-live") is not None
    assert push(live, lifecycle(job, "Job Submitted")) == {"sent": 1, "gone": 0}  # no second try at the gone one


def test_disconnect_forgets_the_connection_and_its_subscriptions(live):
    job = accept(live, dict(BODY), owner=ALICE)
    connect(live, "conn-a", ALICE, CONNECTED_AT_MS)
    subscribe(live, "conn-a", json.dumps({"action": "subscribe", "job_id": job.job_id}))
    subscribe(live, "conn-a", json.dumps({"action": "subscribe", "all_jobs": True}))

    assert disconnect(live, "conn-a") == 3
    assert items(live) == {}
    assert disconnect(live, "conn-a") == 0


def test_events_that_are_no_job_move_are_not_pushed(live):
    rejected = BusEvent.model_validate({"id": "e", "source": "seedream.jobs", "detail-type": "Job Rejected",
                                        "detail": {"job_id": None, "status": "rejected"}})
    assert push(live, rejected) == {"sent": 0, "gone": 0}


def test_the_management_api_says_gone_for_410_and_raises_the_rest():
    client = boto3.session.Session(region_name="us-east-1").client(
        "apigatewaymanagementapi", endpoint_url="https://abc123.execute-api.us-east-1.amazonaws.com/v1",
        aws_access_key_id="k", aws_secret_access_key="s")
    api = SocketApi(client)
    with Stubber(client) as stub:
        stub.add_response("post_to_connection", {}, {"ConnectionId": "c1", "Data": b"hi"})
        stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
        stub.add_client_error("post_to_connection", "LimitExceededException", http_status_code=429)
        assert api.post("c1", b"hi") is True
        assert api.post("c2", b"hi") is False
        with pytest.raises(client.exceptions.LimitExceededException):
            api.post("c3", b"hi")
