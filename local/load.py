"""``make load``: a burst of jobs against the local stack, all at once, and one table of what became of each.

Starts its own ``LocalStack`` on free loopback ports (every request goes to 127.0.0.1), uploads
``examples/astronaut.png`` to the stack's bucket, then sends ``N`` job requests together through one door
and waits until every job has ended (or ``TIMEOUT``):

- ``ENTRY=http``: ``N`` signed ``POST /v1/jobs`` (``local.client.JobsClient``), one thread each, released
  together by a barrier, so that all ``N`` are in flight at once;
- ``ENTRY=s3``: ``N`` manifests ``requests/load-<run>/<i>.json`` uploaded at once (the S3 door);
- ``ENTRY=eventbridge``: ``N`` ``Job Requested`` events put at once (the EventBridge door), each with a
  ``reference``.

Every job is ``seedream-v4``, ``max_images`` 1, ``1024*1024``, the astronaut as its one source image, a
prompt that names the count; providers in turn from ``PROVIDERS`` (default
``wavespeed,atlascloud,evolink,auto``). ``GENERATION_SECONDS`` (default 1) is the simulated provider's
time; ``FAULTS`` sets simulator faults, ``429=0.2`` being a share of submits answered 429 with
``Retry-After`` (``submit_429_share``; ``name=value`` pairs, comma-separated, take any other fault);
the 429 draws are seeded (``SEED``, default 1). The stack keeps ``make up``'s deadlines, scaled for a
machine (``TASK_TIMEOUT_SECONDS`` 90, ...; each can be set in the environment). One process runs the
whole stack on about one core (the GIL): it ends 1–2 jobs a second, so a burst of 1000 takes 10–15 min;
waiting is healthy (``seedream.lifecycle``: no deadline counts it), so the burst is only a longer queue.

The table (stdout; ``JSON=path`` writes it as JSON too, with up to 10 jobs of each kind of trouble):
requests answered and not (by status), the accepting request's latency (p50/p99: the POST, the manifest's
PUT, the PutEvents), jobs succeeded, failed by error code, cancelled, stuck (still open at the end),
requests that made no job, ended jobs whose recorded outputs differ from the objects under
``outputs/<job_id>/`` (``list_objects_v2``; a failed or cancelled job must have none), terminal events per job (``Job
Succeeded|Failed|Cancelled`` counted per ``job_id`` on the local events tap queue: jobs with 0, 1, >1),
provider submits per job (the simulator's own records of every submit it answered: accepted ones per job,
0, 1, >1, and every attempt, 429s among them), the most invocations each function ran at once, and the
time to drain (from the first request to the last job ended).

Exit status: 0 when every request was answered and every job succeeded, with its outputs, one terminal
event and one accepted submit; 1 otherwise (the table says what); 2 on a usage error. The same harness runs
in ``make test`` (``tests/load``) with 100 jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config as AwsConfig

from .client import JobsClient
from .stack import EVENTS_TAP_QUEUE, LocalStack, PortError
from .template import ROOT

ENTRIES = ("http", "s3", "eventbridge")
PROVIDERS = ("wavespeed", "atlascloud", "evolink", "auto")
"""The default: the three first hosts and ``auto`` (the measured runs in the README)."""
KNOWN = ("wavespeed", "atlascloud", "evolink", "replicate", "fal", "modelark", "auto")
"""What ``PROVIDERS`` may name: every host, and ``auto``."""
TERMINAL = ("Job Succeeded", "Job Failed", "Job Cancelled")
ENDED = ("succeeded", "failed", "cancelled")
IMAGE = ROOT / "examples" / "astronaut.png"
FAULT_ALIASES = {"429": "submit_429_share"}
SETTLE_SECONDS = 15.0
"""After the last job ended: how long its terminal events may take to show (a sweep publishes a missed one)."""
EXAMPLES = 10
"""Jobs the JSON lists for each kind of trouble (stuck, failed, ...), to look at."""
SCAN_SECONDS = 10.0
"""How often the jobs table is scanned while waiting, when the events do not already say every job has ended."""


@dataclass
class LoadConfig:
    n: int = 1000
    entry: str = "http"
    generation_seconds: float = 1.0
    providers: tuple[str, ...] = PROVIDERS
    faults: dict = field(default_factory=dict)
    timeout: float = 2400.0
    seed: int = 1


def parse_faults(text: str) -> dict:
    """``"429=0.2,retry_after_seconds=2"`` → simulator faults (values read as JSON where they parse)."""
    faults = {}
    for pair in filter(None, (p.strip() for p in (text or "").split(","))):
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"FAULTS: {pair!r} is not name=value")
        try:
            faults[FAULT_ALIASES.get(name.strip(), name.strip())] = json.loads(value)
        except ValueError:
            faults[FAULT_ALIASES.get(name.strip(), name.strip())] = value.strip()
    return faults


def job_request(i: int, n: int, provider: str, image: str) -> dict:
    return {"provider": provider, "model": "seedream-v4", "max_images": 1, "size": "1024*1024", "images": [image],
            "prompt": f"Generate a series of 1 image of this astronaut as a poster, number {i + 1} of a {n}-job burst"}


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Tap:
    """Reads the stack's events tap queue in the background: every ``seedream.jobs`` event, as it arrives."""

    def __init__(self, stack: LocalStack, readers: int = 2):
        self.sqs = stack.session.client("sqs", config=AwsConfig(max_pool_connections=readers + 2))
        self.url = stack.events_queue_url
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, daemon=True, name=f"load-tap-{i}") for i in range(readers)]

    def __enter__(self) -> Tap:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.read_once(wait_seconds=1)
            except Exception as exc:  # noqa: BLE001 - keep reading; the stack may be stopping
                if not self._stop.is_set():
                    print(f"load: reading {EVENTS_TAP_QUEUE} failed: {exc}", file=sys.stderr)
                    self._stop.wait(0.5)

    def read_once(self, wait_seconds: int = 0) -> int:
        messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=wait_seconds).get("Messages", [])
        if messages:
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            events = [json.loads(m["Body"]) for m in messages]
            with self._lock:
                self.events += [e for e in events if e.get("source") == "seedream.jobs"]
        return len(messages)

    def drain(self) -> None:
        while self.read_once():
            pass

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)


