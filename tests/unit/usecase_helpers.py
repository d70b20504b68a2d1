"""Helpers shared by the use-case tests: a WaveSpeed job taken through accept → submit → callback → ingest
with the fake provider of ``conftest.FakeWaveSpeed``, and readers of the queues and the bus tap."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from seedream.models.messages import IngestMessage, parse
from seedream.usecases.accept import accept
from seedream.usecases.callbacks import record_callback
from seedream.usecases.ingest import ingest
from seedream.usecases.submit import submit
from tests.support.signing import wavespeed_headers

WS_KEY = "ws-unit-key"
WS_SECRET = "whsec_dW5pdC10ZXN0LXNlY3JldA=="  # deliberately base64-looking: it must be used as text
BODY = {"provider": "wavespeed", "model": "seedream-v4.5", "prompt": "Generate a series of 2 images of the cup",
        "images": ["https://images.test/cup.jpg"], "max_images": 2, "size": "1728*2304",
        "metadata": {"sku": "CUP-1"}}


def png_bytes(width: int = 64, height: int = 48, color=(200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def submitted_job(svc, body: dict | None = None):
    job = accept(svc, dict(body or BODY))
    assert submit(svc, job.job_id) == "submitted"
    return job


def callback(svc, provider_http, job_id, *, status="completed", outputs=None, token=None, body_override=None,
             headers=None, timestamp=None):
    """Send WaveSpeed's callback for the last submitted task through the use case; returns the outcome."""
    sent = provider_http.submits[-1]
    webhook = urlsplit(sent["webhook"])
    assert webhook.path == f"/v1/webhooks/wavespeed/{job_id}"
    token = token if token is not None else parse_qs(webhook.query)["token"][0]
    payload = {"id": sent["task_id"], "model": "bytedance/seedream-v4.5/edit-sequential", "status": status,
               "outputs": outputs or [], "has_nsfw_contents": [False] * len(outputs or []),
               "error": "" if status == "completed" else "boom", "urls": {"get": "x"}, "created_at": "2026-11-21T00:00:00Z"}
    body = body_override if body_override is not None else json.dumps(payload).encode()
    headers = headers if headers is not None else wavespeed_headers(WS_SECRET, body, timestamp=timestamp)
    return record_callback(svc, "wavespeed", job_id, token, headers, body)


def serve_outputs(provider_http, job_id, count, size=(1728, 2304)) -> list[str]:
    urls = []
    for i in range(count):
        path = f"/{job_id}/{i}.png"
        provider_http.outputs[path] = png_bytes(*size, color=(40 * i, 100, 200))
        urls.append(f"https://cdn.test{path}")
    return urls


def queue_bodies(svc, url: str) -> list[dict]:
    sqs = svc.queues.sqs
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def ingest_from_queue(svc) -> list[str]:
    return [ingest(svc, parse(IngestMessage, json.dumps(b))) for b in queue_bodies(svc, svc.settings.ingest_queue_url)]


def output_keys(svc, job_id: str) -> list[str]:
    listed = svc.blobs.s3.list_objects_v2(Bucket=svc.settings.bucket, Prefix=f"outputs/{job_id}/")
    return [o["Key"] for o in listed.get("Contents", [])]


PROGRESS = ("Job Queued", "Job Submitted")


def tap_events(aws, every: bool = False) -> list[dict]:
    """The events the bus delivered to the test's tap queue since the last call: the terminal ones and
    ``Job Rejected`` — or, with ``every``, ``Job Queued`` and ``Job Submitted`` too."""
    return [e for e in _tapped(aws) if every or e["detail-type"] not in PROGRESS]


def _tapped(aws) -> list[dict]:
    session, resources = aws
    sqs = session.client("sqs")
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=resources.tap_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=resources.tap_url, ReceiptHandle=message["ReceiptHandle"])


class FakeStates:
    """Stands in for the Step Functions client of ``svc.replies``: records ``SendTaskSuccess``/``SendTaskFailure``
    (``fail_with`` = an error code makes every call raise that ``ClientError``, as Step Functions would)."""

    def __init__(self, fail_with: str | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.fail_with = fail_with

    def _call(self, name: str, arguments: dict) -> dict:
        self.calls.append((name, arguments))
        if self.fail_with:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": self.fail_with, "Message": "simulated"}}, name)
        return {}

    def send_task_success(self, **arguments) -> dict:
        return self._call("SendTaskSuccess", arguments)

    def send_task_failure(self, **arguments) -> dict:
        return self._call("SendTaskFailure", arguments)
