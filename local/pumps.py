"""Queue pumps: deliver SQS batches to ``submit`` and ``ingest`` the way Lambda's event source mapping does.

Each pump long-polls its queue (batch size from the template), builds an SQS event shaped
like ``events/*-sqs.json``, invokes the handler and deletes the messages that did not fail.
Reported ``batchItemFailures`` (or a handler that raises) stay on the queue; moto applies the
queue's ``RedrivePolicy`` and moves a message to its DLQ after ``maxReceiveCount`` receives.

One local deviation: instead of waiting out the full visibility timeout (270 s and 1800 s in
the template), a failed message becomes visible again after ``retry_delay`` seconds so local
runs and tests see retries quickly.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from .runtime import LocalFunction
from .template import REGION

log = logging.getLogger("local.pumps")


def sqs_event(messages: list[dict], queue_arn: str) -> dict:
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    } for m in messages]}


class QueuePump:
    def __init__(self, sqs, queue_url: str, queue_arn: str, function: LocalFunction, batch_size: int,
                 retry_delay: int = 1):
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.function, self.batch_size, self.retry_delay = function, min(batch_size, 10), retry_delay
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._parked = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pump-{function.spec.logical_id}", daemon=True)
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=5)

    def pause(self) -> None:
        """Stop delivering (like disabling the event source mapping); returns once a poll already in
        flight has finished, so from then on messages wait on the queue."""
        self._running.clear()
        self._parked.wait(timeout=30)

    def resume(self) -> None:
        self._parked.clear()
        self._running.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._running.is_set():
                self._parked.set()
                self._running.wait()
                continue
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # keep pumping, as the event source mapping does
                if not self._stop.is_set():
                    log.exception("pump %s failed", self.function.spec.logical_id)
                    self._stop.wait(0.5)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and deliver it; returns how many messages were delivered."""
        reply = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                                         WaitTimeSeconds=wait_seconds, AttributeNames=["All"],
                                         MessageAttributeNames=["All"])
        messages = reply.get("Messages", [])
        if not messages:
            return 0
        try:
            result = self.function.invoke(sqs_event(messages, self.queue_arn)) or {}
            failed_ids = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:
            log.exception("handler %s raised; the whole batch will be retried", self.function.spec.logical_id)
            failed_ids = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed_ids:
                self.failed += 1
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                   VisibilityTimeout=self.retry_delay)
            else:
                self.delivered += 1
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)
