"""``webhook_ack_p50`` / ``webhook_ack_p99``: time to answer a genuine WaveSpeed callback, in-process.

Setup (untimed): ``COUNT`` + 1 jobs (WaveSpeed, seedream-v4, 1 × 1024×1024, the example image as an
``s3://`` input) created through the API with the simulator's own callback withheld; each is waited
until ``submitted`` with its simulator task finished; the ingest pump is paused so ingest does not
compete. Then, per job: WaveSpeed's callback body for its task, a fresh signature, an HTTP API v2
event for ``POST /v1/webhooks/wavespeed/{job_id}?token=…`` and a timed
``stack.functions["WebhookFunction"].invoke(event)``; every answer must be 202.

Baseline: a bare handler doing exactly one ``PutItem`` + one ``SendMessage`` with plain boto3 clients
against the same moto server (its own table and queue, created like the stack's), invoked in-process
with the same event, alternating with ours call by call. One untimed warm-up call per side first.

Figures: p50 and p99 over all ``COUNT`` calls per side; the [min–max] ranges are over ``N``
consecutive blocks of ``COUNT / N`` pairs (per-block percentiles and per-block ratios).
"""

from __future__ import annotations

import json
import time
import uuid

import boto3

from local.runtime import LambdaContext
from local.stack import LocalStack

from .common import Measure, N, paired_order, percentile, say
from .jobs import Jobs, webhook_event

COUNT = max(300, 30 * N)


class BareWebhook:
    """The baseline: one PutItem and one SendMessage, nothing else."""

    def __init__(self, table: str, queue_url: str):
        self.dynamodb = boto3.client("dynamodb")
        self.sqs = boto3.client("sqs")
        self.table, self.queue_url = table, queue_url

    def __call__(self, event: dict, context) -> dict:
        job_id = event["pathParameters"]["job_id"]
        self.dynamodb.put_item(TableName=self.table, Item={"job_id": {"S": job_id}, "callback": {"S": event["body"]},
                                                           "received_at": {"N": str(time.time())}})
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"job_id": job_id, "body": event["body"]}))
        return {"statusCode": 202, "body": '{"status": "accepted"}'}


def baseline_handler(stack: LocalStack) -> BareWebhook:
    name = f"bench-bare-webhook-{uuid.uuid4().hex[:8]}"
    dynamodb = stack.session.client("dynamodb")
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}])
    queue_url = stack.session.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    return BareWebhook(name, queue_url)


def run(stack: LocalStack, jobs: Jobs) -> list[Measure]:
    stack.simulator.set_faults(callback="lost")
    say(f"webhook: creating {COUNT + 1} jobs through the API (1 × 1024×1024 each, provider callback withheld)")
    job_ids = jobs.create_many(COUNT + 1, 1, "1024*1024")
    say("webhook: waiting until every job is submitted and its simulator task finished")
    tasks = jobs.wait_submitted(job_ids)
    stack.simulator.reset_faults()
    ingest = stack.pump("IngestFunction")
    ingest.pause()
    webhook = stack.functions["WebhookFunction"]
    bare = baseline_handler(stack)
    sqs = stack.session.client("sqs")

    def ours(event: dict) -> float:
        started = time.perf_counter()
        answer = webhook.invoke(event)
        seconds = time.perf_counter() - started
        assert answer["statusCode"] == 202, answer
        return seconds

    def baseline(event: dict) -> float:
        context = LambdaContext("BareWebhook", 10, aws_request_id=str(uuid.uuid4()))
        started = time.perf_counter()
        answer = bare(event, context)
        seconds = time.perf_counter() - started
        assert answer["statusCode"] == 202, answer
        return seconds

    def event_for(job_id: str) -> dict:
        return webhook_event(*jobs.callback(job_id, tasks[job_id]), job_id)

    try:
        warm = event_for(job_ids[0])
        ours(warm)
        baseline(warm)
        say(f"webhook: timing {COUNT} callbacks per side, alternating ours/baseline")
        ours_s, base_s = [], []
        for index, job_id in enumerate(job_ids[1:]):
            event = event_for(job_id)  # fresh signature, built before the clock starts
            for side in paired_order(index):
                if side == "ours":
                    ours_s.append(ours(event))
                else:
                    base_s.append(baseline(json.loads(json.dumps(event))))
            if (index + 1) % 100 == 0:
                say(f"webhook: {index + 1}/{COUNT} pairs")
        queued = int(sqs.get_queue_attributes(QueueUrl=stack.name("IngestQueue"), AttributeNames=["ApproximateNumberOfMessages"])
                     ["Attributes"]["ApproximateNumberOfMessages"])
        assert queued == COUNT + 1, f"{queued} ingest messages for {COUNT + 1} accepted callbacks"
    finally:
        sqs.purge_queue(QueueUrl=stack.name("IngestQueue"))  # these jobs are never ingested
        ingest.resume()
    return figures(ours_s, base_s)


def figures(ours_s: list[float], base_s: list[float]) -> list[Measure]:
    block = len(ours_s) // N
    measures = []
    for pct in (50, 99):
        measure = Measure(f"webhook_ack_p{pct}", "ms", n=len(ours_s),
                          ours_value=percentile(ours_s, pct) * 1000, baseline_value=percentile(base_s, pct) * 1000,
                          note=f"[min–max] over {N} blocks of {block} pairs")
        for start in range(0, block * N, block):
            measure.add(percentile(ours_s[start:start + block], pct) * 1000,
                        percentile(base_s[start:start + block], pct) * 1000)
        measures.append(measure)
    return measures
