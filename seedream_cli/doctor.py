"""``seedream doctor``: a deployed stack checks itself, read-only, one line per check.

It checks the outputs, the provider keys, the webhook route, the bus, every queue with its DLQ (submit, ingest,
intake, webhook, live), the webhook signing key's form, the WebSocket API (an unsigned ``$connect`` must be refused
403), the connections table's TTL, the alarm topic and the reconcile schedule.

Every check reads; none creates a job or changes anything. The provider secret is read only to see
which values are set: no key or secret is ever printed, not even in part. The one request that reaches
the stack's code is an unsigned WaveSpeed callback for a random job id, which the webhook answers 401
without touching any job (it counts as one rejected callback in the ``CallbacksRejected`` metric).

Which providers a deployment enables: all three, always. ``seedream.providers.build_providers`` builds
every adapter whatever the settings, and a job may name any of them (``PROVIDER_PREFERENCE`` only chooses
which ones ``auto`` tries for a model, and in what order; the base URLs only move them). So every provider
needs its ``api_key``.

WaveSpeed's webhook secret: the webhook function uses ``webhook_secret`` from the provider secret, and
when it is not set fetches it once with the WaveSpeed key (``GET /api/v3/webhook/secret``). The doctor
does not make that call: it would send the key from this machine to a provider to learn a secret the
stack fetches for itself at the first callback. Unset with a WaveSpeed key present is therefore ✔ (with
that note); unset without a key is ✘.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from botocore.exceptions import ClientError

from .target import Target, is_loopback

PROVIDERS = ("wavespeed", "atlascloud", "evolink", "replicate", "fal", "modelark")
"""Every provider a deployment enables (``seedream.settings.PROVIDERS``; ``tests/cli`` checks they agree)."""
QUEUES = (("SubmitQueue", "SubmitDLQ"), ("IngestQueue", "IngestDLQ"), ("IntakeQueue", "IntakeDLQ"),
          ("WebhookQueue", "WebhookDLQ"), ("LiveQueue", "LiveDLQ"), ("ModelArkQueue", "ModelArkDLQ"))
"""Each queue and its dead-letter queue, by their outputs ``<name>Url``."""
DLQ_HOLDS = {"SubmitDLQ": "jobs that could not be handed to a provider",
             "IngestDLQ": "callbacks whose outputs could not be stored",
             "IntakeDLQ": "S3 or EventBridge requests the intake could not take",
             "WebhookDLQ": "webhook messages the delivery function could not handle",
             "LiveDLQ": "lifecycle events the push function could not send to WebSocket connections",
             "ModelArkDLQ": "ModelArk generations whose generate invocation failed (their jobs end through the sweep)"}
OUTPUTS = ("ApiUrl", "WebhookBaseUrl", "BucketName", "EventBusName", "ProviderSecretArn",
           *(f"{name}Url" for pair in QUEUES for name in pair), "AlarmTopicArn", "ReconcileScheduleRuleName",
           "WebhookSecretArn", "WebSocketUrl", "ConnectionsTableName")
"""The outputs of template.yaml that the command line and the doctor read."""
REDEPLOY = "deploy this version of template.yaml (make deploy)"
WEBHOOK_KEY_MIN_BYTES = 24
"""A Standard Webhooks signing key is base64 of 24 to 64 bytes (``seedream.webhook_secret.MIN_KEY_BYTES``)."""
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    """One line: ✔ or ✘, what was checked, what was found and, on ✘, what to do."""

    name: str
    ok: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'✔' if self.ok else '✘'} {self.name}: {self.found}"
        return f"{text} → {self.fix}" if not self.ok and self.fix else text


class MissingOutput(Exception):
    pass


def _key_bytes(key: str) -> int:
    """How many bytes a ``whsec_``-prefixed or bare base64 key decodes to (0 when it is not base64)."""
    bare = key.strip().removeprefix("whsec_")
    try:
        return len(base64.b64decode(bare + "=" * (-len(bare) % 4), validate=True))
    except (binascii.Error, ValueError):
        return 0


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "error")), str(error.get("Message", exc))


class Doctor:
    """The checks of one stack (``target.outputs``: its CloudFormation outputs); :meth:`checks` yields them in order."""

    def __init__(self, target: Target, http: httpx.Client | None = None):
        self.target = target
        self.outputs = target.outputs
        self.stack = target.stack or "?"
        self.http = http
        self._secret: dict | None = None
        self._secret_problem: Check | None = None

    def checks(self) -> Iterator[Check]:
        yield self.check_outputs()
        yield self._guarded("provider keys", self.check_provider_keys)
        yield self._guarded("WaveSpeed webhook secret", self.check_webhook_secret)
        yield self._guarded("webhook route", self.check_webhook_route)
        yield self._guarded("event bus", self.check_bus)
        yield self._guarded("queues", self.check_queues)
        for _queue, dlq in QUEUES:
            yield self._guarded(dlq, lambda dlq=dlq: self.check_dlq(dlq))
        yield self._guarded("webhook signing key", self.check_webhook_signing_key)
        yield self._guarded("WebSocket API", self.check_websocket)
        yield self._guarded("connections table", self.check_connections_table)
        yield self._guarded("alarm topic", self.check_alarm_topic)
        yield self._guarded("reconcile schedule", self.check_schedule)

    # -- plumbing --------------------------------------------------------------------------
    def _guarded(self, name: str, check: Callable[[], Check]) -> Check:
        """A check; a missing output or an AWS error it did not expect is its ✘ line."""
        try:
            return check()
        except MissingOutput as missing:
            return Check(name, False, f"cannot check: the stack has no {missing} output", REDEPLOY)
        except ClientError as exc:
            code, message = _error(exc)
            return Check(name, False, f"{code}: {message}",
                         "the credentials need read access to the stack's resources" if "Denied" in code else REDEPLOY)

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise MissingOutput(key)
        return value

    def aws(self, service: str):
        return self.target.aws(service)

    def _queue_attributes(self, url: str, *names: str) -> dict[str, str]:
        return self.aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=list(names))["Attributes"]

    # -- the checks ------------------------------------------------------------------------
    def check_outputs(self) -> Check:
        missing = [key for key in OUTPUTS if not self.outputs.get(key)]
        if missing:
            return Check("stack outputs", False, f"{len(missing)} of {len(OUTPUTS)} missing: {', '.join(missing)}",
                         REDEPLOY)
        return Check("stack outputs", True, f"all {len(OUTPUTS)} there (ApiUrl {self.outputs['ApiUrl']})")

    def secret(self) -> dict:
        """The provider secret's JSON document (read once); raises ``ClientError`` or ``ValueError``."""
        if self._secret is None:
            reply = self.aws("secretsmanager").get_secret_value(SecretId=self.output("ProviderSecretArn"))
            document = json.loads(reply.get("SecretString") or "")
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            self._secret = document
        return self._secret

    def _put_secret(self) -> str:
        return (f"aws secretsmanager put-secret-value --secret-id {self.outputs.get('ProviderSecretArn', '<ProviderSecretArn>')} "
                "--secret-string file://providers.json (the whole document, every provider: README \"Deploy to AWS\")")

    def _entry(self, provider: str) -> dict:
        entry = self.secret().get(provider)
        return entry if isinstance(entry, dict) else {}

    @staticmethod
    def _set(entry: dict, key: str) -> bool:
        value = entry.get(key)
        return isinstance(value, str) and bool(value.strip())

    def check_provider_keys(self) -> Check:
        name = "provider keys"
        try:
            self.secret()
        except ValueError:  # the message is not shown: it could quote the secret
            return Check(name, False, "the provider secret is not a JSON object", self._put_secret())
        missing = [p for p in PROVIDERS if not self._set(self._entry(p), "api_key")]
        if missing:
            return Check(name, False, f"no api_key for {', '.join(missing)} (every provider is enabled: a job may "
                         "name any)", f"put the key in the provider secret: {self._put_secret()}")
        return Check(name, True, f"{', '.join(PROVIDERS)} each have an api_key (all {len(PROVIDERS)} are enabled)")

    def check_webhook_secret(self) -> Check:
        name = "WaveSpeed webhook secret"
        try:
            entry = self._entry("wavespeed")
        except ValueError:
            return Check(name, False, "cannot check: the provider secret is not a JSON object", self._put_secret())
        if self._set(entry, "webhook_secret"):
            return Check(name, True, "set in the provider secret")
        if self._set(entry, "api_key"):
            return Check(name, True, "not set; the webhook function fetches it with the WaveSpeed api_key at the "
                         "first callback (GET /api/v3/webhook/secret; doctor does not call WaveSpeed)")
        return Check(name, False, "not set, and no WaveSpeed api_key to fetch it with",
                     f"put webhook_secret (WaveSpeed dashboard) and api_key under \"wavespeed\": {self._put_secret()}")

    def check_webhook_route(self) -> Check:
        name = "webhook route"
        base = self.output("WebhookBaseUrl").rstrip("/")
        path = f"/v1/webhooks/wavespeed/{uuid.uuid4()}"
        url = f"{base}{path}?token=x"
        body = {"id": "seedream-doctor", "status": "completed", "outputs": []}
        local = self.target.local or is_loopback(urlsplit(base).hostname)
        http = self.http or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, trust_env=not local)
        try:
            response = http.post(url, json=body)
        except httpx.HTTPError as exc:
            return Check(name, False, f"POST {base}{path} failed: {str(exc) or type(exc).__name__}",
                         "make up" if local else "is WebhookBaseUrl (the PublicBaseUrl parameter, its DNS) right?")
        finally:
            if self.http is None:
                http.close()
        try:
            code = (response.json().get("error") or {}).get("code")
        except (ValueError, AttributeError):
            code = None
        answered = f"HTTP {response.status_code}" + (f" ({code})" if code else "")
        if response.status_code == 401:
            return Check(name, True, f"an unsigned callback to {base}{path} gets {answered}")
        logs = "make up's log" if local else f"sam logs --stack-name {self.stack} -n WebhookFunction"
        fixes = {404: "the route is missing: is WebhookBaseUrl (PublicBaseUrl) this stack's API? " + REDEPLOY}
        fix = fixes.get(response.status_code) or (
            f"an unsigned callback must get 401: {REDEPLOY}, and read {logs}" if response.status_code < 500
            else f"the webhook function failed: read {logs}")
        return Check(name, False, f"an unsigned callback to {base}{path} gets {answered}, not 401", fix)

    def check_bus(self) -> Check:
        bus = self.output("EventBusName")
        try:
            self.aws("events").describe_event_bus(Name=bus)
        except ClientError as exc:
            if _error(exc)[0] != "ResourceNotFoundException":
                raise
            return Check("event bus", False, f"{bus} does not exist", REDEPLOY)
        return Check("event bus", True, f"{bus} exists")

    def check_queues(self) -> Check:
        problems = []
        for queue, dlq in QUEUES:
            urls = {name: self.output(f"{name}Url") for name in (queue, dlq)}
            try:
                dlq_arn = self._queue_attributes(urls[dlq], "QueueArn")["QueueArn"]
                redrive = json.loads(self._queue_attributes(urls[queue], "RedrivePolicy").get("RedrivePolicy") or "{}")
            except ClientError as exc:
                if "NonExistentQueue" not in _error(exc)[0] and "QueueDoesNotExist" not in _error(exc)[0]:
                    raise
                problems.append(f"{queue} or {dlq} does not exist")
                continue
            if redrive.get("deadLetterTargetArn") != dlq_arn:
                problems.append(f"{queue} does not redrive to {dlq}")
        if problems:
            return Check("queues", False, "; ".join(problems), REDEPLOY)
        return Check("queues", True, ", ".join(q for q, _ in QUEUES) + " exist, each redriving to its DLQ")

    def check_dlq(self, dlq: str) -> Check:
        """A dead-letter queue holds no message (visible or in flight)."""
        name = dlq
        url = self.output(f"{dlq}Url")
        try:
            attributes = self._queue_attributes(url, "QueueArn", "ApproximateNumberOfMessages",
                                                "ApproximateNumberOfMessagesNotVisible")
        except ClientError as exc:
            if "NonExistentQueue" not in _error(exc)[0] and "QueueDoesNotExist" not in _error(exc)[0]:
                raise
            return Check(name, False, f"{dlq} does not exist", REDEPLOY)
        visible = int(attributes.get("ApproximateNumberOfMessages", 0))
        in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
        count = visible + in_flight
        if not count:
            return Check(name, True, "empty")
        return Check(name, False, f"holds {count} message{'s' if count != 1 else ''} ({DLQ_HOLDS[dlq]}; "
                     f"{visible} visible, {in_flight} in flight)",
                     f"inspect: aws sqs receive-message --queue-url {url} --max-number-of-messages 10 "
                     "--visibility-timeout 0 --attribute-names All; once the cause is fixed, redrive them to their "
                     f"queue: aws sqs start-message-move-task --source-arn {attributes['QueueArn']} "
                     f"(or drop them: aws sqs purge-queue --queue-url {url})")

    def check_webhook_signing_key(self) -> Check:
        """The webhook signing secret holds ``{"key": "<base64>", "previous_keys": [...]}`` with keys of 24+ bytes (read
        to check its form only; nothing of it is printed)."""
        name = "webhook signing key"
        arn = self.output("WebhookSecretArn")
        rotate = f"put {{\"key\": \"<base64 of 24-64 random bytes>\"}} in {arn} (README, \"rotating the signing key\")"
        try:
            reply = self.aws("secretsmanager").get_secret_value(SecretId=arn)
        except ClientError as exc:
            if _error(exc)[0] != "ResourceNotFoundException":
                raise
            return Check(name, False, f"{arn} does not exist", REDEPLOY)
        try:
            document = json.loads(reply.get("SecretString") or "")
        except ValueError:
            document = None
        keys = [document.get("key"), *(document.get("previous_keys") or [])] if isinstance(document, dict) else []
        if not keys or not all(isinstance(key, str) and _key_bytes(key) >= WEBHOOK_KEY_MIN_BYTES for key in keys):
            return Check(name, False, f"the secret is not {{\"key\": <base64 of at least {WEBHOOK_KEY_MIN_BYTES} bytes>, "
                         "\"previous_keys\": [...]}: webhooks cannot be signed", rotate)
        previous = len(keys) - 1
        return Check(name, True, f"a {_key_bytes(keys[0])}-byte key" + (f" and {previous} previous (rotation overlap)"
                                                                          if previous else ""))

    def check_websocket(self) -> Check:
        """An unsigned ``$connect`` to the WebSocket API is refused 403: the API is there and takes IAM-signed
        connections only (no connection is made)."""
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        name = "WebSocket API"
        url = self.output("WebSocketUrl")
        local = self.target.local or is_loopback(urlsplit(url).hostname)
        try:
            with connect(url, open_timeout=HTTP_TIMEOUT_SECONDS, proxy=None if local else True):
                pass
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 403:
                return Check(name, True, f"an unsigned connection to {url} gets HTTP 403 ($connect takes IAM only)")
            return Check(name, False, f"an unsigned connection to {url} gets HTTP {status}, not 403",
                         f"{REDEPLOY}; its $connect route must be AWS_IAM")
        except (OSError, TimeoutError, WebSocketException) as exc:
            return Check(name, False, f"cannot connect to {url}: {str(exc) or type(exc).__name__}",
                         "make up" if local else "is WebSocketUrl this stack's API? " + REDEPLOY)
        return Check(name, False, f"{url} accepted an unsigned connection: $connect is not IAM-authorised",
                     f"{REDEPLOY} (its $connect route has AuthorizationType AWS_IAM)")

    def check_connections_table(self) -> Check:
        """The WebSocket connections table exists and expires its items (TTL on ``expires_at``)."""
        name = "connections table"
        table = self.output("ConnectionsTableName")
        dynamodb = self.aws("dynamodb")
        try:
            dynamodb.describe_table(TableName=table)
        except ClientError as exc:
            if _error(exc)[0] != "ResourceNotFoundException":
                raise
            return Check(name, False, f"{table} does not exist", REDEPLOY)
        ttl = dynamodb.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == "expires_at":
            return Check(name, True, f"{table} exists and expires connections (TTL on expires_at)")
        return Check(name, False, f"{table} does not expire its items (TTL {ttl.get('TimeToLiveStatus', 'DISABLED')}): "
                     "connections whose $disconnect was lost stay forever",
                     f"aws dynamodb update-time-to-live --table-name {table} "
                     "--time-to-live-specification Enabled=true,AttributeName=expires_at")

    def check_alarm_topic(self) -> Check:
        name = "alarm topic"
        topic = self.output("AlarmTopicArn")
        sns = self.aws("sns")
        subscriptions = []
        try:
            for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
                subscriptions += page.get("Subscriptions", [])
        except ClientError as exc:
            if _error(exc)[0] != "NotFound":
                raise
            return Check(name, False, f"{topic} does not exist", REDEPLOY)
        confirmed = [s for s in subscriptions if str(s.get("SubscriptionArn", "")).startswith("arn:")]
        pending = len(subscriptions) - len(confirmed)
        subscribe = (f"set the AlarmEmail parameter (make deploy asks for it), or: aws sns subscribe --topic-arn {topic} "
                     "--protocol email --notification-endpoint you@example.com (then confirm the mail)")
        if confirmed:
            protocols = ", ".join(sorted({str(s.get("Protocol")) for s in confirmed}))
            return Check(name, True, f"{len(confirmed)} confirmed subscription{'s' if len(confirmed) != 1 else ''} "
                         f"({protocols})" + (f", {pending} pending" if pending else ""))
        if pending:
            return Check(name, False, f"{pending} subscription{'s' if pending != 1 else ''} waiting for confirmation, "
                         "none confirmed: alarms reach nobody", f"confirm the mail AWS sent, or {subscribe}")
        return Check(name, False, "no subscription: alarms reach nobody", subscribe)

    def check_schedule(self) -> Check:
        name = "reconcile schedule"
        rule = self.output("ReconcileScheduleRuleName")
        try:
            found = self.aws("events").describe_rule(Name=rule)
        except ClientError as exc:
            if _error(exc)[0] != "ResourceNotFoundException":
                raise
            return Check(name, False, f"rule {rule} does not exist", REDEPLOY)
        state = found.get("State", "?")
        expression = f" ({found['ScheduleExpression']})" if found.get("ScheduleExpression") else ""
        if state == "ENABLED":
            return Check(name, True, f"rule {rule} is ENABLED{expression}")
        return Check(name, False, f"rule {rule} is {state}{expression}: overdue jobs are not swept",
                     f"aws events enable-rule --name {rule}")
