"""Integration fixtures: one whole local stack (moto, simulator, gateway, pumps) for the package's tests, per process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from moto.core.base_backend import BackendDict

from local.client import JobsClient
from local.stack import LocalStack
from local.template import SQS_ATTRIBUTES
from tests.support import waits

pytestmark = pytest.mark.integration


TEST_DEADLINES = {"TASK_TIMEOUT_SECONDS": "20", "SUBMIT_BACKPRESSURE_MAX_SECONDS": "20",
                  "DEADLINE_BASE_SECONDS": "2", "DEADLINE_SECONDS_PER_IMAGE": "0.5",
                  "DEADLINE_GRACE_SECONDS": "2", "RECONCILE_BACKOFF_SECONDS": "2", "RECONCILE_BACKOFF_MAX_SECONDS": "4",
                  "INGEST_DEADLINE_SECONDS": "15"}


@pytest.fixture(scope="package")
def stack():
    """One local stack for ``tests/integration``, stopped (and moto's in-process state cleared) when the package's
    tests are done: a local stack is one per process at a time (a pytest-xdist worker may run ``tests/cli`` next).

    A failed message is redelivered at once (``retry_delay=0``: what the template's visibility timeouts are
    scaled to here), and the deadlines are ``TEST_DEADLINES``; a test that needs shorter ones sets its own
    (``stack.reconfigured``)."""
    with pytest.MonkeyPatch.context() as env:
        # key-rotation tests wait this long between JWKS refetches instead of the deployed default (10 s)
        env.setenv("ATLASCLOUD_JWKS_MIN_REFRESH_SECONDS", "1")
        env.setenv("FAL_JWKS_MIN_REFRESH_SECONDS", "1")
        for name, value in TEST_DEADLINES.items():  # scaled further down than `make up`'s
            env.setenv(name, value)
        try:
            with LocalStack(api_port=0, key_api_port=0, moto_port=0, simulator_port=0, websocket_port=0,
                            generation_seconds=0.3, retry_delay=0, reconcile_seconds=1) as running:
                _EVENTS.clear()  # (events of an earlier stack of this process)
                yield running  # the bucket is versioned (template.yaml): a test can count how often each output was written
        finally:
            BackendDict.reset()


@pytest.fixture(autouse=True)
def _clean_faults(stack):
    stack.simulator.reset_faults()
    yield
    stack.simulator.reset_faults()


@pytest.fixture(scope="package")
def client(stack):
    return JobsClient(stack.api_url, stack.session)


@pytest.fixture(scope="package")
def source_image(stack):
    """The example photo, uploaded to the stack's bucket; jobs name it as an s3:// URI."""
    bucket = stack.name("JobsBucket")
    stack.session.client("s3").upload_file("examples/astronaut.png", bucket, "inputs/tests/astronaut.png")
    return f"s3://{bucket}/inputs/tests/astronaut.png"


def wait_until(check, timeout: float = 30.0, interval: float = 0.05):
    """``tests.support.waits.wait_until`` with the local stack's pace: 30 s, polled every 50 ms."""
    return waits.wait_until(check, timeout, interval)


def plain(value):
    """A DynamoDB value as plain JSON types: ``Decimal`` → ``int`` when integral, else ``float``."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def item(stack, job_id: str) -> dict | None:
    """The job's DynamoDB item as the table holds it (read with boto3, not with the code under test)."""
    table = stack.session.resource("dynamodb").Table(stack.name("JobsTable"))
    found = table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
    return plain(found) if found else None


def wait_status(stack, job_id: str, *statuses: str, timeout: float = 30.0) -> dict:
    try:
        return wait_until(lambda: (i := item(stack, job_id)) and i["status"] in statuses and i, timeout)
    except AssertionError:
        raise AssertionError(f"job {job_id} never reached {statuses}; last seen: {item(stack, job_id)}") from None


def announced(stack, job_id: str) -> dict:
    """The job's item once it has ended and its terminal event went out (nothing more is written to it after)."""
    return wait_until(lambda: (found := item(stack, job_id)) and found.get("event_published_at") and found)


_EVENTS: dict[str | None, list[dict]] = {}
"""Bus events read off the tap queue and not yet taken, by job id (None: an event of no job, e.g. ``Job Rejected``)."""
PROGRESS = ("Job Queued", "Job Submitted")


def _drain_tap(stack, wait_seconds: int = 0) -> int:
    """Move what the tap queue holds into ``_EVENTS``; returns how many events were read."""
    sqs = stack.session.client("sqs")
    reply = sqs.receive_message(QueueUrl=stack.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
    for message in reply.get("Messages", []):
        event = json.loads(message["Body"])
        job_id = event["detail"].get("job_id") if isinstance(event.get("detail"), dict) else None
        _EVENTS.setdefault(job_id if event.get("source") == "seedream.jobs" else None, []).append(event)
        sqs.delete_message(QueueUrl=stack.events_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(reply.get("Messages", []))


def event_for(stack, job_id: str, timeout: float = 30.0, every: bool = False) -> dict:
    """The next terminal bus event of ``job_id`` (``Job Queued``/``Job Submitted`` before it are passed over),
    or with ``every`` the next event of any kind."""

    def look():
        pending = _EVENTS.setdefault(job_id, [])
        while pending and not every and pending[0]["detail-type"] in PROGRESS:
            pending.pop(0)
        if pending:
            return pending.pop(0)
        _drain_tap(stack, wait_seconds=1)
        return None

    return wait_until(look, timeout)


def event_where(stack, matches, timeout: float = 30.0) -> dict:
    """The first bus event not yet taken for which ``matches(event)`` is true (taken now)."""

    def look():
        for events in _EVENTS.values():
            for i, event in enumerate(events):
                if matches(event):
                    return events.pop(i)
        _drain_tap(stack, wait_seconds=1)
        return None

    return wait_until(look, timeout)


def untaken_events(stack) -> list[dict]:
    """Every bus event read so far and not yet taken, the tap queue drained first (nothing is taken)."""
    while _drain_tap(stack):
        pass
    return [event for events in _EVENTS.values() for event in events]


def output_versions(stack, job_id: str) -> dict[str, int]:
    """Output key → how many times it was written."""
    listed = stack.session.client("s3").list_object_versions(Bucket=stack.name("JobsBucket"),
                                                              Prefix=f"outputs/{job_id}/")
    counts: dict[str, int] = {}
    for version in listed.get("Versions", []):
        counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def deliveries(stack, task_id: str, *, acknowledged: bool = False) -> list[dict]:
    """The simulator's callback deliveries for ``task_id`` (only those answered 2xx if ``acknowledged``)."""
    return [c for c in list(stack.simulator.callbacks) if c["task_id"] == task_id
            and (not acknowledged or 200 <= (c["status"] or 0) < 300)]


def queue_drained(stack, logical_id: str) -> bool:
    """No message on the queue: none visible, none in flight (received, not yet deleted), none delayed."""
    attributes = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.queue_urls[logical_id],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return all(int(count) == 0 for count in attributes.values())


def wait_ingest_settled(stack, task_id: str, callbacks: int, timeout: float = 30.0) -> None:
    """Wait until the simulator has had ``callbacks`` deliveries for ``task_id`` acknowledged and the
    IngestQueue is drained by its pump.

    The webhook puts an ingest message on the queue before it answers, and the pump deletes a message
    only after the ingest handler has returned, so from then on everything those callbacks could have
    caused (a wrongly queued second ingest, a job moved backwards) has happened: a test can assert
    that it did not, without sleeping."""
    wait_until(lambda: len(deliveries(stack, task_id, acknowledged=True)) >= callbacks, timeout)
    wait_until(lambda: queue_drained(stack, "IngestQueue"), timeout)


def atlas_adapter(stack):
    """The Atlas Cloud adapter inside the local WebhookFunction (it holds the JWKS cache)."""
    return stack.functions["WebhookFunction"].module.svc.providers["atlascloud"]


def wait_jwks_refetch_allowed(stack, timeout: float = 10.0) -> None:
    """Wait until the webhook's Atlas adapter would refetch its JWKS for a kid it does not know
    (its rate limit is ``ATLASCLOUD_JWKS_MIN_REFRESH_SECONDS``, 1 s in the test stack)."""
    adapter = atlas_adapter(stack)
    wait_until(lambda: adapter._may_fetch(time.time()), timeout)


def settled(stack) -> bool:
    """Nothing left to happen on the queues: intake, submit, ModelArk (a generation holds its message until it has
    ended the job) and ingest queues drained by their pumps."""
    return all(queue_drained(stack, queue) for queue in ("IntakeQueue", "SubmitQueue", "ModelArkQueue", "IngestQueue"))


@contextmanager
def queue_gone(stack, logical_id: str) -> Iterator[None]:
    """The queue deleted, once every queue has settled (sending to it fails with ``QueueDoesNotExist``: SQS is
    unavailable to whoever sends there), then made again as it was, at the same URL."""
    wait_until(lambda: settled(stack), 60)
    sqs, url = stack.session.client("sqs"), stack.resources.queue_urls[logical_id]
    kept = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    sqs.delete_queue(QueueUrl=url)
    try:
        yield
    finally:
        attributes = {k: v for k, v in kept.items() if k in (*SQS_ATTRIBUTES, "RedrivePolicy", "RedriveAllowPolicy")}
        assert sqs.create_queue(QueueName=url.rsplit("/", 1)[1], Attributes=attributes)["QueueUrl"] == url


def events_of(stack, job_id: str) -> list[dict]:
    """Every bus event of ``job_id`` not yet taken, once the queues have settled (nothing more can be on its way)."""
    wait_until(lambda: settled(stack), 60)
    while _drain_tap(stack):
        pass
    return list(_EVENTS.get(job_id, []))


def stored_keys(stack, job_id: str) -> list[str]:
    listed = stack.session.client("s3").list_objects_v2(Bucket=stack.name("JobsBucket"), Prefix=f"outputs/{job_id}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))
