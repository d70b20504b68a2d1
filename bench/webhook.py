"""Webhook answer time on the local stack: ours (authenticate, record, enqueue) vs a webhook that
ingests inline (the same callback plus downloading and storing its outputs before answering).

Each round: a job (4 × 2048×2048, WaveSpeed) whose provider finishes but whose own callback is
withheld; the benchmark then sends the provider's signed callback itself and times the answer.
The baseline is that answer time plus the time the ingest step takes for the same outputs
(``Fetcher`` → ``Blobs``), i.e. what a provider would wait for if the webhook did the work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from local.client import JobsClient
from local.stack import LocalStack

ROUNDS = 5


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    key = secret.removeprefix("whsec_").encode()
    return "v3," + hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def run() -> None:
    with LocalStack(api_port=0, moto_port=0, simulator_port=0, generation_seconds=0.1) as stack:
        stack.simulator.set_faults(callback="lost")
        bucket = stack.name("JobsBucket")
        stack.session.client("s3").upload_file("examples/astronaut.png", bucket, "inputs/bench/astronaut.png")
        client = JobsClient(stack.api_url, stack.session)
        ingest_svc = stack.functions["IngestFunction"].module.svc
        table = stack.session.resource("dynamodb").Table(stack.name("JobsTable"))
        ours, inline = [], []
        for round_number in range(ROUNDS):
            job = {"provider": "wavespeed", "model": "seedream-v4.5", "images": [f"s3://{bucket}/inputs/bench/astronaut.png"],
                   "max_images": 4, "size": "2048*2048", "prompt": "Generate a series of 4 images of this astronaut"}
            job_id = client.create_job(job).json()["job_id"]
            while (table.get_item(Key={"job_id": job_id}, ConsistentRead=True)["Item"]["status"]) != "submitted":
                time.sleep(0.02)
            task_id = table.get_item(Key={"job_id": job_id})["Item"]["provider_task_id"]
            task = stack.simulator.wait_for_task(task_id, timeout=60)
            url = urlsplit(task["callback_url"])
            body = json.dumps({"id": task_id, "model": task["api_model"], "status": "completed", "outputs": task["outputs"],
                               "has_nsfw_contents": [False] * 4, "error": "", "urls": {"get": ""},
                               "created_at": "2026-11-21T00:00:00Z"}).encode()
            now = str(int(time.time()))
            headers = {"content-type": "application/json", "webhook-id": f"bench-{round_number}", "webhook-timestamp": now,
                       "webhook-signature": sign(stack.keys["wavespeed"]["webhook_secret"], f"bench-{round_number}", now, body)}
            started = time.perf_counter()
            answer = httpx.post(f"{stack.api_url}{url.path}", params=parse_qs(url.query), content=body, headers=headers)
            answered = time.perf_counter() - started
            assert answer.status_code == 202, answer.text
            started = time.perf_counter()
            for index, output_url in enumerate(task["outputs"]):
                download, close = ingest_svc.fetcher.open(output_url)
                try:
                    ingest_svc.blobs.upload_stream(f"bench/{job_id}/{index:02d}.png", download.stream, download.content_type)
                finally:
                    close()
            ours.append(answered)
            inline.append(answered + time.perf_counter() - started)
        ours_ms, inline_ms = statistics.median(ours) * 1000, statistics.median(inline) * 1000
        print(f"webhook answer time, callback of a 4 × 2048×2048 job, median of {ROUNDS} (local stack)")
        print(f"  baseline  ingest inline, then answer : {inline_ms:8.1f} ms")
        print(f"  ours      record + enqueue, answer   : {ours_ms:8.1f} ms")
        print(f"  ratio ours/baseline                  : {ours_ms / inline_ms:5.3f}x")
