"""The Docker-free local stack: moto + provider simulator + HTTP gateway + queue pumps.

``python -m local.stack`` (``make up``) runs it in the foreground and prints every endpoint.
Tests and the demo use ``LocalStack`` as a context manager. One stack per process: the
functions' environment is the process environment, as in a Lambda sandbox.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading

import boto3
from moto.server import ThreadedMotoServer

from .gateway import Gateway, Route
from .pumps import QueuePump
from .runtime import LocalFunction
from .simulator import ProviderSimulator
from .template import REGION, LocalResources, create_resources, load_template

EVENTS_TAP_QUEUE = "seedream-local-events-tap"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalStack:
    """Start with ``start()`` or ``with LocalStack(...) as stack:``; every server listens on 127.0.0.1 only."""

    def __init__(self, api_port: int = 3000, moto_port: int = 5050, simulator_port: int = 5060,
                 generation_seconds: float = 3.0, retry_delay: int = 1):
        self.api_port = api_port or free_port()
        self.moto_port = moto_port or free_port()
        self.simulator_port = simulator_port or free_port()
        self.generation_seconds = generation_seconds
        self.retry_delay = retry_delay
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.keys = {
            "wavespeed": {"api_key": "ws-local-" + secrets.token_hex(8), "webhook_secret": "whsec_" + secrets.token_urlsafe(24)},
            "atlascloud": {"api_key": "atlas-local-" + secrets.token_hex(8)},
            "evolink": {"api_key": "evolink-local-" + secrets.token_hex(8)},
        }
        self.functions: dict[str, LocalFunction] = {}
        self.pumps: list[QueuePump] = []
        self.resources: LocalResources | None = None
        self._moto: ThreadedMotoServer | None = None
        self.simulator: ProviderSimulator | None = None
        self.gateway: Gateway | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request log
        self._saved_env = dict(os.environ)
        os.environ.update({
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.moto_url,
        })
        os.environ.pop("AWS_PROFILE", None)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()
        self.simulator = ProviderSimulator(port=self.simulator_port, generation_seconds=self.generation_seconds,
                                           keys=self.keys)
        self.simulator.start()
        self.session = boto3.session.Session(region_name=REGION)
        parameters = {"PublicBaseUrl": self.api_url, "WaveSpeedBaseUrl": self.simulator.base_url,
                      "AtlasCloudBaseUrl": self.simulator.base_url, "EvolinkBaseUrl": self.simulator.base_url}
        template = load_template()
        self.resources = create_resources(self.session, template, parameters, secret_value=self.keys)
        self._tap_events()
        env: dict[str, str] = {}
        for function in self.resources.functions.values():
            env.update(function.environment)
        env.update({"ALLOW_LOOPBACK_HTTP": "true", "S3_ADDRESSING_STYLE": "path",
                    "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
                    "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")})
        os.environ.update(env)
        self.functions = {name: LocalFunction(spec) for name, spec in self.resources.functions.items()}
        routes = [Route(method, path, iam, self.functions[name])
                  for name, spec in self.resources.functions.items() for method, path, iam in spec.routes]
        self.gateway = Gateway(routes, port=self.api_port)
        self.gateway.start()
        sqs = self.session.client("sqs")
        for name, spec in self.resources.functions.items():
            for queue, batch_size in spec.queues:
                pump = QueuePump(sqs, self.resources.queue_urls[queue], self.resources.attrs[(queue, "Arn")],
                                 self.functions[name], batch_size, self.retry_delay)
                pump.start()
                self.pumps.append(pump)
        return self

    def stop(self) -> None:
        for pump in self.pumps:
            pump.stop()
        if self.gateway:
            self.gateway.stop()
        if self.simulator:
            self.simulator.stop()
        if self._moto:
            self._moto.stop()
        if hasattr(self, "_saved_env"):
            os.environ.clear()
            os.environ.update(self._saved_env)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------
    def _tap_events(self) -> None:
        """Local instrumentation (not in the template): every event on the bus is copied to an SQS queue."""
        events, sqs = self.session.client("events"), self.session.client("sqs")
        self.events_queue_url = sqs.create_queue(QueueName=EVENTS_TAP_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.events_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = self.name("JobsBus")
        events.put_rule(Name="local-events-tap", EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        events.put_targets(Rule="local-events-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])

    def pump(self, function_logical_id: str) -> QueuePump:
        """The pump feeding ``function_logical_id`` (pause/resume it to hold messages on the queue)."""
        return next(p for p in self.pumps if p.function.spec.logical_id == function_logical_id)

    def name(self, logical_id: str) -> str:
        """What ``!Ref <logical_id>`` gives locally (table name, queue URL, bucket, bus, secret ARN)."""
        return self.resources.names[logical_id]

    def endpoints(self) -> list[str]:
        lines = [f"API            {self.api_url}   (routes below; IAM routes need a SigV4 Authorization header)"]
        for name, spec in self.resources.functions.items():
            for method, path, iam in spec.routes:
                lines.append(f"  {method:6} {self.api_url}{path}  → {name}{'  [IAM]' if iam else '  [public]'}")
        lines += [
            f"AWS (moto)     {self.moto_url}   AWS_ENDPOINT_URL={self.moto_url} AWS_ACCESS_KEY_ID=local "
            f"AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={REGION}",
            f"  bucket       {self.name('JobsBucket')}",
            f"  jobs table   {self.name('JobsTable')}",
            f"  event bus    {self.name('JobsBus')}  (copied to queue {self.events_queue_url})",
        ]
        for logical_id, url in self.resources.queue_urls.items():
            lines.append(f"  queue        {logical_id:12} {url}")
        lines.append(f"Providers      {self.simulator.base_url}   (simulator: wavespeed, atlascloud, evolink; "
                     f"faults: POST {self.simulator.base_url}/_sim/faults)")
        return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local stack in the foreground.")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", 3000)))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", 5050)))
    parser.add_argument("--simulator-port", type=int, default=int(os.environ.get("SIMULATOR_PORT", 5060)))
    parser.add_argument("--generation-seconds", type=float, default=float(os.environ.get("GENERATION_SECONDS", 3)))
    args = parser.parse_args(argv)
    stack = LocalStack(args.api_port, args.moto_port, args.simulator_port, args.generation_seconds).start()
    print("Local stack is up (Ctrl-C to stop):")
    print("\n".join(stack.endpoints()), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
