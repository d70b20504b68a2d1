"""Settings, read once per cold start from the function's environment (template.yaml ``Globals``).

Secrets never live here: provider keys and webhook secrets are read from the Secrets Manager
secret named by ``PROVIDER_SECRET_ARN`` (see ``seedream.credentials``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in (value or "").split(",") if part.strip())


def _preference(value: str | None) -> dict[str, tuple[str, ...]]:
    order: dict[str, tuple[str, ...]] = {}
    for part in (value or "").split(";"):
        if "=" in part:
            model, providers = part.split("=", 1)
            order[model.strip()] = _list(providers)
    return order


@dataclass(frozen=True)
class Settings:
    jobs_table: str
    idempotency_table: str
    bucket: str
    submit_queue_url: str
    ingest_queue_url: str
    event_bus_name: str
    provider_secret_id: str
    public_base_url: str = ""
    event_source: str = "seedream.jobs"
    provider_base_urls: dict[str, str] = field(default_factory=dict)
    allow_loopback_http: bool = False
    """Local stack only: accept ``http://127.0.0.1``-style URLs for inputs, outputs and callbacks."""
    output_host_allowlist: tuple[str, ...] = ()
    """Hosts (or ``.suffix`` domains) outputs may be fetched from; empty = any public host."""
    max_output_bytes: int = 64 * 1024 * 1024
    presign_seconds: int = 3600
    provider_preference: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per model, the provider order ``auto`` tries (``PROVIDER_PREFERENCE``:
    ``seedream-v4=evolink,atlascloud;seedream-v4.5=...``); models not named are ordered by documented price."""
    provider_timeout_seconds: float = 8.0
    """Per provider HTTP call; ``submit`` may try every provider within its Lambda timeout."""
    download_timeout_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            jobs_table=env.get("JOBS_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            bucket=env.get("BUCKET", ""),
            submit_queue_url=env.get("SUBMIT_QUEUE_URL", ""),
            ingest_queue_url=env.get("INGEST_QUEUE_URL", ""),
            event_bus_name=env.get("EVENT_BUS_NAME", "default"),
            provider_secret_id=env.get("PROVIDER_SECRET_ARN", ""),
            public_base_url=env.get("PUBLIC_BASE_URL", "").rstrip("/"),
            event_source=env.get("EVENT_SOURCE", "seedream.jobs"),
            provider_base_urls={
                name: env[f"{name.upper()}_BASE_URL"].rstrip("/")
                for name in ("wavespeed", "atlascloud", "evolink")
                if env.get(f"{name.upper()}_BASE_URL")
            },
            allow_loopback_http=_bool(env.get("ALLOW_LOOPBACK_HTTP")),
            output_host_allowlist=_list(env.get("OUTPUT_HOST_ALLOWLIST")),
            max_output_bytes=int(env.get("MAX_OUTPUT_BYTES", 64 * 1024 * 1024)),
            presign_seconds=int(env.get("PRESIGN_SECONDS", 3600)),
            provider_preference=_preference(env.get("PROVIDER_PREFERENCE")),
            provider_timeout_seconds=float(env.get("PROVIDER_TIMEOUT_SECONDS", 8)),
            download_timeout_seconds=float(env.get("DOWNLOAD_TIMEOUT_SECONDS", 60)),
        )
