"""A queue pump delivers batches at once up to its concurrency, as the event source mapping does."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from local.motolocks import guard_sqs
from local.pumps import QueuePump
from tests.support.waits import wait_until


class SlowFunction:
    """Stands in for a ``LocalFunction``: each batch takes ``seconds``; records what ran at once."""

    def __init__(self, concurrency: int = 100, seconds: float = 0.2, fail: set[str] = frozenset()):
        self.spec = SimpleNamespace(logical_id="Slow")
        self.concurrency, self.seconds, self.fail = concurrency, seconds, fail
        self.bodies: list[str] = []
        self.running = self.peak = 0
        self._lock = threading.Lock()

    def invoke(self, event: dict) -> dict:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.bodies += [r["body"] for r in event["Records"]]
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.fail]}


@pytest.fixture
def queue(in_process_moto):
    guard_sqs()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="work")["QueueUrl"]
        yield sqs, url


def fill(sqs, url: str, count: int) -> None:
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": json.dumps(i)}
                                                      for i in range(start, min(count, start + 10))])


def left(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.mark.parametrize("concurrency, function_limit, expected", [(5, 100, 5), (5, 2, 2), (1, 100, 1)])
def test_batches_run_at_once_up_to_the_sources_maximum_concurrency_and_the_functions_limit(
        queue, concurrency, function_limit, expected):
    sqs, url = queue
    fill(sqs, url, 20)
    function = SlowFunction(concurrency=function_limit, seconds=0.1)
    pump = QueuePump(sqs, url, "arn:aws:sqs:us-east-1:123456789012:work", function, batch_size=2, concurrency=concurrency)
    assert pump.concurrency == expected
    pump.start()
    try:
        wait_until(lambda: left(sqs, url) == 0, 30, 0.05)
    finally:
        pump.stop()
    assert sorted(function.bodies, key=int) == [json.dumps(i) for i in range(20)]  # each delivered once
    assert function.peak == pump.peak == expected and pump.delivered == 20


def test_pause_returns_once_the_batches_in_flight_are_settled(queue):
    sqs, url = queue
    fill(sqs, url, 3)
    function = SlowFunction(seconds=0.5, fail={json.dumps(1)})
    pump = QueuePump(sqs, url, "arn:aws:sqs:us-east-1:123456789012:work", function, batch_size=1, concurrency=3,
                     retry_delay=60)
    pump.start()
    try:
        wait_until(lambda: function.running == 3, 10, 0.01)
        pump.pause()
        assert function.running == 0 and (pump.delivered, pump.failed) == (2, 1)
        fill(sqs, url, 1)
        time.sleep(1.5)  # paused: nothing is received (a poll is 1 s)
        assert len(function.bodies) == 3
        pump.resume()
        wait_until(lambda: len(function.bodies) == 4, 10, 0.05)
    finally:
        pump.stop()
