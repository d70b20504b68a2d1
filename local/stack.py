"""The Docker-free local stack: moto + provider simulator + HTTP gateway + WebSocket API + queue pumps.

``python -m local.stack`` (``make up``) runs it in the foreground, prints every endpoint and logs
each API request to stderr. Tests and the demo use ``LocalStack`` as a context manager.

One stack per process. Every function is imported with its own resolved environment (see
``local.runtime``); the process environment, which handlers see while they run, holds the local
AWS settings (moto endpoint, dummy credentials), the variables every function has with the same
value (the template's ``Globals``) and a few local-only settings (``local_environment()``).

Every AWS call a function makes is recorded, attributed to that function (``local.aws_calls``; ``stack.calls``), and
``stack.audit()`` evaluates them against the roles in the template (``local.iam``): ``make up`` prints it when stopped.

Two HTTP gateways serve the template's two HTTP APIs: ``HttpApi`` (IAM, ``api_port``) and ``KeyApi`` (API keys, its
Lambda authorizer run as API Gateway runs it, ``key_api_port``).

Every server binds 127.0.0.1, all four before anything else is set up; a port that cannot be
bound is a :class:`PortError` naming the variable that changes it (``make up`` prints it as one
line and exits with status 2).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

from . import aws_calls
from .gateway import Gateway, LambdaAuthorizer, Route, serve
from .iam import Findings
from .iam import audit as audit_roles
from .motolocks import Serialised, guard_sqs
from .pumps import QueuePump
from .runtime import LocalFunction
from .scheduler import Schedule
from .simulator import ProviderSimulator
from .tasks import TaskAnswers
from .template import REGION, STACK_NAME, Function, LocalResources, create_resources, lambda_authorizers, load_template
from .websocket import WebSocketGateway, websocket_api

EVENTS_TAP_QUEUE = "seedream-local-events-tap"
ALARM_EMAIL = "alarms@example.invalid"
"""The local stack's ``AlarmEmail`` parameter: the template then subscribes it to the alarm topic, as a deployed
stack with ``AlarmEmail`` set (moto sends no mail and confirms it at once; ``.invalid`` is never a real domain)."""
PORT_VARIABLES = {"api": "API_PORT", "key_api": "KEY_API_PORT", "moto": "MOTO_PORT", "simulator": "SIMULATOR_PORT",
                  "websocket": "WS_PORT"}
GATEWAY_APIS = ("HttpApi", "KeyApi")
"""The template's HTTP APIs, each served by its own local gateway (``api_port``, ``key_api_port``)."""


LOCAL_DEADLINES = {
    "TASK_TIMEOUT_SECONDS": "90",
    "SUBMIT_BACKPRESSURE_MAX_SECONDS": "120",
    "DEADLINE_BASE_SECONDS": "5",
    "DEADLINE_SECONDS_PER_IMAGE": "1",
    "DEADLINE_GRACE_SECONDS": "5",
    "RECONCILE_BACKOFF_SECONDS": "3",
    "RECONCILE_BACKOFF_MAX_SECONDS": "15",
    "INGEST_DEADLINE_SECONDS": "30",
}
"""The deployed deadlines (minutes) scaled for a machine (seconds); each can be set in the environment."""
LOCAL_WEBHOOKS = {
    "WEBHOOK_RETRY_SCHEDULE": "0,1,2,3,5,8,10,14,20,24",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
    "WEBHOOK_HOST_ALLOWLIST": ".invalid",
}
"""Webhooks to callers at a machine's pace: the Standard Webhooks schedule with a second where it has minutes or
hours (24 h → 24 s), 5 s for a receiver to answer; and no public host is ever sent one (only ``.invalid``, which
never resolves, is on the allowlist: a job with a public webhook, as the API fuzz makes, gets
``webhook_url_forbidden`` and nothing leaves the machine; loopback receivers are exempt). Each can be set in the
environment."""


def local_environment() -> dict[str, str]:
    """Local-only settings every function gets (they win over the template's values)."""
    return {"ALLOW_LOOPBACK_HTTP": "true", "S3_ADDRESSING_STYLE": "path",
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")} | {
        name: os.environ.get(name, default) for name, default in (LOCAL_DEADLINES | LOCAL_WEBHOOKS).items()}


