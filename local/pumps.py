"""Queue pumps: deliver SQS batches to ``submit`` and ``ingest`` the way Lambda's event source mapping does.

Each pump long-polls its queue (batch size from the template), builds an SQS event shaped
like ``events/*-sqs.json``, invokes the handler and deletes the messages that did not fail.
Reported ``batchItemFailures`` (or a handler that raises) stay on the queue; moto applies the
queue's ``RedrivePolicy`` and moves a message to its DLQ after ``maxReceiveCount`` receives.

Concurrency: like the event source mapping, a pump runs up to ``concurrency`` batches at once — the
event source's ``ScalingConfig.MaximumConcurrency`` (submit and intake: ``SubmitMaximumConcurrency``, 5),
else the function's own limit (``local.runtime``: ingest, without either, up to 100). One poller
receives a batch whenever a slot is free and hands it to a thread of its own; so at most
``concurrency`` batches are received and not yet settled (deleted or made visible again).

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
                 retry_delay: int = 1, concurrency: int = 1):
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.function, self.batch_size, self.retry_delay = function, min(batch_size, 10), retry_delay
        self.concurrency = max(1, min(concurrency, function.concurrency))
        self._slots = threading.Semaphore(self.concurrency)
        self._settled = threading.Condition()
        self._in_flight = 0
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._parked = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pump-{function.spec.logical_id}", daemon=True)
        self.delivered = 0
        self.failed = 0
        self.peak = 0
        """The most batches in flight at once so far."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=5)
        self._wait_settled(timeout=5)

    def pause(self) -> None:
        """Stop delivering (like disabling the event source mapping); returns once the batches already received
        have been delivered and settled, so from then on messages wait on the queue."""
        self._running.clear()
        self._parked.wait(timeout=30)
        self._wait_settled(timeout=30)

    def resume(self) -> None:
        self._parked.clear()
        self._running.set()

    def _wait_settled(self, timeout: float) -> None:
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._running.is_set():
                self._parked.set()
                self._running.wait()
                continue
            if not self._slots.acquire(timeout=0.5):
                continue  # every slot busy: look at pause/stop again
            try:
                messages = self._receive(wait_seconds=1)
            except Exception:  # keep pumping, as the event source mapping does
                self._slots.release()
                if not self._stop.is_set():
                    log.exception("pump %s failed", self.function.spec.logical_id)
                    self._stop.wait(0.5)
                continue
            if not messages:
                self._slots.release()
                continue
            with self._settled:
                self._in_flight += 1
                self.peak = max(self.peak, self._in_flight)
            threading.Thread(target=self._deliver_in_slot, args=(messages,), daemon=True,
                             name=f"pump-{self.function.spec.logical_id}-batch").start()

    def _deliver_in_slot(self, messages: list[dict]) -> None:
        try:
            self.deliver(messages)
        except Exception:
            if not self._stop.is_set():
                log.exception("pump %s could not settle a batch", self.function.spec.logical_id)
        finally:
            with self._settled:
                self._in_flight -= 1
                self._settled.notify_all()
            self._slots.release()

    def _receive(self, wait_seconds: int) -> list[dict]:
        reply = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                                         WaitTimeSeconds=wait_seconds, AttributeNames=["All"],
                                         MessageAttributeNames=["All"])
        return reply.get("Messages", [])

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and deliver it, in this thread; returns how many messages were delivered."""
        messages = self._receive(wait_seconds)
        if messages:
            self.deliver(messages)
        return len(messages)

    def deliver(self, messages: list[dict]) -> None:
        """Invoke the function with ``messages``; delete those that did not fail, make the others visible again."""
        try:
            result = self.function.invoke(sqs_event(messages, self.queue_arn)) or {}
            failed_ids = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:
            log.exception("handler %s raised; the whole batch will be retried", self.function.spec.logical_id)
            failed_ids = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed_ids:
                with self._settled:
                    self.failed += 1
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                   VisibilityTimeout=self.retry_delay)
            else:
                with self._settled:
                    self.delivered += 1
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
