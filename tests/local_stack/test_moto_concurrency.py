"""The local stack's moto is safe where the lifecycle relies on it (``local.motolocks``), under concurrent requests.

moto is served as the stack serves it (``Serialised`` around its WSGI app, ``guard_sqs`` on its SQS model, one
thread per request); the interpreter switches threads every few microseconds during these tests, so that an
unguarded read-check-write would interleave (without the locks, the same tests see two winners of one condition,
lost ``ADD`` increments, SQS messages delivered twice and 500s).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

from local.gateway import serve
from local.motolocks import Serialised, guard_sqs
from tests.support.waits import wait_until

THREADS = 50


@pytest.fixture(scope="module")
def moto_url():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    guard_sqs()
    server = serve(Serialised(DomainDispatcherApplication(create_backend_app)), 0, MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def busy_switching():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def client(moto_url: str, service: str):
    return boto3.client(service, endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="local",
                        aws_secret_access_key="local",  # noqa: S106 - moto's dummy key
                        config=Config(max_pool_connections=THREADS + 10, retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def table(moto_url):
    dynamodb = client(moto_url, "dynamodb")
    dynamodb.create_table(TableName="race", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    return dynamodb


def at_once(count: int, work) -> list:
    """``work(i)`` for i in 0..count-1, every call released at the same moment; the results (or exceptions)."""
    start = threading.Barrier(count)

    def one(i):
        start.wait()
        try:
            return work(i)
        except Exception as exc:  # noqa: BLE001 - returned to the test
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.parametrize("trial", range(3))
def test_one_of_fifty_conditional_updates_of_one_item_wins(table, busy_switching, trial):
    key = {"k": {"S": f"job-{trial}"}}
    table.put_item(TableName="race", Item={**key, "status": {"S": "queued"}, "moves": {"N": "0"}})

    def claim(i):
        table.update_item(TableName="race", Key=key, UpdateExpression="SET #s = :next, winner = :i ADD moves :one",
                          ConditionExpression="#s = :queued", ExpressionAttributeNames={"#s": "status"},
                          ExpressionAttributeValues={":next": {"S": "submitted"}, ":queued": {"S": "queued"},
                                                     ":i": {"N": str(i)}, ":one": {"N": "1"}})
        return i

    results = at_once(THREADS, claim)
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if not isinstance(r, int)]
    assert len(winners) == 1
    assert all("ConditionalCheckFailed" in str(r) for r in losers)
    item = table.get_item(TableName="race", Key=key, ConsistentRead=True)["Item"]
    assert item["moves"] == {"N": "1"} and item["winner"] == {"N": str(winners[0])}


def test_concurrent_add_counts_every_increment_and_one_transaction_wins(table, busy_switching):
    key = {"k": {"S": "counter"}}
    at_once(THREADS, lambda i: [table.update_item(TableName="race", Key=key, UpdateExpression="ADD n :one",
                                                  ExpressionAttributeValues={":one": {"N": "1"}}) for _ in range(4)])
    assert table.get_item(TableName="race", Key=key)["Item"]["n"] == {"N": str(THREADS * 4)}

    def transact(i):
        table.transact_write_items(TransactItems=[
            {"Put": {"TableName": "race", "Item": {"k": {"S": "lease"}, "owner": {"N": str(i)}},
                     "ConditionExpression": "attribute_not_exists(k)"}},
            {"Put": {"TableName": "race", "Item": {"k": {"S": "lease-note"}, "owner": {"N": str(i)}}}}])
        return i

    winners = [r for r in at_once(THREADS, transact) if isinstance(r, int)]
    assert len(winners) == 1
    owners = {table.get_item(TableName="race", Key={"k": {"S": k}})["Item"]["owner"]["N"] for k in ("lease", "lease-note")}
    assert owners == {str(winners[0])}


def test_concurrent_receivers_never_hold_one_sqs_message_together_and_none_is_lost(moto_url, busy_switching):
    sqs = client(moto_url, "sqs")
    url = sqs.create_queue(QueueName="race", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    senders, per_sender, receivers = 3, 50, 10
    held: set[str] = set()  # received and not yet deleted or made visible again
    deleted: Counter[str] = Counter()
    twice: list[str] = []
    errors: list[Exception] = []
    lock, done = threading.Lock(), threading.Event()

    def send(i):
        for n in range(per_sender):
            sqs.send_message(QueueUrl=url, MessageBody=f"{i}-{n}")

    def receive():
        while not done.is_set():
            try:
                for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                   WaitTimeSeconds=1).get("Messages", []):
                    body = message["Body"]
                    with lock:
                        if body in held:
                            twice.append(body)
                        held.add(body)
                        again = hash(body + message["ReceiptHandle"]) % 3 == 0
                    if again:  # made visible again at once: the receivers race for it once more
                        with lock:
                            held.discard(body)
                        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                                      VisibilityTimeout=0)
                    else:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                        with lock:
                            held.discard(body)
                            deleted[body] += 1
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=receive) for _ in range(receivers)]
    for thread in threads:
        thread.start()
    at_once(senders, send)
    wait_until(lambda: len(deleted) == senders * per_sender or errors, 60, 0.1)
    done.set()
    for thread in threads:
        thread.join()
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert errors == [] and twice == []
    assert len(deleted) == senders * per_sender and set(deleted.values()) == {1}  # none lost, each deleted once
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_waiting_receive_gets_a_message_made_visible_again_as_an_sqs_long_poll_does(moto_url):
    # moto alone wakes a waiting receive only for a new message: this one, made visible again while it waits,
    # would be seen only after the wait (an empty answer); SQS returns it at once
    sqs = client(moto_url, "sqs")
    url = sqs.create_queue(QueueName="long-poll", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="retry me")
    taken = sqs.receive_message(QueueUrl=url)["Messages"][0]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=1)
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"], VisibilityTimeout=0)
        assert [m["Body"] for m in waiting.result(timeout=10).get("Messages", [])] == ["retry me"]
