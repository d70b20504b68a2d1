"""Wiring: build a function's ``Services`` once per cold start, with only the parts it uses.

- api: store, submit queue, blobs, providers (limits and prices only; no HTTP client is made);
  needs ``JOBS_TABLE``, ``SUBMIT_QUEUE_URL``, ``BUCKET``.
- submit: store, blobs, bus, providers; needs ``JOBS_TABLE``, ``BUCKET``, ``EVENT_BUS_NAME``,
  ``PROVIDER_SECRET_ARN``, ``PUBLIC_BASE_URL``.
- webhook: store, ingest queue, providers (their HTTP client is made on first need: fetching a
  WaveSpeed secret or the Atlas Cloud JWKS); needs ``JOBS_TABLE``, ``INGEST_QUEUE_URL``, ``PROVIDER_SECRET_ARN``.
- ingest: store, blobs, bus, providers, fetcher; needs ``JOBS_TABLE``, ``BUCKET``, ``EVENT_BUS_NAME``,
  ``PROVIDER_SECRET_ARN``.

Every builder takes ``settings`` (default: ``Settings.from_env()``), a boto3 ``session``
(default: a new one), an ``http_transport`` for the provider and download clients (tests pass an
``httpx.MockTransport``) and, for ingest, the fetch guard's DNS ``resolver``. All AWS clients
are plain clients of one session (a DynamoDB *resource* costs ~95 ms of cold start; a client,
after the first, a few ms). ``Pillow``, the fetcher and the download client are built by ingest only.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable

import boto3
from botocore.config import Config

from .blobs import Blobs
from .providers.base import Http
from .queues import Queues
from .services import Services
from .settings import Settings
from .store import JobStore

SECRET_MAX_AGE_SECONDS = 300


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every HTTP client of the process (loading the CA bundle costs ~35 ms)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class _Clients:
    """boto3 clients of one session, made on first request and shared by the parts that use them."""

    def __init__(self, settings: Settings, session: boto3.session.Session | None):
        self.session = session or boto3.session.Session()
        self.config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30,
                             s3={"addressing_style": settings.s3_addressing_style}, signature_version="s3v4")
        self._made: dict[str, object] = {}

    def __call__(self, service: str):
        if service not in self._made:
            self._made[service] = self.session.client(service, config=self.config)
        return self._made[service]


def secret_credentials(secret_id: str, secrets) -> Callable[[str], Callable[[], dict]]:
    """``credentials_for(provider)`` backed by one Secrets Manager secret (JSON, one object per provider),
    read through a Powertools ``SecretsProvider`` and cached ``SECRET_MAX_AGE_SECONDS``. Never logged."""
    from .errors import JobError

    def credentials_for(provider: str):
        def credentials() -> dict:
            document = secrets.get(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
            entry = (document or {}).get(provider) or {}
            if not entry.get("api_key"):
                raise JobError(f"the provider secret has no api_key for {provider}", code="misconfigured")
            return entry

        return credentials

    return credentials_for


def _providers(settings: Settings, clients: _Clients, http: Http, *, with_secret: bool = True):
    from .providers import build_providers

    if with_secret:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        credentials_for = secret_credentials(settings.provider_secret_id,
                                             SecretsProvider(boto3_client=clients("secretsmanager")))
    else:
        def credentials_for(provider: str):
            def credentials() -> dict:
                raise RuntimeError(f"the api function never calls {provider}")
            return credentials
    return build_providers(settings, http, credentials_for)


def _http(settings: Settings, transport) -> Http:
    return Http(settings.provider_timeout_seconds, transport=transport, verify=ssl_context())


def api_services(settings: Settings | None = None, *, session=None, http_transport=None) -> Services:
    settings = (settings or Settings.from_env()).require("JOBS_TABLE", "SUBMIT_QUEUE_URL", "BUCKET")
    clients = _Clients(settings, session)
    return Services(settings=settings, store=JobStore(clients("dynamodb"), settings.jobs_table),
                    queues=Queues(clients("sqs"), submit_url=settings.submit_queue_url),
                    blobs=Blobs(clients("s3"), settings.bucket),
                    providers=_providers(settings, clients, _http(settings, http_transport), with_secret=False))


def submit_services(settings: Settings | None = None, *, session=None, http_transport=None) -> Services:
    settings = (settings or Settings.from_env()).require("JOBS_TABLE", "BUCKET", "EVENT_BUS_NAME",
                                                         "PROVIDER_SECRET_ARN", "PUBLIC_BASE_URL")
    clients = _Clients(settings, session)
    http = _http(settings, http_transport)
    http.client  # noqa: B018 - every submit calls a provider: make the client at init, not on the first job
    return Services(settings=settings, store=JobStore(clients("dynamodb"), settings.jobs_table),
                    blobs=Blobs(clients("s3"), settings.bucket), bus=_bus(settings, clients),
                    providers=_providers(settings, clients, http))


def webhook_services(settings: Settings | None = None, *, session=None, http_transport=None) -> Services:
    settings = (settings or Settings.from_env()).require("JOBS_TABLE", "INGEST_QUEUE_URL", "PROVIDER_SECRET_ARN")
    clients = _Clients(settings, session)
    return Services(settings=settings, store=JobStore(clients("dynamodb"), settings.jobs_table),
                    queues=Queues(clients("sqs"), ingest_url=settings.ingest_queue_url),
                    providers=_providers(settings, clients, _http(settings, http_transport)))


def ingest_services(settings: Settings | None = None, *, session=None, http_transport=None,
                    resolver=None) -> Services:
    settings = (settings or Settings.from_env()).require("JOBS_TABLE", "BUCKET", "EVENT_BUS_NAME",
                                                         "PROVIDER_SECRET_ARN")
    import httpx

    from .fetch import Fetcher, system_resolver

    clients = _Clients(settings, session)
    downloads = httpx.Client(timeout=httpx.Timeout(settings.download_timeout_seconds, connect=5.0),
                             follow_redirects=False, transport=http_transport, verify=ssl_context())
    fetcher = Fetcher(downloads, max_bytes=settings.max_output_bytes, allow_loopback_http=settings.allow_loopback_http,
                      host_allowlist=settings.output_host_allowlist, resolver=resolver or system_resolver)
    return Services(settings=settings, store=JobStore(clients("dynamodb"), settings.jobs_table),
                    blobs=Blobs(clients("s3"), settings.bucket), bus=_bus(settings, clients),
                    providers=_providers(settings, clients, _http(settings, http_transport)), fetcher=fetcher)


def _bus(settings: Settings, clients: _Clients):
    from .bus import Bus

    return Bus(clients("events"), settings.event_bus_name, settings.event_source)
