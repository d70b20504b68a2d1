"""``lambda_seconds_per_job_20s``: Lambda seconds one job costs when generation takes 20 s.

Ours: a job (WaveSpeed, seedream-v4, 4 × 2048×2048) goes the whole way on the local stack: ``POST
/v1/jobs`` → submit queue → submit → simulator (20 s of generation, then its own signed callback)
→ webhook → ingest queue → ingest. Each function's ``LocalFunction.invoke`` is wrapped on the
instance (the gateway and the pumps call it there) to record (function, job ids, seconds); the
figure is the sum over that job's api, submit, webhook and ingest invocations (an SQS batch
holding k jobs counts 1/k of its time to each).

Baseline: a polling design that really runs in this process: one function submits the same job to
the simulator's WaveSpeed API (no webhook), polls ``GET /api/v3/predictions/{id}/result`` every
second until it is completed, then copies the 4 outputs into the same bucket the way ingest does
(``bench/rawcopy.py``); its handler time is its whole wall time. Its clients are built before the
clock starts, as at a Lambda's init.

The ``N`` jobs of each side run at once, started alternately ``STAGGER`` / 2 s apart.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx

from local.stack import LocalStack

from .common import Measure, N, paired_order, say
from .jobs import Jobs
from .rawcopy import copy_all, s3_client

FUNCTIONS = {"ApiFunction": "api", "SubmitFunction": "submit", "WebhookFunction": "webhook", "IngestFunction": "ingest"}
GENERATION_SECONDS = 20
OUTPUTS, SIZE, MODEL = 4, "2048*2048", "seedream-v4"
STAGGER = 2.0


class InvokeLog:
    """Times every ``invoke`` of the stack's functions, attributing each to the job ids it concerns."""

    def __init__(self, stack: LocalStack):
        self.stack = stack
        self.lock = threading.Lock()
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.shared_batches = 0
        for logical_id, short in FUNCTIONS.items():
            function = stack.functions[logical_id]
            function.invoke = self._wrap(function.invoke, short)

    def _wrap(self, invoke, short: str):
        def timed(event: dict):
            started = time.perf_counter()
            result = None
            try:
                result = invoke(event)
                return result
            finally:
                self._record(short, event, result, time.perf_counter() - started)

        return timed

    def _record(self, short: str, event: dict, result, seconds: float) -> None:
        if "Records" in event:
            job_ids = [json.loads(r["body"]).get("job_id") for r in event["Records"]]
        elif event.get("routeKey") == "POST /v1/jobs":
            job_ids = [json.loads(result["body"]).get("job_id")] if result and result.get("statusCode") == 202 else []
        else:
            job_ids = [(event.get("pathParameters") or {}).get("job_id")]
        with self.lock:
            self.shared_batches += len(job_ids) > 1
            for job_id in job_ids:
                self.seconds[job_id][short] += seconds / len(job_ids)

    def restore(self) -> None:
        for logical_id in FUNCTIONS:
            vars(self.stack.functions[logical_id]).pop("invoke", None)

    def job(self, job_id: str, timeout: float = 30.0) -> dict[str, float]:
        """The job's seconds per function, once all four have been recorded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = dict(self.seconds.get(job_id, {}))
            if set(found) == set(FUNCTIONS.values()):
                return found
            time.sleep(0.05)
        raise RuntimeError(f"job {job_id}: only {sorted(found)} invocations recorded")


class Polling:
    """The baseline function: submit, poll every second, copy."""

    def __init__(self, stack: LocalStack, jobs: Jobs):
        self.base_url = stack.simulator.base_url
        self.auth = {"Authorization": f"Bearer {stack.keys['wavespeed']['api_key']}"}
        self.bucket = jobs.bucket
        self.source_key = jobs.source.split("/", 3)[3]
        self.s3 = s3_client()
        self.http = httpx.Client(timeout=60)

    def __call__(self) -> float:
        started = time.perf_counter()
        image = self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self.source_key},
                                               ExpiresIn=3600)
        body = {"prompt": "Generate a series of images of this astronaut", "images": [image], "size": SIZE,
                "max_images": OUTPUTS, "enable_base64_output": False, "enable_sync_mode": False}
        reply = self.http.post(f"{self.base_url}/api/v3/bytedance/{MODEL}/edit-sequential", json=body, headers=self.auth)
        reply.raise_for_status()
        task_id = reply.json()["data"]["id"]
        deadline = time.monotonic() + 10 * GENERATION_SECONDS
        while True:
            time.sleep(1)
            view = self.http.get(f"{self.base_url}/api/v3/predictions/{task_id}/result", headers=self.auth).json()["data"]
            if view["status"] in ("completed", "failed", "timeout") or time.monotonic() > deadline:
                break
        assert view["status"] == "completed" and len(view["outputs"]) == OUTPUTS, view
        copy_all(view["outputs"], self.bucket, f"bench-polling/{task_id}/", s3=self.s3, http=self.http)
        return time.perf_counter() - started


def run(stack: LocalStack, jobs: Jobs) -> list[Measure]:
    stack.simulator.reset_faults()
    stack.simulator.set_faults(generation_seconds=GENERATION_SECONDS)
    log = InvokeLog(stack)
    polling = Polling(stack, jobs)

    def ours() -> dict[str, float]:
        job_id = jobs.create(OUTPUTS, SIZE)
        done = jobs.wait_status(job_id, ("succeeded", "failed"), timeout=10 * GENERATION_SECONDS, interval=0.5)
        assert done["status"] == "succeeded", done.get("error")
        return log.job(job_id)

    say(f"lifecycle: {N} jobs per side at once ({GENERATION_SECONDS} s generation, {OUTPUTS} × {SIZE}), "
        f"started alternately {STAGGER / 2:.0f} s apart")
    try:
        with ThreadPoolExecutor(2 * N) as pool:
            futures: dict[tuple[str, int], object] = {}
            for index in range(N):
                for side in paired_order(index):
                    futures[side, index] = pool.submit(ours if side == "ours" else polling)
                    time.sleep(STAGGER / 2)
            ours_parts = [futures["ours", i].result() for i in range(N)]
            base_s = [futures["baseline", i].result() for i in range(N)]
    finally:
        log.restore()
        stack.simulator.reset_faults()
    measure = Measure("lambda_seconds_per_job_20s", "s")
    for parts, base in zip(ours_parts, base_s, strict=True):
        measure.add(sum(parts.values()), base)
    medians = ", ".join(f"{short} {statistics.median(p[short] for p in ours_parts):.3f}" for short in FUNCTIONS.values())
    measure.note = f"ours per function (median s): {medians}; SQS batches shared by several jobs: {log.shared_batches}"
    say(f"lifecycle: done; {measure.note}")
    return [measure]
