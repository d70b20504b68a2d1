"""Wiring: build the ``Services`` a handler needs, once per cold start.

Handlers call ``build_services()`` at import time; tests call it with their own settings after
pointing boto3 at moto (``AWS_ENDPOINT_URL``) or pass their own pieces to ``Services``.
"""

from __future__ import annotations

import os

import boto3
import httpx
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config

from .blobs import Blobs
from .bus import Bus
from .config import Settings
from .errors import JobError
from .fetch import Fetcher
from .jobs import Services
from .providers import build_providers
from .store import JobStore

SECRET_MAX_AGE_SECONDS = 300


def secret_credentials(secret_id: str, secrets: parameters.SecretsProvider):
    """``credentials_for(provider)`` backed by one Secrets Manager secret (JSON, one object per provider),
    read through a Powertools ``SecretsProvider`` and cached ``SECRET_MAX_AGE_SECONDS``. Never logged.

    The provider is this ``Services``' own (not Powertools' module-global default), so its boto3
    client is the one built with the rest of the wiring."""

    def credentials_for(provider: str):
        def credentials() -> dict:
            document = secrets.get(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
            entry = (document or {}).get(provider) or {}
            if not entry.get("api_key"):
                raise JobError(f"the provider secret has no api_key for {provider}", code="misconfigured")
            return entry

        return credentials

    return credentials_for


def build_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings.from_env()
    aws = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30,
                 s3={"addressing_style": os.environ.get("S3_ADDRESSING_STYLE", "auto")}, signature_version="s3v4")
    dynamodb = boto3.resource("dynamodb", config=aws)
    s3 = boto3.client("s3", config=aws)
    provider_http = httpx.Client(timeout=httpx.Timeout(settings.provider_timeout_seconds, connect=5.0))
    download_http = httpx.Client(timeout=httpx.Timeout(settings.download_timeout_seconds, connect=5.0),
                                 follow_redirects=False)
    return Services(
        settings=settings,
        store=JobStore(dynamodb.Table(settings.jobs_table)),
        blobs=Blobs(s3, settings.bucket),
        bus=Bus(boto3.client("events", config=aws), settings.event_bus_name, settings.event_source),
        sqs=boto3.client("sqs", config=aws),
        providers=build_providers(settings, provider_http, secret_credentials(
            settings.provider_secret_id,
            parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager", config=aws)))),
        fetcher=Fetcher(download_http, max_bytes=settings.max_output_bytes,
                        allow_loopback_http=settings.allow_loopback_http,
                        host_allowlist=settings.output_host_allowlist),
    )