def common_environment(functions: list[Function]) -> dict[str, str]:
    """The variables every function has, with the same value in each."""
    if not functions:
        return {}
    first, *others = functions
    return {k: v for k, v in first.environment.items() if all(f.environment.get(k) == v for f in others)}


class PortError(RuntimeError):
    """A port the stack needs cannot be bound; ``str()`` is the one line ``make up`` prints."""

    def __init__(self, port: int, variable: str, error: OSError):
        self.port, self.variable = port, variable
        reason = "is already in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror or error})"
        super().__init__(f"port {port} {reason}; set {variable} to another port")


@contextmanager
def binding(port: int, variable: str) -> Iterator[None]:
    """Turns an ``OSError`` of a server binding ``port`` into a :class:`PortError`."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        raise PortError(port, variable, exc) from exc


class LocalStack:
    """Start with ``start()`` or ``with LocalStack(...) as stack:``; every server listens on 127.0.0.1 only.

    A port of 0 means any free port; ``api_port``/``moto_port``/``simulator_port`` (and the URLs) hold the
    real ports once ``start()`` has bound them.
    """

    def __init__(self, api_port: int = 3000, moto_port: int = 5050, simulator_port: int = 5060,
                 generation_seconds: float = 3.0, retry_delay: int = 1, log_requests: bool = False,
                 reconcile_seconds: float | None = None, key_api_port: int = 3001, websocket_port: int = 3002):
        self.api_port = api_port
        self.key_api_port = key_api_port
        self.websocket_port = websocket_port
        self.moto_port = moto_port
        self.simulator_port = simulator_port
        self.generation_seconds = generation_seconds
        self.retry_delay = retry_delay
        self.log_requests = log_requests
        self.keys = {
            "wavespeed": {"api_key": "ws-local-" + secrets.token_hex(8), "webhook_secret": "whsec_" + secrets.token_urlsafe(24)},
            "atlascloud": {"api_key": "atlas-local-" + secrets.token_hex(8)},
            "evolink": {"api_key": "evolink-local-" + secrets.token_hex(8)},
            "replicate": {"api_key": "r8_local" + secrets.token_hex(8)},
            "fal": {"api_key": f"fal-local-{secrets.token_hex(4)}:{secrets.token_hex(16)}"},
            "modelark": {"api_key": "ark-local-" + secrets.token_hex(8)},
        }
        self.functions: dict[str, LocalFunction] = {}
        self.pumps: list[QueuePump] = []
        self.schedules: dict[str, Schedule] = {}
        self.reconcile_seconds = float(os.environ.get("RECONCILE_SECONDS", 3)) if reconcile_seconds is None \
            else reconcile_seconds
        """Seconds between scheduled runs (the template's ``rate(1 minute)``, scaled for a machine)."""
        self.resources: LocalResources | None = None
        self.calls: aws_calls.CallLog | None = None
        """The AWS calls of its functions, each attributed to its function (``local.aws_calls``)."""
        self._moto = None
        self._moto_thread: threading.Thread | None = None
        self.simulator: ProviderSimulator | None = None
        self.gateway: Gateway | None = None
        self.key_gateway: Gateway | None = None
        """``KeyApi``'s gateway: the job routes for ``Authorization: Bearer sk_…`` (``key_api_url``)."""
        self.authorizers: dict[str, LambdaAuthorizer] = {}
        """Lambda authorizer name → how the gateway runs it (its answer cache included)."""
        self.websocket: WebSocketGateway | None = None
        """The template's WebSocket API (``local.websocket``) and its management API."""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def key_api_url(self) -> str:
        return f"http://127.0.0.1:{self.key_api_port}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalStack:
        self._saved_env = dict(os.environ)
        try:
            self._bind()
            self._setup()
        except BaseException:
            self.stop()
            raise
        return self

    def _bind(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request log
        # Step Functions task answers are recorded on their way to moto, which keeps none (``local.tasks``);
        # DynamoDB requests and each SQS queue are serialised where moto is not safe (``local.motolocks``)
        guard_sqs()
        self.task_answers = TaskAnswers(Serialised(DomainDispatcherApplication(create_backend_app)))
        with binding(self.moto_port, PORT_VARIABLES["moto"]):
            self._moto = serve(self.task_answers, self.moto_port, MotoRequestHandler)
        self.moto_port = self._moto.server_address[1]
        self._moto_thread = threading.Thread(target=self._moto.serve_forever, kwargs={"poll_interval": 0.1},
                                             name=f"moto:{self.moto_port}", daemon=True)
        self._moto_thread.start()
        with binding(self.api_port, PORT_VARIABLES["api"]):
            self.gateway = Gateway(port=self.api_port, log_requests=self.log_requests)
        self.api_port = self.gateway.port
        with binding(self.key_api_port, PORT_VARIABLES["key_api"]):
            self.key_gateway = Gateway(port=self.key_api_port, log_requests=self.log_requests)
        self.key_api_port = self.key_gateway.port
        with binding(self.websocket_port, PORT_VARIABLES["websocket"]):
            self.websocket = WebSocketGateway(port=self.websocket_port)
        self.websocket_port = self.websocket.port
        simulator = ProviderSimulator(port=self.simulator_port, generation_seconds=self.generation_seconds, keys=self.keys)
        with binding(self.simulator_port, PORT_VARIABLES["simulator"]):
            simulator.start()
        self.simulator = simulator
        self.simulator_port = urlsplit(simulator.base_url).port or self.simulator_port

    def _setup(self) -> None:
        dummy = "local"  # credentials only the local moto server sees: not secrets (bandit B105)
        os.environ.update({
            "AWS_ACCESS_KEY_ID": dummy, "AWS_SECRET_ACCESS_KEY": dummy, "AWS_SESSION_TOKEN": dummy,
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.moto_url,
        })
        os.environ.pop("AWS_PROFILE", None)
        self.session = boto3.session.Session(region_name=REGION)
        parameters = {"PublicBaseUrl": self.api_url, "WaveSpeedBaseUrl": self.simulator.base_url,
                      "AtlasCloudBaseUrl": self.simulator.base_url, "EvolinkBaseUrl": self.simulator.base_url,
                      "ReplicateBaseUrl": self.simulator.base_url,
                      "FalBaseUrl": self.simulator.base_url, "FalJwksUrl": f"{self.simulator.base_url}/.well-known/jwks.json",
                      "ModelArkBaseUrl": self.simulator.base_url,
                      "AlarmEmail": ALARM_EMAIL}
        self.template = load_template()
        apis = {lid for lid, res in self.template["Resources"].items() if res["Type"] == "AWS::Serverless::HttpApi"}
        if apis != set(GATEWAY_APIS):
            raise ValueError(f"template.yaml has HTTP APIs {sorted(apis)}; the local stack serves {list(GATEWAY_APIS)}")
        self.resources = create_resources(self.session, self.template, parameters, secret_value=self.keys,
                                          api_urls={"HttpApi": self.api_url, "KeyApi": self.key_api_url},
                                          websocket_urls=(self.websocket.url, self.websocket.management_url))
        self._tap_events()
        self.calls = aws_calls.start(self)  # before the functions make their clients
        local_env = local_environment()
        os.environ.update(common_environment(list(self.resources.functions.values())))
        os.environ.update(local_env)
        self.functions = {name: LocalFunction(spec, {**spec.environment, **local_env})
                          for name, spec in self.resources.functions.items()}
        self.authorizers = {spec.name: LambdaAuthorizer(self.functions[spec.function], spec.headers, spec.ttl_seconds)
                            for (_, name), spec in lambda_authorizers(self.template).items()}
        for api, gateway in (("HttpApi", self.gateway), ("KeyApi", self.key_gateway)):
            gateway.set_routes([Route(route.method, route.path, route.iam, self.functions[name],
                                      self.authorizers.get(route.authorizer))
                                for name, spec in self.resources.functions.items() for route in spec.routes
                                if route.api == api])
            gateway.start()
        self.websocket_spec = websocket_api(self.template)
        if self.websocket_spec is not None:
            self.websocket.start(self.websocket_spec, self.functions)
        sqs = self.session.client("sqs", config=Config(max_pool_connections=200))  # shared by every pump's batches
        for name, spec in self.resources.functions.items():
            for queue, batch_size in spec.queues:
                pump = QueuePump(sqs, self.resources.queue_urls[queue], self.resources.attrs[(queue, "Arn")],
                                 self.functions[name], batch_size, self.retry_delay,
                                 concurrency=spec.queue_concurrency.get(queue, self.functions[name].concurrency))
                pump.start()
                self.pumps.append(pump)
            if spec.schedules:
                rule = spec.schedule_rules[0] if spec.schedule_rules else None
                self.schedules[name] = Schedule(self.functions[name], self.reconcile_seconds, rule,
                                                enabled=self._rule_enabled(rule) if rule else None)
                self.schedules[name].start()

    def stop(self) -> None:
        if self.calls:
            aws_calls.stop(self.calls)
        for schedule in self.schedules.values():
            schedule.stop()
        self.schedules = {}
        for pump in self.pumps:
            pump.stop()
        self.pumps = []
        for gateway in (self.gateway, self.key_gateway):
            if gateway:
                gateway.stop()
        if self.websocket:
            self.websocket.stop()
            self.websocket = None
        if self.simulator:
            self.simulator.stop()
        if self._moto:
            if self._moto_thread:
                self._moto.shutdown()
                self._moto_thread.join(timeout=5)
            self._moto.server_close()
            self._moto = self._moto_thread = None
        if hasattr(self, "_saved_env"):
            os.environ.clear()
            os.environ.update(self._saved_env)
            del self._saved_env

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------
    def _tap_events(self) -> None:
        """Local instrumentation (not in the template): every event on the bus is copied to an SQS queue
        (``Job ...`` events and the ``Job Requested`` that came in). Not S3's: moto sends a bucket's events to
        the rules of every bus, where AWS sends them to the default bus only."""
        events, sqs = self.session.client("events"), self.session.client("sqs")
        self.events_queue_url = sqs.create_queue(QueueName=EVENTS_TAP_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.events_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = self.name("JobsBus")
        events.put_rule(Name="local-events-tap", EventBusName=bus,
                        EventPattern=json.dumps({"source": [{"anything-but": ["aws.s3"]}]}))
        events.put_targets(Rule="local-events-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])

    def _websocket_endpoints(self) -> list[str]:
        if self.websocket_spec is None:
            return []
        stage = self.websocket_spec.stage
        routes = ", ".join(f"{key}{' [IAM]' if route.iam else ''} → {route.function}"
                           for key, route in self.websocket_spec.routes.items())
        return [f"WebSocket      {self.websocket.url}/{stage}   (routes by action: {routes})",
                f"  management   {self.websocket.management_url}/{stage}/@connections/{{connection_id}}"]

    def _rule_enabled(self, rule: str):
        events = self.session.client("events")
        return lambda: events.describe_rule(Name=rule)["State"] == "ENABLED"

    def audit(self) -> Findings:
        """Its functions' calls so far against their roles in the template (``local.iam``)."""
        return audit_roles(self.template, self.resources, self.calls.calls)

    @contextmanager
    def reconfigured(self, variables: dict[str, str], functions: tuple[str, ...] | None = None) -> Iterator[None]:
        """Every function (or those of ``functions``, logical ids) with ``variables`` added to its environment, as
        ``UpdateFunctionConfiguration`` would: instances imported from now on read them (``LocalFunction.reconfigure``);
        on exit each function gets its environment of before back. A test sets its own deadlines this way
        (``TASK_TIMEOUT_SECONDS=2``) instead of waiting out the whole suite's."""
        chosen = {name: self.functions[name] for name in (functions or tuple(self.functions))}
        before = {name: dict(function.environment) for name, function in chosen.items()}
        try:
            for name, function in chosen.items():
                function.reconfigure(before[name] | variables)
            yield
        finally:
            for name, function in chosen.items():
                function.reconfigure(before[name])

    def pump(self, function_logical_id: str) -> QueuePump:
        """The pump feeding ``function_logical_id`` (pause/resume it to hold messages on the queue)."""
        return next(p for p in self.pumps if p.function.spec.logical_id == function_logical_id)

    def name(self, logical_id: str) -> str:
        """What ``!Ref <logical_id>`` gives locally (table name, queue URL, bucket, bus, secret ARN)."""
        return self.resources.names[logical_id]

    def endpoints(self) -> list[str]:
        lines = [f"API            {self.api_url}   (routes below; IAM routes need a SigV4 Authorization header)"]
        for name, spec in self.resources.functions.items():
            for route in spec.routes:
                if route.api == "HttpApi":
                    lines.append(f"  {route.method:6} {self.api_url}{route.path}  → {name}"
                                 f"{'  [IAM]' if route.iam else '  [public]'}")
        lines.append(f"Key API        {self.key_api_url}   (the job routes for 'Authorization: Bearer sk_…'; "
                     "seedream keys create makes a key)")
        for name, spec in self.resources.functions.items():
            for route in spec.routes:
                if route.api == "KeyApi":
                    lines.append(f"  {route.method:6} {self.key_api_url}{route.path}  → {name}  [{route.authorizer}]")
        lines += [
            *self._websocket_endpoints(),
            f"AWS (moto)     {self.moto_url}   AWS_ENDPOINT_URL={self.moto_url} AWS_ACCESS_KEY_ID=local "
            f"AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION={REGION}",
            f"  stack        {STACK_NAME}  (CloudFormation: the template's outputs; check it with .venv/bin/seedream doctor)",
            f"  bucket       {self.name('JobsBucket')}",
            f"  jobs table   {self.name('JobsTable')}",
            f"  event bus    {self.name('JobsBus')}  (copied to queue {self.events_queue_url})",
            f"  alarm topic  {self.name('AlarmTopic')}  (AlarmEmail {ALARM_EMAIL} subscribed; nothing is sent)",
        ]
        for logical_id, url in self.resources.queue_urls.items():
            lines.append(f"  queue        {logical_id:12} {url}")
        lines += [
            f"  S3 door      upload requests/<name>.json to s3://{self.name('JobsBucket')}/ → IntakeFunction; "
            f"results/<name>.json (or .error.json)",
            f"  event door   put 'Job Requested' on {self.name('JobsBus')} → IntakeFunction; 'Job ...' events back "
            "(task-token answers are recorded: local.tasks)",
        ]
        for name, schedule in self.schedules.items():
            lines.append(f"  schedule     {name} every {schedule.interval:g} s while rule {schedule.rule_name} is enabled "
                         f"(RECONCILE_SECONDS; deployed: {', '.join(self.resources.functions[name].schedules)})")
        lines.append(f"Providers      {self.simulator.base_url}   (simulator: wavespeed, atlascloud, evolink, replicate, fal, "
                     "modelark; "
                     f"faults: POST {self.simulator.base_url}/_sim/faults)")
        return lines


def _port(given: int | None, variable: str, default: int) -> int:
    if given is not None:
        return given
    value = os.environ.get(variable, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{variable}={value!r} is not a port number") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local stack in the foreground.")
    parser.add_argument("--api-port", type=int, help="default: $API_PORT or 3000")
    parser.add_argument("--key-api-port", type=int, help="default: $KEY_API_PORT or 3001")
    parser.add_argument("--moto-port", type=int, help="default: $MOTO_PORT or 5050")
    parser.add_argument("--simulator-port", type=int, help="default: $SIMULATOR_PORT or 5060")
    parser.add_argument("--websocket-port", type=int, help="default: $WS_PORT or 3002")
    parser.add_argument("--generation-seconds", type=float, default=float(os.environ.get("GENERATION_SECONDS", 3)))
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = parser.parse_args(argv)
    try:
        ports = (_port(args.api_port, "API_PORT", 3000), _port(args.moto_port, "MOTO_PORT", 5050),
                 _port(args.simulator_port, "SIMULATOR_PORT", 5060))
        key_api_port = _port(args.key_api_port, "KEY_API_PORT", 3001)
        websocket_port = _port(args.websocket_port, "WS_PORT", 3002)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        stack = LocalStack(*ports, args.generation_seconds, log_requests=not args.quiet,
                           key_api_port=key_api_port, websocket_port=websocket_port).start()
    except PortError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("Local stack is up (Ctrl-C to stop):")
    print("\n".join(stack.endpoints()), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    print("AWS calls of each function, and whether its role in template.yaml allows them (local.iam):")
    print("\n".join(stack.audit().table()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