class Burst:
    """One run: ``send()`` the requests together, ``wait()`` for their jobs, ``report()`` what became of them."""

    def __init__(self, stack: LocalStack, config: LoadConfig):
        self.stack, self.config = stack, config
        self.run = uuid.uuid4().hex[:8]
        self.bucket = stack.name("JobsBucket")
        aws = AwsConfig(max_pool_connections=config.n + 10, retries={"max_attempts": 1},  # a retried PUT is a 2nd job
                     read_timeout=config.timeout, connect_timeout=config.timeout)
        self.s3 = stack.session.client("s3", config=aws)
        self.events = stack.session.client("events", config=aws)
        self.dynamodb = stack.session.client("dynamodb")
        self.answers: list[dict] = []
        """Per request: ``i``, ``answered``, ``status``, ``seconds``, ``job_id`` (http), ``error``."""
        self.started = self.started_wall = 0.0
        self.jobs: dict[str, dict] = {}

    # -- the burst -----------------------------------------------------------------------------
    def image(self) -> str:
        key = f"inputs/load-{self.run}/astronaut.png"
        self.s3.upload_file(str(IMAGE), self.bucket, key, ExtraArgs={"ContentType": "image/png"})
        return f"s3://{self.bucket}/{key}"

    def requests(self) -> list[dict]:
        image, providers, n = self.image(), self.config.providers, self.config.n
        return [job_request(i, n, providers[i % len(providers)], image) for i in range(n)]

    def send(self) -> None:
        bodies = self.requests()
        one = {"http": self._post, "s3": self._put_manifest, "eventbridge": self._put_event}[self.config.entry]
        if self.config.entry == "http":
            limits = httpx.Limits(max_connections=self.config.n + 10, max_keepalive_connections=self.config.n + 10)
            self.client = JobsClient(self.stack.api_url, self.stack.session,
                                     http=httpx.Client(timeout=self.config.timeout, limits=limits, trust_env=False))
            self.client.session.get_credentials()  # resolved once, not by a thousand threads at once
        start = threading.Barrier(self.config.n)

        def timed(i: int) -> dict:
            start.wait()
            began = time.monotonic()
            try:
                answer = {"i": i, "answered": True} | one(i, bodies[i])
            except Exception as exc:  # noqa: BLE001 - an unanswered request is a result
                answer = {"i": i, "answered": False, "error": type(exc).__name__}
            return answer | {"began": began, "seconds": time.monotonic() - began}

        with ThreadPoolExecutor(self.config.n, thread_name_prefix="load") as pool:
            self.answers = list(pool.map(timed, range(self.config.n)))
        self.started = min(a["began"] for a in self.answers)
        self.started_wall = time.time() - (time.monotonic() - self.started)

    def _post(self, i: int, body: dict) -> dict:
        response = self.client.create_job(body)
        job_id = response.json().get("job_id") if response.status_code in (200, 202) else None
        return {"status": response.status_code, "accepted": job_id is not None, "job_id": job_id}

    def _put_manifest(self, i: int, body: dict) -> dict:
        reply = self.s3.put_object(Bucket=self.bucket, Key=f"requests/load-{self.run}/{i:05d}.json",
                                   Body=json.dumps(body).encode(), ContentType="application/json")
        status = reply["ResponseMetadata"]["HTTPStatusCode"]
        return {"status": status, "accepted": status == 200}

    def _put_event(self, i: int, body: dict) -> dict:
        reply = self.events.put_events(Entries=[{
            "EventBusName": self.stack.name("JobsBus"), "Source": "local.load", "DetailType": "Job Requested",
            "Detail": json.dumps(body | {"reference": f"load-{self.run}-{i:05d}"})}])
        status = reply["ResponseMetadata"]["HTTPStatusCode"]
        return {"status": status, "accepted": status == 200 and not reply.get("FailedEntryCount")}

    # -- waiting -------------------------------------------------------------------------------
    def request_of(self, job: dict) -> int | None:
        """Which of this run's requests made ``job`` (None: not one of ours)."""
        if self.config.entry == "http":
            return self._by_job_id.get(job["job_id"])
        if self.config.entry == "s3":
            key = (job.get("origin") or {}).get("key") or ""
            prefix = f"requests/load-{self.run}/"
            return int(key[len(prefix):-5]) if key.startswith(prefix) else None
        reference = job.get("reference") or ""
        return int(reference.rsplit("-", 1)[1]) if reference.startswith(f"load-{self.run}-") else None

    def scan(self, light: bool = False) -> dict[str, dict]:
        """This run's jobs, as the table holds them now (read with boto3, not with the code under test); ``light``:
        only their id, status, origin and reference (moto answers a whole scan slowly, holding DynamoDB meanwhile)."""
        deserialize, jobs = TypeDeserializer().deserialize, {}
        only = {"ProjectionExpression": "job_id, #s, origin, #r, completed_at, updated_at",
                "ExpressionAttributeNames": {"#s": "status", "#r": "reference"}} if light else {}
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.stack.name("JobsTable"),
                                                                 ConsistentRead=True, **only):
            for item in page["Items"]:
                job = {k: deserialize(v) for k, v in item.items()}
                if self.request_of(job) is not None:
                    jobs[job["job_id"]] = job
        return jobs

    def refused(self) -> set[int]:
        """Requests a door refused (S3: ``results/<name>.error.json``; EventBridge: ``Job Rejected``)."""
        if self.config.entry == "s3":
            prefix = f"results/load-{self.run}/"
            keys = [o["Key"] for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                    for o in page.get("Contents", [])]
            return {int(k[len(prefix):].split(".")[0]) for k in keys if k.endswith(".error.json")}
        if self.config.entry == "eventbridge":
            return {int(e["detail"]["reference"].rsplit("-", 1)[1]) for e in self.tap.snapshot()
                    if e["detail-type"] == "Job Rejected" and str(e["detail"].get("reference") or "").startswith(
                        f"load-{self.run}-")}
        return set()

    def ended_by_events(self) -> set[str]:
        """This run's jobs with a terminal event on the tap so far."""
        return {e["detail"]["job_id"] for e in self.tap.snapshot()
                if e["detail-type"] in TERMINAL and self.request_of(e["detail"]) is not None}

    def wait(self, tap: Tap) -> None:
        """Until every accepted request's job has ended (or the timeout); then until their terminal events settle.

        The table is scanned to confirm once the tap has shown a terminal event for every job expected, and
        every ``SCAN_SECONDS`` meanwhile (a job may end without its event: the table says so)."""
        self.tap = tap
        self._by_job_id = {a["job_id"]: a["i"] for a in self.answers if a.get("job_id")}
        accepted = {a["i"] for a in self.answers if a.get("accepted")}
        deadline, scanned, refused = self.started + self.config.timeout, 0.0, set()
        while time.monotonic() < deadline:
            if (len(self.ended_by_events()) + len(refused) >= len(accepted)
                    or time.monotonic() - scanned >= SCAN_SECONDS):
                scanned, refused = time.monotonic(), self.refused()
                self.jobs = self.scan(light=True)
                made = {self.request_of(job) for job in self.jobs.values()}
                if accepted <= made | refused and all(j["status"] in ENDED for j in self.jobs.values()):
                    break
            time.sleep(0.5)
        else:
            deadline = time.monotonic()  # timed out: no settling
        settle_until = min(deadline, time.monotonic() + SETTLE_SECONDS)
        while time.monotonic() < settle_until and not set(self.jobs) <= self.ended_by_events():
            time.sleep(0.5)
        time.sleep(1.0)  # a duplicate terminal event published just after the first would show by now
        tap.drain()
        self.jobs = self.scan()

    # -- the table -----------------------------------------------------------------------------
    def objects(self) -> dict[str, set[str]]:
        """Current objects under ``outputs/``, by job id."""
        found: dict[str, set[str]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="outputs/"):
            for listed in page.get("Contents", []):
                found.setdefault(listed["Key"].split("/")[1], set()).add(listed["Key"])
        return found

    def submits(self) -> tuple[Counter, Counter, Counter]:
        """From the simulator's own records: accepted submits per job id, every attempt per job id, statuses. A submit
        names its job in its callback URL; a ModelArk generation has none, and is known by its prompt (each request of
        a run names its own number)."""
        accepted, attempts, statuses = Counter(), Counter(), Counter()
        by_prompt = {(job.get("request") or {}).get("prompt"): job_id for job_id, job in self.jobs.items()}
        for submit in list(self.stack.simulator.submits):
            body = submit.get("json") if isinstance(submit.get("json"), dict) else {}
            url = (submit["query"].get("webhook") or submit["query"].get("fal_webhook") or body.get("webhook_url")
                   or body.get("callback_url") or body.get("webhook") or "")  # WaveSpeed, fal; Atlas, evolink, Replicate
            parts = urlsplit(str(url)).path.split("/")  # /v1/webhooks/{provider}/{job_id}
            job_id = parts[4] if len(parts) > 4 and parts[2] == "webhooks" else by_prompt.get(body.get("prompt"))
            if job_id in self.jobs:
                attempts[job_id] += 1
                statuses[submit["status"]] += 1
                if submit["status"] == 200:
                    accepted[job_id] += 1
        return accepted, attempts, statuses

    def drained(self, jobs: list[dict], answered_for: set) -> float | None:
        """Seconds from the first request to the last job's end (its ``completed_at``), once every accepted request
        has its job (or its refusal) and every job has ended; None otherwise."""
        accepted = {a["i"] for a in self.answers if a.get("accepted")}
        if not accepted <= answered_for or any(j["status"] not in ENDED for j in jobs):
            return None
        last = max((_epoch(j.get("completed_at") or j["updated_at"]) for j in jobs), default=self.started_wall)
        return round(last - self.started_wall, 2)

    def report(self) -> dict:
        answered = [a for a in self.answers if a["answered"]]
        latencies = [a["seconds"] for a in answered if a.get("accepted")]
        jobs = list(self.jobs.values())
        failed = Counter((j.get("error") or {}).get("code") or "?" for j in jobs if j["status"] == "failed")
        objects = self.objects()
        mismatched = []  # ended jobs only: an open one may be part way through its ingest
        for job in (j for j in jobs if j["status"] in ENDED):
            recorded = {o["s3_uri"].split("/", 3)[3] for o in job.get("outputs") or []}
            present = objects.get(job["job_id"], set())
            if recorded != present or (job["status"] == "succeeded" and not present):
                mismatched.append({"job_id": job["job_id"], "status": job["status"],
                                   "error": (job.get("error") or {}).get("code"),
                                   "recorded": len(recorded), "objects": len(present)})
        orphans = sorted(set(objects) - set(self.jobs))
        ended_as: dict[str, list[str]] = {}
        for event in self.tap.snapshot():
            if event["detail-type"] in TERMINAL:
                ended_as.setdefault(event["detail"].get("job_id"), []).append(event["detail-type"])
        terminal = Counter({job_id: len(types) for job_id, types in ended_as.items()})
        per_job = Counter(min(terminal.get(j["job_id"], 0), 2) for j in jobs)
        accepted, attempts, statuses = self.submits()
        submitted = Counter(min(accepted.get(j["job_id"], 0), 2) for j in jobs)
        made = {self.request_of(j) for j in jobs}
        refused = self.refused()
        return {
            "entry": self.config.entry, "n": self.config.n, "providers": list(self.config.providers),
            "generation_seconds": self.config.generation_seconds, "faults": self.config.faults,
            "requests": {"sent": len(self.answers), "answered": len(answered),
                         "not_answered": len(self.answers) - len(answered),
                         "by_status": dict(sorted(Counter(str(a["status"]) for a in answered).items())),
                         "errors": dict(Counter(a["error"] for a in self.answers if not a["answered"])),
                         "accepted": len(latencies)},
            "latency_seconds": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
                                "max": max(latencies, default=None)},
            "jobs": {"made": len(jobs), "succeeded": sum(j["status"] == "succeeded" for j in jobs),
                     "failed": sum(failed.values()), "failed_by_code": dict(failed.most_common()),
                     "cancelled": sum(j["status"] == "cancelled" for j in jobs),
                     "stuck": sum(j["status"] not in ENDED for j in jobs),
                     "stuck_by_status": dict(Counter(j["status"] for j in jobs if j["status"] not in ENDED))},
            "requests_without_job": len({a["i"] for a in self.answers if a.get("accepted")} - made - refused),
            "refused_by_door": len(refused),
            "outputs_mismatched": len(mismatched), "orphaned_output_prefixes": len(orphans),
            "terminal_events_per_job": {"0": per_job[0], "1": per_job[1], ">1": per_job[2]},
            "accepted_submits_per_job": {"0": submitted[0], "1": submitted[1], ">1": submitted[2]},
            "submit_attempts": {"total": sum(attempts.values()),
                                "by_status": dict(sorted((str(k), v) for k, v in statuses.items()))},
            "peak_concurrency": {name: function.peak for name, function in self.stack.functions.items()},
            "drain_seconds": self.drained(jobs, made | refused),
            "timeout_seconds": self.config.timeout,
            "examples": {name: found[:EXAMPLES] for name, found in {
                "stuck": [{"job_id": j["job_id"], "status": j["status"]} for j in jobs if j["status"] not in ENDED],
                "failed": [{"job_id": j["job_id"], "error": j["error"]} for j in jobs if j["status"] == "failed"],
                "outputs_mismatched": mismatched,
                "no_terminal_event": [{"job_id": j["job_id"], "status": j["status"]} for j in jobs
                                      if not terminal.get(j["job_id"])],
                "several_terminal_events": [{"job_id": j["job_id"], "status": j["status"], "events": ended_as[j["job_id"]],
                                             "error": (j.get("error") or {}).get("code")}
                                            for j in jobs if terminal.get(j["job_id"], 0) > 1],
                "failed_after_a_provider_took_it": [{"job_id": j["job_id"], "error": j["error"]["code"]} for j in jobs
                                                    if j["status"] == "failed" and accepted.get(j["job_id"])
                                                    and j["error"]["code"] == "submit_failed"],
                "several_accepted_submits": [{"job_id": j["job_id"], "submits": accepted[j["job_id"]]} for j in jobs
                                             if accepted.get(j["job_id"], 0) > 1],
            }.items() if found},
        }


