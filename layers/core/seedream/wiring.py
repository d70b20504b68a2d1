"""Wiring: build a function's ``Services`` once per cold start, with only the parts it uses.

``build_services(settings, parts)`` builds the named parts (``NEEDS`` lists them with the
variables each requires, checked at init); each function has its builder:

- api (``API_PARTS``): store, submit queue, blobs, bus (cancel), provider limits (no provider keys, no HTTP client),
  the API keys table (``/v1/keys``), idempotency (``Idempotency-Key``; Powertools loaded on the first key);
- authorizer (``AUTHORIZER_PARTS``): the API keys table only;
- submit (``SUBMIT_PARTS``): store, submit queue (a job held back by 429s goes back on it), the ModelArk queue (a
  synchronous provider's job goes to the generate function), blobs, bus, providers (HTTP client made at init),
  idempotency (a redelivered message), and ``PUBLIC_BASE_URL``;
- generate (``GENERATE_PARTS``): ingest's parts (each streamed output is stored as it arrives) plus the ingest queue
  (the completion) and the ModelArk queue (a generation refused for now is queued again);
- webhook (``WEBHOOK_PARTS``): the callback ledger, ingest queue, providers (the HTTP client is
  made on first need: fetching a WaveSpeed secret or the Atlas Cloud JWKS, which most instances never do);
- ingest (``INGEST_PARTS``): store, blobs, uploader, bus, providers, fetcher (Pillow and the download client);
- reconcile (``RECONCILE_PARTS``): store, blobs (deleting a failed job's outputs), ingest queue, bus, providers (status reads);
- intake (``INTAKE_PARTS``): the api's parts for ``accept`` (the S3 and EventBridge doors), idempotency (a
  redelivered request);
- live (``LIVE_PARTS``): store (a subscriber's job), connections (the WebSocket API's ``$connect``, ``$disconnect``
  and ``subscribe``);
- push (``PUSH_PARTS``): store, connections and the WebSocket API's management client (``socket_api``, made with
  the stage's endpoint URL);
- delivery (``DELIVERY_PARTS``): store, blobs (presigned output URLs), the webhook queue (retries), the webhook
  signing secret and the sender (its pinned HTTP client). The api also builds the webhook queue (redeliver) and the
  webhook secret (``GET /v1/webhooks/default/secret``; its client made on first read).

Every function that can end a job of another door also builds ``replies`` (``seedream.replies``: S3 result documents and
Step Functions task answers), whose clients are made only when a job owes its door a reply.

Every builder takes ``settings`` (default: ``Settings.from_env()``), a boto3 ``session`` (default:
a new one), an ``http_transport`` for the provider and download clients (tests pass an
``httpx.MockTransport``), the fetch guard's DNS ``resolver`` and ``overrides``: parts, settings or AWS clients to
use instead of building them (``build_services``; tests replace a dependency there, never on a built object).
A handler builds its ``svc`` at import; ``defaults(...)`` sets the builders' defaults for such an import.
AWS clients are plain botocore clients of one session, made once each (a DynamoDB *resource* costs ~95 ms of
cold start; a client, after the first, a few ms; boto3 itself is never imported by our code); every HTTP client
shares one TLS context. Each part's module is imported only by functions that build it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import ssl
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

import botocore.session
from botocore.config import Config

from .providers.calls import Http
from .services import Services
from .settings import Settings


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every HTTP client of the process (loading the CA bundle costs ~20 ms)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class _Clients:
    """AWS clients of one botocore session, made on first request and shared by the parts that use them.

    ``session`` may be a botocore or a boto3 session (tests pass boto3's, whose events they record);
    ``given`` maps a service name to the client to use instead of making one (``overrides``)."""

    def __init__(self, settings: Settings, session=None, given: Mapping[str, object] | None = None):
        session = session or botocore.session.get_session()
        self._make = getattr(session, "client", None) or session.create_client
        self.config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30,
                             s3={"addressing_style": settings.s3_addressing_style}, signature_version="s3v4")
        self._made: dict[str, object] = dict(given or {})

    def __call__(self, service: str):
        if service not in self._made:
            self._made[service] = self._make(service, config=self.config)
        return self._made[service]

    def endpoint(self, service: str, endpoint_url: str):
        """A client of ``service`` at ``endpoint_url`` (the WebSocket API's management API has no fixed endpoint)."""
        key = f"{service} {endpoint_url}"
        if key not in self._made:
            self._made[key] = self._make(service, endpoint_url=endpoint_url, config=self.config)
        return self._made[key]


NEEDS: dict[str, tuple[str, ...]] = {
    "store": ("JOBS_TABLE",),
    "ledger": ("JOBS_TABLE",),
    "submit_queue": ("SUBMIT_QUEUE_URL",),
    "ingest_queue": ("INGEST_QUEUE_URL",),
    "generate_queue": ("GENERATE_QUEUE_URL",),
    "blobs": ("BUCKET",),
    "uploader": ("BUCKET",),
    "bus": ("EVENT_BUS_NAME",),
    "providers": ("PROVIDER_SECRET_ARN",),
    "provider_limits": (),
    "fetcher": (),
    "replies": ("BUCKET",),
    "webhook_queue": ("WEBHOOK_QUEUE_URL",),
    "webhook_secret": ("WEBHOOK_SECRET_ARN",),
    "webhook_sender": (),
    "keys": ("API_KEYS_TABLE",),
    "connections": ("CONNECTIONS_TABLE",),
    "socket_api": ("WEBSOCKET_ENDPOINT",),
    "idempotency": ("IDEMPOTENCY_TABLE",),
}
"""Part → the variables it needs. ``store`` reads and moves whole jobs; ``ledger`` only records
callbacks (the webhook); ``provider_limits`` are the adapters without keys or HTTP (limits and
prices only); ``providers`` are the full adapters; ``uploader`` and ``fetcher`` are ingest's; ``replies``
answer a job's door when it ends (S3 result documents, Step Functions task tokens); ``keys`` is the API keys
table (``seedream.keystore``); ``idempotency`` is Powertools idempotency on the idempotency table
(``seedream.idempotency.Idempotency``: one persistence layer and config per idempotent function)."""

CLIENTS = ("dynamodb", "sqs", "s3", "events", "secretsmanager", "stepfunctions", "apigatewaymanagementapi")
"""The AWS services the parts make clients of: an ``overrides`` key may name one to replace its client."""

API_PARTS = ("store", "submit_queue", "blobs", "bus", "provider_limits",  # it ends only HTTP jobs: no replies
             "webhook_queue", "webhook_secret", "keys", "idempotency")
AUTHORIZER_PARTS = ("keys",)
SUBMIT_PARTS = ("store", "submit_queue", "generate_queue", "blobs", "bus", "providers", "replies", "idempotency")
WEBHOOK_PARTS = ("ledger", "ingest_queue", "providers")
INGEST_PARTS = ("store", "blobs", "uploader", "bus", "providers", "fetcher", "replies")
GENERATE_PARTS = ("store", "blobs", "uploader", "bus", "providers", "fetcher", "replies", "ingest_queue",
                  "generate_queue")
RECONCILE_PARTS = ("store", "blobs", "ingest_queue", "bus", "providers", "replies")
INTAKE_PARTS = ("store", "submit_queue", "blobs", "bus", "provider_limits", "replies", "idempotency")
DELIVERY_PARTS = ("store", "blobs", "webhook_queue", "webhook_secret", "webhook_sender")
LIVE_PARTS = ("store", "connections")
PUSH_PARTS = ("store", "connections", "socket_api")


PART_FIELDS = {"submit_queue": "queues", "ingest_queue": "queues", "webhook_queue": "queues", "generate_queue": "queues",
               "provider_limits": "providers"}
"""Parts built into a ``Services`` field of another name (every other part is its own field)."""


def build_services(settings: Settings, parts: Iterable[str], *, overrides: Mapping[str, object] | None = None,
                   session=None, http_transport=None, resolver=None, eager_http: bool = False) -> Services:
    """``Services`` with just ``parts`` built (see ``NEEDS``). Raises ``ConfigError`` naming any missing variable,
    ``ValueError`` for an unknown part or override.

    ``overrides`` (the seam tests use, as Powertools' ``dependency_overrides``: replace a dependency where it is
    made, never an attribute of what was built) maps a name to what to use instead of building it:

    - ``"settings"``: the settings every part is built with (instead of ``settings``);
    - a ``Services`` field (``"store"``, ``"replies"``, ``"fetcher"``, ``"queues"``, ``"bus"``, …): that part, as
      given; the variables it needs are then not required;
    - an AWS service of ``CLIENTS`` (``"stepfunctions"``, ``"events"``, …): the client the parts use for it.

    ``eager_http`` makes the provider HTTP client now rather than on first use (for functions that
    call a provider on every invocation)."""
    overrides = dict(overrides or {})
    parts = set(parts)
    unknown = parts - set(NEEDS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; known: {sorted(NEEDS)}")
    fields = {f.name for f in dataclasses.fields(Services)}
    strange = set(overrides) - fields - set(CLIENTS)
    if strange:
        raise ValueError(f"unknown overrides {sorted(strange)}; known: {sorted(fields | set(CLIENTS))}")
    settings = overrides.pop("settings", settings)
    given = {name: overrides.pop(name) for name in CLIENTS if name in overrides}
    parts = {part for part in parts if PART_FIELDS.get(part, part) not in overrides}
    settings.require(*(name for part in sorted(parts) for name in NEEDS[part]))
    clients = _Clients(settings, session, given)
    svc = Services(settings=settings, **overrides)
    _build(svc, parts, clients, http_transport, resolver, eager_http)
    return svc


def _build(svc: Services, parts: set[str], clients: _Clients, http_transport, resolver, eager_http: bool) -> None:
    settings = svc.settings
    if "store" in parts:
        from .store import JobStore

        svc.store = JobStore(clients("dynamodb"), settings.jobs_table)
    if "ledger" in parts:
        from .ledger import CallbackLedger

        svc.ledger = CallbackLedger(clients("dynamodb"), settings.jobs_table)
    if parts & {"submit_queue", "ingest_queue", "webhook_queue", "generate_queue"}:
        from .queues import Queues

        svc.queues = Queues(clients("sqs"), submit_url=settings.submit_queue_url if "submit_queue" in parts else "",
                            ingest_url=settings.ingest_queue_url if "ingest_queue" in parts else "",
                            webhook_url=settings.webhook_queue_url if "webhook_queue" in parts else "",
                            generate_url=settings.generate_queue_url if "generate_queue" in parts else "")
    if "blobs" in parts:
        from .blobs import Blobs

        svc.blobs = Blobs(clients("s3"), settings.bucket)
    if "uploader" in parts:
        from .uploads import Uploader

        svc.uploader = Uploader(clients("s3"), settings.bucket)
    if "bus" in parts:
        from .bus import Bus

        svc.bus = Bus(clients("events"), settings.event_bus_name, settings.event_source)
    if parts & {"providers", "provider_limits"}:
        http = Http(settings.provider_timeout_seconds, transport=http_transport, verify=ssl_context)
        if eager_http:
            http.client  # noqa: B018 - made now, at init, instead of on the first invocation
        svc.providers = _providers(settings, clients, http, with_keys="providers" in parts)
    if "fetcher" in parts:
        svc.fetcher = _fetcher(settings, http_transport, resolver)
    if "keys" in parts:
        from .keystore import KeyStore

        svc.keys = KeyStore(clients("dynamodb"), settings.api_keys_table)
    if "replies" in parts:
        from .replies import Replies

        svc.replies = Replies(clients, settings.bucket)  # clients made on first reply
    if "webhook_secret" in parts:
        from .webhook_secret import WebhookSecret

        svc.webhook_secret = WebhookSecret(lambda: clients("secretsmanager"), settings.webhook_secret_id)
    if "webhook_sender" in parts:
        svc.webhook_sender = _webhook_sender(settings, http_transport, resolver)
    if "connections" in parts:
        from .connections import Connections

        svc.connections = Connections(clients("dynamodb"), settings.connections_table)
    if "socket_api" in parts:
        from .socket_api import SocketApi

        svc.socket_api = SocketApi(clients.endpoint("apigatewaymanagementapi", settings.websocket_endpoint))
    if "idempotency" in parts:
        from .idempotency import Idempotency

        svc.idempotency = Idempotency(settings.idempotency_table, clients("dynamodb"))


_DEFAULTS: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar("wiring_defaults",
                                                                                 default=MappingProxyType({}))


@contextlib.contextmanager
def defaults(**wiring) -> Iterator[None]:
    """Within the block, the function builders below (``api_services()``, …) take ``wiring`` (``overrides``,
    ``session``, ``http_transport``, ``resolver``) as their defaults: how a test loads a function's handler,
    which builds its ``svc`` at import, with a fake provider, a stub resolver or replacement parts
    (``local.runtime.LocalFunction(spec, wiring=...)``). Arguments a builder is called with win."""
    token = _DEFAULTS.set(wiring)
    try:
        yield
    finally:
        _DEFAULTS.reset(token)


def _function(parts: tuple[str, ...], settings: Settings | None, wiring: dict, **fixed) -> Services:
    return build_services(settings or Settings.from_env(), parts, **({**_DEFAULTS.get(), **fixed, **wiring}))


def api_services(settings: Settings | None = None, **wiring) -> Services:
    """The api function's parts (``API_PARTS``), from ``settings`` (default: the environment) and ``wiring``."""
    return _function(API_PARTS, settings, wiring)


def authorizer_services(settings: Settings | None = None, **wiring) -> Services:
    """The API-key authorizer's parts (``AUTHORIZER_PARTS``): the keys table only."""
    return _function(AUTHORIZER_PARTS, settings, wiring)


def submit_services(settings: Settings | None = None, **wiring) -> Services:
    """The submit function's parts (``SUBMIT_PARTS``); raises ``ConfigError`` without ``PUBLIC_BASE_URL``."""
    settings = (settings or Settings.from_env()).require("PUBLIC_BASE_URL")
    return _function(SUBMIT_PARTS, settings, wiring, eager_http=True)  # every submit calls a provider


def webhook_services(settings: Settings | None = None, **wiring) -> Services:
    """The webhook function's parts (``WEBHOOK_PARTS``): the ledger, the ingest queue, the providers."""
    return _function(WEBHOOK_PARTS, settings, wiring)


def ingest_services(settings: Settings | None = None, **wiring) -> Services:
    """The ingest function's parts (``INGEST_PARTS``)."""
    return _function(INGEST_PARTS, settings, wiring)


def generate_services(settings: Settings | None = None, **wiring) -> Services:
    """The generate function's parts (``GENERATE_PARTS``); its HTTP client is made at init (every message streams)."""
    return _function(GENERATE_PARTS, settings, wiring, eager_http=True)


def reconcile_services(settings: Settings | None = None, **wiring) -> Services:
    """The reconcile sweep's parts (``RECONCILE_PARTS``)."""
    return _function(RECONCILE_PARTS, settings, wiring)


def intake_services(settings: Settings | None = None, **wiring) -> Services:
    """The intake function's parts (``INTAKE_PARTS``): the S3 and EventBridge doors."""
    return _function(INTAKE_PARTS, settings, wiring)


def delivery_services(settings: Settings | None = None, **wiring) -> Services:
    """The delivery function's parts (``DELIVERY_PARTS``): webhooks to callers."""
    return _function(DELIVERY_PARTS, settings, wiring)


def live_services(settings: Settings | None = None, **wiring) -> Services:
    """The WebSocket API function's parts (``LIVE_PARTS``)."""
    return _function(LIVE_PARTS, settings, wiring)


def push_services(settings: Settings | None = None, **wiring) -> Services:
    """The push function's parts (``PUSH_PARTS``): events to subscribed WebSocket connections."""
    return _function(PUSH_PARTS, settings, wiring)


def _providers(settings: Settings, clients: _Clients, http: Http, *, with_keys: bool):
    from .providers import build_providers

    if with_keys:
        from .provider_secret import ProviderSecret

        credentials_for = ProviderSecret(clients("secretsmanager"), settings.provider_secret_id).credentials_for
    else:
        credentials_for = _no_credentials
    return build_providers(settings, http, credentials_for)


def _no_credentials(provider: str):
    def credentials() -> dict:
        from .services import MissingPart

        raise MissingPart(f"this function has provider limits only; it never calls {provider}")

    return credentials


def _fetcher(settings: Settings, http_transport, resolver):
    """The download guard. Its client connects only to the addresses the guard vetted
    (``fetch.PinnedTransport``), unless a test passes its own ``http_transport`` (nothing is then pinned)."""
    import httpx

    from .fetch import Fetcher, pinned_fetcher, system_resolver

    timeout = httpx.Timeout(settings.download_timeout_seconds, connect=5.0)
    rules = {"max_bytes": settings.max_output_bytes, "allow_loopback_http": settings.allow_loopback_http,
             "host_allowlist": settings.output_host_allowlist, "resolver": resolver or system_resolver}
    if http_transport is None:
        return pinned_fetcher(timeout=timeout, verify=ssl_context(), **rules)
    downloads = httpx.Client(timeout=timeout, follow_redirects=False, transport=http_transport, verify=ssl_context(),
                             trust_env=False)
    return Fetcher(downloads, **rules)


def _webhook_sender(settings: Settings, http_transport, resolver):
    """The webhook sender. Its client connects only to the addresses its guard vetted (``fetch.PinnedTransport``),
    unless a test passes its own ``http_transport`` (nothing is then pinned)."""
    import httpx

    from .fetch import system_resolver
    from .webhook_sender import WebhookSender, pinned_sender

    rules = {"allow_loopback_http": settings.allow_loopback_http, "resolver": resolver or system_resolver,
             "host_allowlist": settings.webhook_host_allowlist}
    if http_transport is None:
        return pinned_sender(timeout=settings.webhook_timeout_seconds, verify=ssl_context(), **rules)
    client = httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False, transport=http_transport,
                          verify=ssl_context(), trust_env=False)
    return WebhookSender(client, timeout=settings.webhook_timeout_seconds, **rules)
