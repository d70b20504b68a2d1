"""Jobs and genuine provider callbacks on the local stack, through its stable entry points only.

A job is created with ``POST /v1/jobs`` (SigV4, through the gateway); the simulator's own callback
is withheld (fault ``callback="lost"``) and the bench builds WaveSpeed's callback for the task the
way the provider does (``tests/support/signing.py`` signs it), with the token from the callback
URL the simulator received.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from local.client import JobsClient
from local.stack import LocalStack
from tests.support.signing import wavespeed_headers

from .common import ROOT

WEBHOOK_EVENT = json.loads((ROOT / "events" / "webhook-wavespeed.json").read_text())
SOURCE = ROOT / "examples" / "astronaut.png"
PROMPT = "Generate a series of images of this astronaut, same face and suit, new light per panel"


class Jobs:
    def __init__(self, stack: LocalStack):
        self.stack = stack
        self.client = JobsClient(stack.api_url, stack.session)
        self.bucket = stack.name("JobsBucket")
        self.table = stack.session.resource("dynamodb").Table(stack.name("JobsTable"))
        self.source = f"s3://{self.bucket}/inputs/bench/{SOURCE.name}"
        stack.session.client("s3").upload_file(str(SOURCE), self.bucket, f"inputs/bench/{SOURCE.name}")

    def body(self, max_images: int, size: str, model: str = "seedream-v4") -> dict:
        return {"provider": "wavespeed", "model": model, "prompt": PROMPT, "images": [self.source],
                "max_images": max_images, "size": size}

    def create(self, max_images: int, size: str) -> str:
        response = self.client.create_job(self.body(max_images, size))
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.text[:300]}")
        return response.json()["job_id"]

    def create_many(self, count: int, max_images: int, size: str, threads: int = 4) -> list[str]:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda _: self.create(max_images, size), range(count)))

    def item(self, job_id: str) -> dict | None:
        return self.table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")

    def wait_status(self, job_id: str, statuses: tuple[str, ...], timeout: float = 120.0, interval: float = 0.05) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.item(job_id)
            if found and found["status"] in statuses:
                return found
            time.sleep(interval)
        raise RuntimeError(f"job {job_id} did not reach {statuses} within {timeout} s: {self.item(job_id)}")

    def wait_submitted(self, job_ids: list[str], timeout: float = 300.0) -> dict[str, str]:
        """Wait until every job is ``submitted`` and its simulator task finished; job id → task id."""
        tasks = {}
        deadline = time.monotonic() + timeout
        for job_id in job_ids:
            found = self.wait_status(job_id, ("submitted",), max(1.0, deadline - time.monotonic()))
            tasks[job_id] = found["provider_task_id"]
        for task_id in tasks.values():
            self.stack.simulator.wait_for_task(task_id, timeout=max(1.0, deadline - time.monotonic()))
        return tasks

    def callback(self, job_id: str, task_id: str, outputs: list[str] | None = None) -> tuple[str, str, bytes, dict]:
        """WaveSpeed's completion callback for ``task_id``: (path, token, body, freshly signed headers).

        ``outputs`` replaces the task's own output URLs (the ingest bench serves its own)."""
        task = self.stack.simulator.wait_for_task(task_id)
        url = urlsplit(self.stack.simulator.tasks[task_id]["callback_url"])
        token = parse_qs(url.query)["token"][0]
        outputs = list(task["outputs"] if outputs is None else outputs)
        inference_ms = int(((task["completed_at"] or 0) - (task["started_at"] or 0)) * 1000)
        body = json.dumps({
            "id": task_id, "model": task["api_model"], "outputs": outputs,
            "urls": {"get": f"{self.stack.simulator.base_url}/api/v3/predictions/{task_id}/result"},
            "has_nsfw_contents": [False] * len(outputs), "status": "completed",
            "created_at": datetime.fromtimestamp(task["created_at"], UTC).isoformat().replace("+00:00", "Z"),
            "error": "", "executionTime": inference_ms, "timings": {"inference": inference_ms},
        }).encode()
        headers = wavespeed_headers(self.stack.keys["wavespeed"]["webhook_secret"], body)
        assert url.path.endswith(f"/v1/webhooks/wavespeed/{job_id}"), url.path
        return url.path, token, body, headers

    def post_callback(self, job_id: str, task_id: str, outputs: list[str] | None = None) -> int:
        """Send the callback to the gateway over HTTP, as the provider would; returns the HTTP status."""
        path, token, body, headers = self.callback(job_id, task_id, outputs)
        return self.client.http.post(f"{self.stack.api_url}{path}", params={"token": token}, content=body,
                                     headers=headers).status_code


def webhook_event(path: str, token: str, body: bytes, headers: dict, job_id: str) -> dict:
    """An HTTP API v2 event for the callback, shaped like ``events/webhook-wavespeed.json``."""
    event = copy.deepcopy(WEBHOOK_EVENT)
    now = datetime.now(UTC)
    event["rawPath"] = path
    event["rawQueryString"] = f"token={token}"
    event["headers"] = {"content-type": "application/json", "host": "127.0.0.1", "user-agent": "WaveSpeed-Webhook/1.0",
                        **{k.lower(): v for k, v in headers.items()}, "content-length": str(len(body))}
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["requestContext"]["time"] = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    event["requestContext"]["timeEpoch"] = int(now.timestamp() * 1000)
    event["queryStringParameters"] = {"token": token}
    event["pathParameters"] = {"provider": "wavespeed", "job_id": job_id}
    event["body"] = body.decode()
    event["isBase64Encoded"] = False
    return event