def clean(report: dict) -> bool:
    """Every request answered, every job succeeded once, cleanly (module docstring: exit status)."""
    jobs = report["jobs"]
    return (report["requests"]["not_answered"] == 0 and jobs["made"] == report["n"] == jobs["succeeded"]
            and report["outputs_mismatched"] == report["orphaned_output_prefixes"] == 0
            and report["terminal_events_per_job"]["1"] == jobs["made"]
            and report["accepted_submits_per_job"]["1"] == jobs["made"])


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _counts(counts: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "-"


def table(report: dict) -> str:
    """The report as one two-column table."""
    r, jobs, lat = report["requests"], report["jobs"], report["latency_seconds"]
    faults = ",".join(f"{k}={v}" for k, v in report["faults"].items()) or "none"
    peaks = report["peak_concurrency"]
    rows = [
        ("requests sent", r["sent"]),
        ("  answered", f"{r['answered']} ({_counts(r['by_status'])})"),
        ("  not answered", f"{r['not_answered']}" + (f" ({_counts(r['errors'])})" if r["errors"] else "")),
        ("  accepted", r["accepted"]),
        ("accepting request latency p50 / p99 / max", f"{_seconds(lat['p50'])} / {_seconds(lat['p99'])} / "
                                                      f"{_seconds(lat['max'])}"),
        ("jobs made", jobs["made"]),
        ("  succeeded", jobs["succeeded"]),
        ("  failed", f"{jobs['failed']}" + (f" ({_counts(jobs['failed_by_code'])})" if jobs["failed"] else "")),
        ("  cancelled", jobs["cancelled"]),
        ("  stuck (open at the end)", f"{jobs['stuck']}" + (f" ({_counts(jobs['stuck_by_status'])})"
                                                              if jobs["stuck"] else "")),
        ("requests refused by the door / without a job", f"{report['refused_by_door']} / {report['requests_without_job']}"),
        ("ended jobs whose outputs != objects in outputs/<job_id>/", report["outputs_mismatched"]),
        ("objects under outputs/ of no job of this run", report["orphaned_output_prefixes"]),
        ("terminal events per job: 0 / 1 / >1", " / ".join(str(v) for v in report["terminal_events_per_job"].values())),
        ("accepted provider submits per job: 0 / 1 / >1",
         " / ".join(str(v) for v in report["accepted_submits_per_job"].values())),
        ("provider submit attempts", f"{report['submit_attempts']['total']} "
                                     f"({_counts(report['submit_attempts']['by_status'])})"),
        ("peak invocations at once", ", ".join(f"{k.removesuffix('Function').lower()} {v}" for k, v in peaks.items())),
        ("time to drain", _seconds(report["drain_seconds"]) if report["drain_seconds"] is not None
         else f"not drained within {report['timeout_seconds']:g} s"),
    ]
    title = (f"{report['n']} jobs by {report['entry']}, providers {','.join(report['providers'])}, "
             f"generation {report['generation_seconds']:g} s, faults {faults}")
    width = max(len(str(name)) for name, _ in rows)
    return "\n".join([title, f"{'measure':{width}}  value", f"{'-' * width}  {'-' * 30}"]
                     + [f"{name:{width}}  {value}" for name, value in rows])


def run(config: LoadConfig) -> dict:
    """Start a stack, run the burst, stop the stack; returns the report."""
    with LocalStack(api_port=0, key_api_port=0, moto_port=0, simulator_port=0, websocket_port=0,
                    generation_seconds=config.generation_seconds) as stack:
        if config.faults:
            stack.simulator.set_faults(**({"seed": config.seed} | config.faults))
        burst = Burst(stack, config)
        with Tap(stack) as tap:
            burst.send()
            burst.wait(tap)
            return burst.report()


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(description="A burst of jobs against the local stack (make load).")
    parser.add_argument("--n", type=int, default=int(env.get("N") or 1000))
    parser.add_argument("--entry", choices=ENTRIES, default=env.get("ENTRY") or "http")
    parser.add_argument("--generation-seconds", type=float, default=float(env.get("GENERATION_SECONDS") or 1))
    parser.add_argument("--providers", default=env.get("PROVIDERS") or ",".join(PROVIDERS))
    parser.add_argument("--faults", default=env.get("FAULTS") or "", help="e.g. 429=0.2 (submit_429_share)")
    parser.add_argument("--timeout", type=float, default=float(env.get("TIMEOUT") or 2400))
    parser.add_argument("--seed", type=int, default=int(env.get("SEED") or 1))
    parser.add_argument("--json", default=env.get("JSON") or None, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    providers = tuple(p.strip() for p in args.providers.split(",") if p.strip())
    try:
        faults = parse_faults(args.faults)
        if args.n < 1 or not providers or set(providers) - set(KNOWN):
            raise ValueError(f"N must be >= 1 and PROVIDERS a list of {','.join(KNOWN)}")
        config = LoadConfig(n=args.n, entry=args.entry, generation_seconds=args.generation_seconds, providers=providers,
                         faults=faults, timeout=args.timeout, seed=args.seed)
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # not a warning per 429 and retry
        print(f"load: {config.n} jobs by {config.entry} against a local stack on 127.0.0.1 ...", file=sys.stderr)
        # Powertools prints its metrics to stdout every 100 values even when they are disabled: keep the table alone
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            report = run(config)
    except (ValueError, PortError) as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    print(table(report), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report | {"config": asdict(config)}, indent=2) + "\n")
    return 0 if clean(report) else 1


if __name__ == "__main__":
    sys.exit(main())
