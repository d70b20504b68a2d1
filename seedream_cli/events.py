"""``seedream events``: follow the lifecycle events of the caller's jobs (``Job Queued`` … ``Job Cancelled``).

From the stack's WebSocket API (:func:`follow_live`, ``seedream_cli.live``): each reader has its own connection and
subscription, so two readers both see every event. ``--job J`` subscribes to that job first and then reads it (the
subscription's answer carries the job's current state): a finished job prints its end and the command exits.

From an SQS queue (:func:`follow_events`, ``--queue-url``), for a stack deployed before the WebSocket API: the bus
delivers to whatever a rule targets, so the user subscribes a queue (:data:`SUBSCRIBE`). Printed events are deleted
from the queue (this reader consumes them; readers of one queue take turns); with ``--job``, other jobs' events are
left on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from .errors import CliError
from .live import REOPENS, ConnectionClosed, LiveEvents
from .target import LOCAL_EVENTS_QUEUE, Target

SUBSCRIBE = """\
Events of {where} (source "seedream.jobs") go only to the targets of EventBridge rules on its bus{bus}.
To follow them here, subscribe an SQS queue and pass its URL:
  1. an SQS queue whose policy lets events.amazonaws.com send to it (sqs:SendMessage, aws:SourceArn = the rule's ARN)
  2. a rule on the bus with the pattern {{"source": ["seedream.jobs"]}} and the queue as its target
  3. seedream {target_args}events --queue-url <the queue's URL>"""


def describe(event: dict) -> str:
    """One line: time, detail-type, job id (a ``Job Rejected`` has none: its ``reference``), provider/model, then the
    outputs or the error; nothing the event does not carry (no ``None``)."""
    detail = event.get("detail") or {}
    kind = event.get("detail-type", "?")
    when = detail.get("at") or detail.get("completed_at") or event.get("time") or ""
    job = detail.get("job_id") or (f"reference {detail['reference']}" if detail.get("reference") else "no job")
    line = f"{when}  {kind:<14} {job}"
    if detail.get("provider") or detail.get("model"):
        line += f"  {' '.join(str(detail[k]) for k in ('provider', 'model') if detail.get(k))}"
    elif detail.get("job_id") and detail.get("reference"):
        line += f"  reference {detail['reference']}"
    error = detail.get("error")
    if isinstance(error, dict):
        return f"{line}  {error.get('code') or 'error'}: {error.get('message') or ''}".rstrip()
    outputs = detail.get("outputs")
    if outputs or (outputs is not None and kind == "Job Succeeded"):  # a job's earlier events carry an empty list
        return f"{line}  {len(outputs)} output{'s' if len(outputs) != 1 else ''}"
    return line


def queue_url_of(target: Target, queue_url: str | None, target_args: str) -> str:
    if queue_url:
        return queue_url
    if target.local:
        with target.aws_errors(f"finding the local stack's events queue {LOCAL_EVENTS_QUEUE}"):
            return target.aws("sqs").get_queue_url(QueueName=LOCAL_EVENTS_QUEUE)["QueueUrl"]
    bus = f" ({target.bus})" if target.bus else ""
    raise CliError(SUBSCRIBE.format(where=target.describe(), bus=bus, target_args=target_args))


TERMINAL = frozenset({"Job Succeeded", "Job Failed", "Job Cancelled"})


def follow_events(target: Target, queue_url: str, echo: Callable[[str], None], *, job_id: str | None = None,
                  count: int | None = None, timeout: float | None = None, raw: bool = False) -> tuple[int, bool]:
    """Print events as they arrive until ``count`` were printed, ``timeout`` s passed, or Ctrl-C — and,
    following one ``job_id``, once its terminal event (Job Succeeded, Failed or Cancelled) is printed.

    Returns how many were printed, and whether Ctrl-C ended it."""
    sqs = target.aws("sqs")
    printed = 0
    ended = False
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while not ended and (count is None or printed < count) and (deadline is None or time.monotonic() < deadline):
            wait = 1 if deadline is None else max(0, min(1, int(deadline - time.monotonic())))
            with target.aws_errors(f"reading {queue_url}"):
                reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                            VisibilityTimeout=5 if job_id else 30)
            for message in reply.get("Messages", []):
                try:
                    event = json.loads(message["Body"])
                except ValueError:
                    event = {"detail-type": "(not an EventBridge event)", "detail": {}}
                if job_id and (event.get("detail") or {}).get("job_id") != job_id:
                    continue  # another job's: left on the queue, visible again in a few seconds
                if ended or (count is not None and printed >= count):  # enough: the rest go back to the queue at once
                    with target.aws_errors(f"releasing a message on {queue_url}"):
                        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                      VisibilityTimeout=0)
                    continue
                echo(json.dumps(event) if raw else describe(event))
                printed += 1
                ended = bool(job_id) and event.get("detail-type") in TERMINAL
                with target.aws_errors(f"deleting a message from {queue_url}"):
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    except KeyboardInterrupt:
        return printed, True
    return printed, False


def follow_live(live: LiveEvents, echo: Callable[[str], None], *, job_id: str | None = None, count: int | None = None,
                timeout: float | None = None, raw: bool = False) -> tuple[int, bool]:
    """Print the events of the caller's jobs from ``live`` (open) as they arrive, until ``count`` were printed,
    ``timeout`` s passed, or Ctrl-C. With ``job_id``: its current state first (a finished job: its end, and stop),
    then its events until its terminal one; an event already printed for it (a redelivery, or the state the
    subscription answered with) is not printed again. A connection API Gateway closes is opened again.

    Returns how many were printed, and whether Ctrl-C ended it."""
    printed, reopened, seen = 0, 0, set()
    deadline = None if timeout is None else time.monotonic() + timeout

    def show(event: dict) -> bool:
        """Print it (unless seen); True when it ends the job being followed."""
        nonlocal printed
        kind = event.get("detail-type")
        key = ((event.get("detail") or {}).get("job_id"), kind)
        if key in seen or (count is not None and printed >= count):
            return False
        seen.add(key)
        echo(json.dumps(event) if raw else describe(event))
        printed += 1
        return bool(job_id) and kind in TERMINAL

    subscribed = False
    try:
        while count is None or printed < count:
            try:
                if not subscribed:
                    answer = live.subscribe(job_id)
                    subscribed, reopened = True, 0
                    if job_id and show(answer.get("current") or {}):
                        break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                event = live.next_event(left)
                if event is None or (job_id and (event.get("detail") or {}).get("job_id") != job_id):
                    continue
                if show(event):
                    break
            except ConnectionClosed:
                reopened += 1
                if reopened > REOPENS:
                    raise CliError(f"the WebSocket connection to {live.url} closed {REOPENS} times in a row") from None
                live.reopen()
                subscribed = False
    except KeyboardInterrupt:
        return printed, True
    return printed, False
