"""``ingest_15x4k_wall``, ``ingest_15x4k_rss_mib``, ``ingest_rss_growth``: large outputs into S3.

Outputs: noisy 4096×4096 PNGs of 20–48 MB served over loopback by ``bench/outputs.py`` (its own
process), 15 (or 5) URLs per job. Ours, per sample: a fresh job created through the API (WaveSpeed,
seedream-v4, ``max_images`` 15 or 5 at 4096*4096; the simulator's own callback withheld and its
rendering skipped, since the callback names the bench's URLs), waited until ``submitted``; with the
ingest pump paused, a genuine signed WaveSpeed callback listing the bench's URLs is POSTed to the
gateway (202), the ingest message is read off ``IngestQueue`` and handed, as a one-record SQS event,
to a child process that imports the real ingest handler and invokes it (``bench/child.py``). The
job must end ``succeeded`` with every output (checked through ``GET /v1/jobs``).
Baseline: a child running the raw parallel copy (``bench/rawcopy.py``) of the same URLs into the
same moto bucket. Children run with the IngestFunction environment of the running stack.
Each figure's samples alternate ours/baseline; outputs are deleted from S3 between samples.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from local.pumps import sqs_event
from local.stack import LocalStack

from .common import ROOT, Measure, N, paired_order, say
from .jobs import Jobs
from .outputs import OutputServer

LOCAL_KNOBS = ("ALLOW_LOOPBACK_HTTP", "S3_ADDRESSING_STYLE", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL")
"""Variables the local stack adds to every function's environment (see ``local/stack.py``)."""
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION",
            "AWS_ENDPOINT_URL")



MOST = 14
"""Outputs per job: the measure's name says 15 (the issue's, written before the corrected facts), but one
source image + 15 outputs breaks the model's references + outputs ≤ 15, so the largest job has 14."""

def child_env(stack: LocalStack) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(stack.functions["IngestFunction"].spec.environment)
    env.update({k: os.environ[k] for k in LOCAL_KNOBS + AWS_VARS if k in os.environ})
    return env


# Linux carries a process's peak RSS across fork and exec (``ru_maxrss`` of a child spawned by the
# bench starts at the bench's own RSS, over 1 GiB here). So the child is forked by a small launcher
# process instead, and its ``ru_maxrss`` counts from the launcher's ~10 MiB.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def run_child(request: dict, env: dict[str, str]) -> dict:
    command = [sys.executable, "-S", "-c", LAUNCHER, sys.executable, "-m", "bench.child"]
    done = subprocess.run(command, cwd=ROOT, env=env, input=json.dumps(request), capture_output=True, text=True,
                          timeout=600)
    if done.returncode:
        raise SystemExit(f"bench: ingest child ({request['side']}) failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["vm_hwm_mib"] and abs(result["rss_mib"] - result["vm_hwm_mib"]) > 0.02 * result["vm_hwm_mib"]:
        say(f"ingest: warning: ru_maxrss {result['rss_mib']:.0f} MiB but VmHWM {result['vm_hwm_mib']:.0f} MiB")
    return result


class IngestBench:
    def __init__(self, stack: LocalStack, jobs: Jobs, server: OutputServer):
        self.stack, self.jobs, self.server = stack, jobs, server
        self.env = child_env(stack)
        self.sqs = stack.session.client("sqs")
        self.s3 = stack.session.client("s3")
        self.queue_url = stack.name("IngestQueue")
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]

    def prepare(self, counts: list[int]) -> list[tuple[str, str]]:
        """One submitted job per entry of ``counts`` (``max_images`` = that count); (job id, task id) each."""
        self.stack.simulator.set_faults(callback="lost", outputs="oversized")  # nothing rendered: never fetched
        try:
            job_ids = [self.jobs.create(count, "4096*4096") for count in counts]
            tasks = self.jobs.wait_submitted(job_ids)
        finally:
            self.stack.simulator.reset_faults()
        return [(job_id, tasks[job_id]) for job_id in job_ids]

    def ours(self, job_id: str, task_id: str, count: int) -> dict:
        urls = self.server.urls(job_id, count)
        status = self.jobs.post_callback(job_id, task_id, urls)
        assert status == 202, f"callback answered {status}"
        reply = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=10,
                                         AttributeNames=["All"], MessageAttributeNames=["All"])
        (message,) = reply["Messages"]
        assert json.loads(message["Body"])["job_id"] == job_id, message["Body"][:300]
        result = run_child({"side": "ours", "event": sqs_event([message], self.queue_arn)}, self.env)
        assert not result["result"].get("batchItemFailures"), result["result"]
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        view = self.jobs.client.get_job(job_id)
        assert view["status"] == "succeeded" and len(view["outputs"]) == count, (view["status"], view.get("error"))
        self.delete(f"outputs/{job_id}/", count)
        return result

    def baseline(self, count: int) -> dict:
        prefix = f"bench-rawcopy/{uuid.uuid4().hex}/"
        result = run_child({"side": "baseline", "urls": self.server.urls(prefix.split("/")[1], count),
                            "bucket": self.jobs.bucket, "prefix": prefix}, self.env)
        self.delete(prefix, count)
        return result

    def delete(self, prefix: str, expected: int) -> None:
        keys = [{"Key": o["Key"]} for o in self.s3.list_objects_v2(Bucket=self.jobs.bucket, Prefix=prefix).get("Contents", [])]
        assert len(keys) == expected, f"{len(keys)} objects under {prefix}, expected {expected}"
        self.s3.delete_objects(Bucket=self.jobs.bucket, Delete={"Objects": keys, "Quiet": True})


def run(stack: LocalStack, jobs: Jobs) -> list[Measure]:
    server = OutputServer()
    ingest = stack.pump("IngestFunction")
    try:
        bench = IngestBench(stack, jobs, server)
        say(f"ingest: creating {2 * N} jobs ({MOST} and 5 outputs of 4096×4096) through the API, waiting until submitted")
        prepared = bench.prepare([MOST, 5] * N)
        ingest.pause()
        wall = Measure("ingest_15x4k_wall", "s")
        rss = Measure("ingest_15x4k_rss_mib", "MiB")
        growth = Measure("ingest_rss_growth", "ratio",
                         note=f"per pair: RSS({MOST} outputs) / RSS(5 outputs) of the same side")
        for index in range(N):
            sample: dict[tuple[str, int], dict] = {}
            for count in (MOST, 5):
                job_id, task_id = prepared[2 * index + (count == 5)]
                for side in paired_order(index):
                    sample[side, count] = bench.ours(job_id, task_id, count) if side == "ours" else bench.baseline(count)
            wall.add(sample["ours", MOST]["seconds"], sample["baseline", MOST]["seconds"])
            rss.add(sample["ours", MOST]["rss_mib"], sample["baseline", MOST]["rss_mib"])
            growth.add(sample["ours", MOST]["rss_mib"] / sample["ours", 5]["rss_mib"],
                       sample["baseline", MOST]["rss_mib"] / sample["baseline", 5]["rss_mib"])
            say(f"ingest: pair {index + 1}/{N}: {MOST} outputs ours {wall.ours[-1]:.2f} s {rss.ours[-1]:.0f} MiB, "
                f"raw copy {wall.baseline[-1]:.2f} s {rss.baseline[-1]:.0f} MiB; 5 outputs ours "
                f"{sample['ours', 5]['rss_mib']:.0f} MiB, raw copy {sample['baseline', 5]['rss_mib']:.0f} MiB")
    finally:
        ingest.resume()
        server.stop()
    return [wall, rss, growth]
