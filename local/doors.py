"""The S3 and EventBridge doors, used from outside the stack: what ``make demo ENTRY=s3|eventbridge`` does.

- ``via_s3``: the source images go to ``requests/<name>/<file>``, then the manifest ``requests/<name>.json``
  (the request, its images by relative path). The bucket's EventBridge notification, the stack's rule
  and the intake queue bring it to the IntakeFunction, exactly as in AWS. The job is followed on the
  bus; its document is ``results/<name>.json`` (``results/<name>.error.json`` when refused).
- ``via_eventbridge``: ``Job Requested`` on the stack's bus (``source: local.demo``) with a ``reference``
  and a task token, as ``examples/state-machine.json`` does with ``$$.Task.Token``. The job is followed on
  the bus; its document is what ``SendTaskSuccess`` carries (recorded by ``local.tasks``).

Both return ``(document, exit status)``: the final job document and 0 when the job succeeded; the job's
terminal event (or the refusal) and 1 when it failed; 2 when it was refused or nothing came in time.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from seedream_cli.jobs import content_key

from .stack import LocalStack
from .template import ROOT

TERMINAL = ("Job Succeeded", "Job Failed", "Job Cancelled", "Job Rejected")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def follow(stack: LocalStack, mine: Callable[[dict], bool], timeout: float,
           refused: Callable[[], dict | None] = lambda: None) -> tuple[dict | None, dict | None]:
    """Print the ``Job ...`` events ``mine(event)`` picks as they arrive on the bus (via the local tap queue),
    until a terminal one or ``Job Rejected``; ``refused()`` is asked each second for a refusal that makes no
    event (the S3 door's error document). Returns ``(last event, refusal)``; both None after ``timeout``."""
    sqs = stack.session.client("sqs")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        reply = sqs.receive_message(QueueUrl=stack.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in reply.get("Messages", []):
            sqs.delete_message(QueueUrl=stack.events_queue_url, ReceiptHandle=message["ReceiptHandle"])
            event = json.loads(message["Body"])
            if event.get("source") != "seedream.jobs" or not mine(event):
                continue
            say(f"    [{time.monotonic() - started:6.2f}s] {event['detail-type']}{_note(event['detail'])}")
            if event["detail-type"] in TERMINAL:
                return event, None
        refusal = refused()
        if refusal is not None:
            return None, refusal
    return None, None


def via_s3(stack: LocalStack, request: dict, specs: list[str], timeout: float) -> tuple[dict | None, int]:
    """The S3 door (module docstring). ``specs`` are local paths (uploaded beside the manifest) or URLs."""
    s3, bucket = stack.session.client("s3"), stack.name("JobsBucket")
    name = f"demo-{uuid.uuid4().hex[:8]}"
    images = uploaded(stack, specs, folder=f"requests/{name}")
    key = f"requests/{name}.json"
    say(f"==> aws s3 cp {name}.json s3://{bucket}/{key}   (images: {', '.join(images)})")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(request | {"images": images}, indent=2).encode(),
                  ContentType="application/json")

    def error_document() -> dict | None:
        return _object(s3, bucket, f"results/{name}.error.json")

    last, refusal = follow(stack, lambda e: (e["detail"].get("origin") or {}).get("key") == key, timeout,
                           refused=error_document)
    if refusal is not None:
        say(f"demo: the manifest was refused; s3://{bucket}/results/{name}.error.json says:")
        return refusal, 2
    if last is None:
        say(f"demo: nothing came of s3://{bucket}/{key} within {timeout:.0f} s")
        return None, 2
    document = _object(s3, bucket, f"results/{name}.json")  # written before the terminal event went out
    say(f"    the job document: s3://{bucket}/results/{name}.json")
    return document, 0 if document["status"] == "succeeded" else 1


def uploaded(stack: LocalStack, specs: list[str], folder: str | None = None) -> list[str]:
    """URLs as they are; local files uploaded to the stack's bucket.

    Without ``folder`` a file goes to ``inputs/<sha256>/<name>`` (named by its content, as the command line names
    it: ``seedream_cli.jobs.content_key``) and is named by its ``s3://`` URI; with one
    (the S3 door's ``requests/<name>``) it goes to ``<folder>/<name>`` and is named by its bare file name,
    as a manifest beside it names it.
    """
    s3, bucket = stack.session.client("s3"), stack.name("JobsBucket")
    images = []
    for spec in specs:
        if spec.startswith(("https://", "http://", "s3://")):
            images.append(spec)
            continue
        path = Path(spec) if Path(spec).is_absolute() else ROOT / spec
        if not path.is_file():
            raise SystemExit(f"demo: IMAGES entry {spec!r} is neither a URL nor an existing file")
        key = f"{folder}/{path.name}" if folder else content_key(path)
        content_type = Image.MIME.get(Image.open(path).format or "", "application/octet-stream")
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
        if folder is None:
            images.append(f"s3://{bucket}/{key}")
        else:
            say(f"==> aws s3 cp {spec} s3://{bucket}/{key}")
            images.append(path.name)
    return images


def via_eventbridge(stack: LocalStack, request: dict, timeout: float) -> tuple[dict | None, int]:
    """The EventBridge door (module docstring). ``request`` names its images by URL or ``s3://`` URI."""
    reference, token = f"make-demo-{uuid.uuid4().hex[:8]}", f"local-task-token-{uuid.uuid4()}"
    bus = stack.name("JobsBus")
    say(f"==> aws events put-events: 'Job Requested' on {bus} (source local.demo, reference {reference}, "
        "a task token as from $$.Task.Token)")
    sent = stack.session.client("events").put_events(Entries=[{
        "EventBusName": bus, "Source": "local.demo", "DetailType": "Job Requested",
        "Detail": json.dumps(request | {"reference": reference, "task_token": token})}])
    if sent.get("FailedEntryCount"):
        say(f"demo: EventBridge refused the event: {sent['Entries']}")
        return None, 2
    last, _ = follow(stack, lambda e: e["detail"].get("reference") == reference, timeout)
    if last is None:
        say(f"demo: nothing came of 'Job Requested' {reference} within {timeout:.0f} s")
        return None, 2
    answer = stack.task_answers.wait(token, timeout=10)
    if last["detail-type"] == "Job Rejected":
        say(f"demo: the request was refused ({_told(answer)})")
        return last["detail"], 2
    if answer and answer["outcome"] == "success":
        say("    SendTaskSuccess for the task token, with the job document as its output")
        return answer["output"], 0
    say(f"demo: the job ended {last['detail']['status']} ({_told(answer)})")
    return last["detail"], 1


def _note(detail: dict) -> str:
    if detail["status"] == "queued":
        return f" job_id={detail['job_id']}"
    if detail["status"] == "submitted":
        return f" to {detail['provider']}"
    if detail.get("error"):
        return f" {detail['error']['code']}: {detail['error']['message']}"
    return ""


def _told(answer: dict | None) -> str:
    if answer is None:
        return "no task answer"
    return f"SendTaskFailure error={answer['error']} cause={answer['cause']}"


def _object(s3, bucket: str, key: str) -> dict | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None
