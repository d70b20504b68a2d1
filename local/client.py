"""A small client of the jobs API that signs requests with SigV4 (the routes use IAM auth).

Used by the integration tests and the benchmarks (the ``seedream`` command has its own client in
``seedream_cli``; both sign with ``seedream_cli.client.sign``); the same code works against a deployed stack
with real credentials (``JobsClient("https://{api-id}.execute-api.{region}.amazonaws.com")``).
"""

from __future__ import annotations

import json
import time

import boto3
import httpx

from seedream_cli.client import sign


class JobsClient:
    def __init__(self, api_url: str, session: boto3.session.Session | None = None, region: str | None = None,
                 http: httpx.Client | None = None):
        self.api_url = api_url.rstrip("/")
        self.session = session or boto3.session.Session()
        self.region = region or self.session.region_name or "us-east-1"
        self.http = http or httpx.Client(timeout=30)  # (its pool holds 100 connections: a burst brings its own)

    def request(self, method: str, path: str, body: dict | None = None, signed: bool = True,
                headers: dict[str, str] | None = None) -> httpx.Response:
        data = json.dumps(body).encode() if body is not None else b""
        headers = ({"content-type": "application/json"} if body is not None else {}) | (headers or {})
        url = f"{self.api_url}{path}"
        if signed:
            headers = sign(self.session.get_credentials(), self.region, method, url, data, headers)
        return self.http.request(method, url, content=data, headers=headers)

    def create_job(self, body: dict) -> httpx.Response:
        return self.request("POST", "/v1/jobs", body)

    def get_job(self, job_id: str) -> dict:
        response = self.request("GET", f"/v1/jobs/{job_id}")
        response.raise_for_status()
        return response.json()

    def wait_for_event(self, sqs, queue_url: str, job_id: str, timeout: float = 120.0,
                       on_tick=None) -> dict | None:
        """Wait for the terminal event (``Job Succeeded``/``Failed``/``Cancelled``) of ``job_id`` on an SQS queue
        subscribed to the bus; the job's ``Job Queued``/``Job Submitted`` on the way are consumed.

        ``on_tick()`` is called about once a second (the demo shows progress with it). Returns the
        EventBridge event, or None after ``timeout`` seconds. Other jobs' events are left on the queue
        (hidden for a few seconds as they are paged past, then visible again to other readers).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if on_tick:
                on_tick()
            reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                        VisibilityTimeout=5)
            for message in reply.get("Messages", []):
                event = json.loads(message["Body"])
                if event.get("detail", {}).get("job_id") == job_id:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    if event.get("detail-type") not in ("Job Queued", "Job Submitted"):
                        return event
        return None
