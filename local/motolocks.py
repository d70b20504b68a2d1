"""Where moto is not safe under concurrent requests, and the locks the local stack adds there.

moto's server is threaded (one thread per request), but its backends are plain Python objects that
read, check and write without locks. Read in moto 5.2.5 and measured (``tests/local_stack/
test_moto_concurrency.py``, with the interpreter switching threads often):

* **DynamoDB: not atomic.** ``update_item``/``put_item``/``delete_item`` read the item, evaluate the
  ``ConditionExpression`` and write it back with no lock; two threads can both pass the same
  condition (two "winners" of ``attribute_not_exists``), ``ADD`` counters lose increments, and a
  ``Query`` that iterates a table while another request inserts into it can fail (``dictionary
  changed size during iteration``). DynamoDB makes each item write atomic and every condition a
  compare-and-set: the lifecycle relies on that (``seedream.store.MOVES``). So **every DynamoDB
  request is serialised**: :class:`Serialised` holds one lock around moto's WSGI application for
  requests whose ``X-Amz-Target`` is ``DynamoDB_20120810.*`` (reads too, so none sees half an update).
  Requests to other services are not held. moto answers a DynamoDB request in about a millisecond.
* **SQS: not safe.** ``receive_message`` checks a message's visibility and marks it received without a
  lock, so two concurrent receives deliver the same message (each with its own receipt handle, one of
  them then "invalid"); ``delete_message`` rebuilds the queue's message list while ``send_message``
  appends to the old one (a lost message), and the pending set changes size under an iterating
  receive (a 500). **Each queue is serialised on its own**: :func:`guard_sqs` makes receive, delete,
  change-visibility and add hold the queue's own condition lock (moto's ``Queue._messages_lock``, an
  ``RLock`` condition). A long poll still waits without holding it: a condition's ``wait`` releases
  its ``RLock`` whatever its depth. Messages reach a queue from SQS requests and from EventBridge rule
  targets (S3 notifications, ``PutEvents``) alike, which is why this lock lives in the model and not
  in the WSGI layer.
* **SQS long polls: late.** A receive that finds nothing waits on the queue's condition, which moto notifies
  only when a message is added, and otherwise wakes once a second: a message whose visibility timeout or
  delay ends is seen up to a second late (two, counting the receive's own end), where SQS returns it at
  once. Every retry of a failed message paid that. :func:`guard_sqs` makes a waiting receive wake when the
  soonest hidden message of its queue becomes visible, and a change of visibility wake the queue's waiting
  receives, so a redelivery comes when its visibility timeout says.
* **S3 and EventBridge: left alone.** moto guards an object's value with a lock of its own; concurrent
  puts, lists and deletes of different keys and ``PutEvents`` showed no error or lost write in the
  same measurements, and nothing in the stack writes one key from two threads at once.
"""

from __future__ import annotations

import functools
import threading
import time

DYNAMODB_TARGET = "DynamoDB_20120810."


class Serialised:
    """WSGI middleware in front of moto: one DynamoDB request at a time (module docstring); others pass through."""

    def __init__(self, app):
        self.app = app
        self.dynamodb = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET):
            return self.app(environ, start_response)
        with self.dynamodb:
            # moto builds the whole answer inside the call; the body list is read after the lock, unchanged
            return list(self.app(environ, start_response))


def _queue_locked(method, queue_of):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with queue_of(self, *args, **kwargs)._messages_lock:
            return method(self, *args, **kwargs)

    locked.queue_locked = True
    return locked


def guard_sqs() -> None:
    """Make moto's SQS receive, delete, change-visibility and add hold the queue's lock (idempotent, process-wide)."""
    from moto.sqs.models import Queue, SQSBackend

    if getattr(SQSBackend.receive_message, "queue_locked", False):
        return

    def by_name(backend, queue_name, *args, **kwargs):
        return backend.get_queue(queue_name)

    for name in ("receive_message", "delete_message"):
        setattr(SQSBackend, name, _queue_locked(getattr(SQSBackend, name), by_name))
    SQSBackend.change_message_visibility = _queue_locked(_waking(SQSBackend.change_message_visibility), by_name)
    Queue.add_message = _queue_locked(Queue.add_message, lambda queue, *args, **kwargs: queue)
    Queue.wait_for_messages = _wait_until_visible


def _waking(change_message_visibility):
    """``change_message_visibility`` that wakes the queue's waiting receives (the message's new moment counts)."""

    @functools.wraps(change_message_visibility)
    def changed(backend, queue_name, *args, **kwargs):
        try:
            return change_message_visibility(backend, queue_name, *args, **kwargs)
        finally:
            backend.get_queue(queue_name)._messages_lock.notify_all()

    return changed


def _wait_until_visible(queue, timeout: float) -> None:
    """moto's ``Queue.wait_for_messages``, waking also when the soonest hidden message (in flight or delayed) of
    ``queue`` becomes visible, as an SQS long poll returns it then (module docstring)."""
    from moto.core.utils import unix_time_millis

    end = time.monotonic() + timeout
    with queue._messages_lock:
        while not queue.messages:
            remaining, now = end - time.monotonic(), unix_time_millis()
            if remaining <= 0:
                return
            hidden_until = [max(m.visible_at, m.delayed_until) for m in queue._messages]
            soonest = min((moment for moment in hidden_until if moment >= now), default=None)
            # (`visible` is `now > visible_at`: 2 ms past it); a notify (a message added, a visibility changed) wakes
            # this early, and the loop looks again
            queue._messages_lock.wait(remaining if soonest is None else min(remaining, (soonest - now) / 1000 + 0.002))
