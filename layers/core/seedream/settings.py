"""The one configuration of a function: read from its environment once per cold start and validated.

Every value a function or provider adapter uses comes from here; nothing else reads
``os.environ``. ``Settings.from_env()`` parses and type-checks every variable it finds and
raises ``ConfigError`` naming the variable when one is malformed. Which variables must be
present depends on the function: ``Settings.require(...)`` (called by ``seedream.wiring`` for
the parts it builds) raises ``ConfigError`` naming each missing one, so a function deployed
without its table or queue fails at init with that name rather than at its first request.

Secrets never live here: provider keys and webhook secrets are read from the Secrets Manager
secret named by ``PROVIDER_SECRET_ARN``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

PROVIDERS: tuple[str, ...] = ("wavespeed", "atlascloud", "evolink", "replicate", "fal", "modelark")


class ConfigError(RuntimeError):
    """A function's environment is missing a variable or holds a malformed one (raised at init)."""


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"", "0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _number(name: str, value: str, kind: type = float) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be a {'whole ' if kind is int else ''}number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{name} must not be negative, not {value!r}")
    return number


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


def _preference(name: str, value: str) -> dict[str, tuple[str, ...]]:
    """``seedream-v4=evolink,wavespeed;seedream-v4.5=atlascloud`` → ``{model: (provider, ...)}``."""
    order: dict[str, tuple[str, ...]] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(f"{name} must look like 'seedream-v4=evolink,wavespeed;...', not {value!r}")
        model, providers = part.split("=", 1)
        unknown = [p for p in _names(providers) if p not in PROVIDERS]
        if unknown:
            raise ConfigError(f"{name} names unknown providers {unknown}; known: {list(PROVIDERS)}")
        order[model.strip()] = _names(providers)
    return order


def _providers(name: str, value: str) -> tuple[str, ...]:
    unknown = [p for p in _names(value) if p not in PROVIDERS]
    if unknown:
        raise ConfigError(f"{name} names unknown providers {unknown}; known: {list(PROVIDERS)}")
    return _names(value)


def _sizes(name: str, value: str) -> tuple[str, ...]:
    sizes = tuple(part.strip() for part in value.split(",") if part.strip())
    bad = [size for size in sizes if not re.fullmatch(r"\d{3,5}\*\d{3,5}", size)]
    if bad:
        raise ConfigError(f"{name} must list sizes like '2048*2048,1728*2304', not {bad}")
    return sizes


LIMIT_FIELDS: dict[str, type] = {"min_side": int, "max_side": int, "min_pixels": int, "max_pixels": int,
                                 "max_aspect": float, "max_input_images": int, "max_outputs": int,
                                 "max_prompt_chars": int}
"""The ``ModelLimits`` fields ``PROVIDER_LIMITS`` may set (counts, pixels, characters; ``max_aspect`` a ratio)."""


def _limits(name: str, value: str) -> dict[str, dict[str, float]]:
    """``evolink.max_input_images=10, evolink.max_aspect=3`` → ``{"evolink": {"max_input_images": 10, "max_aspect": 3.0}}``."""
    found: dict[str, dict[str, float]] = {}
    for part in value.replace(";", ",").split(","):
        if not part.strip():
            continue
        match = re.fullmatch(r"\s*([a-z]+)\.([a-z_]+)\s*=\s*([0-9.]+)\s*", part)
        if not match:
            raise ConfigError(f"{name} must look like 'evolink.max_input_images=10,wavespeed.max_side=16384', not {part!r}")
        provider, limit, number = match.groups()
        if provider not in PROVIDERS:
            raise ConfigError(f"{name} names unknown providers {[provider]}; known: {list(PROVIDERS)}")
        if limit not in LIMIT_FIELDS:
            raise ConfigError(f"{name}: {limit!r} is not a limit; choose one of {sorted(LIMIT_FIELDS)}")
        found.setdefault(provider, {})[limit] = _number(name, number, LIMIT_FIELDS[limit])
    return found


def _factors(name: str, value: str) -> dict[str, float]:
    """``evolink=1.5,seedream-v4.5=1.2`` → ``{"evolink": 1.5, "seedream-v4.5": 1.2}``."""
    factors: dict[str, float] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, number = part.partition("=")
        if not sep:
            raise ConfigError(f"{name} must look like 'evolink=1.5,seedream-v4.5=1.2', not {value!r}")
        factors[key.strip()] = _number(name, number.strip())
    return factors


def _schedule(name: str, value: str) -> tuple[float, ...]:
    """``0,5,300`` → ``(0.0, 5.0, 300.0)``: seconds before each attempt, the first one's included."""
    delays = tuple(_number(name, part.strip()) for part in value.split(",") if part.strip())
    if not delays:
        raise ConfigError(f"{name} must list the seconds before each attempt, e.g. '0,5,300', not {value!r}")
    return delays


STANDARD_WEBHOOKS_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
"""Seconds before each attempt of a webhook message: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h —
the schedule the Standard Webhooks spec recommends (https://github.com/standard-webhooks/standard-webhooks, file
``spec/standard-webhooks.md``)."""


# Variable name → (attribute, parser). Parsers take (name, raw value).
_VARIABLES: dict[str, tuple[str, object]] = {
    "JOBS_TABLE": ("jobs_table", None),
    "IDEMPOTENCY_TABLE": ("idempotency_table", None),
    "API_KEYS_TABLE": ("api_keys_table", None),
    "BUCKET": ("bucket", None),
    "SUBMIT_QUEUE_URL": ("submit_queue_url", None),
    "INGEST_QUEUE_URL": ("ingest_queue_url", None),
    "EVENT_BUS_NAME": ("event_bus_name", None),
    "EVENT_SOURCE": ("event_source", None),
    "PROVIDER_SECRET_ARN": ("provider_secret_id", None),
    "PUBLIC_BASE_URL": ("public_base_url", lambda n, v: v.rstrip("/")),
    "ALLOW_LOOPBACK_HTTP": ("allow_loopback_http", _bool),
    "OUTPUT_HOST_ALLOWLIST": ("output_host_allowlist", lambda n, v: _names(v)),
    "MAX_OUTPUT_BYTES": ("max_output_bytes", lambda n, v: _number(n, v, int)),
    "PRESIGN_SECONDS": ("presign_seconds", lambda n, v: _number(n, v, int)),
    "PROVIDER_PREFERENCE": ("provider_preference", _preference),
    "PROVIDER_TIMEOUT_SECONDS": ("provider_timeout_seconds", _number),
    "DOWNLOAD_TIMEOUT_SECONDS": ("download_timeout_seconds", _number),
    "S3_ADDRESSING_STYLE": ("s3_addressing_style", None),
    "ATLASCLOUD_JWKS_URL": ("atlascloud_jwks_url", None),
    "ATLASCLOUD_JWKS_MIN_REFRESH_SECONDS": ("atlascloud_jwks_min_refresh_seconds", _number),
    "WAVESPEED_V5_LITE_PRICE_USD": ("wavespeed_v5_lite_price_usd", _number),
    "EVOLINK_V5_LITE_MODEL": ("evolink_v5_lite_model", None),
    "EVOLINK_V45_PRICE_USD": ("evolink_v45_price_usd", _number),
    "EVOLINK_V5_LITE_PRICE_USD": ("evolink_v5_lite_price_usd", _number),
    "REPLICATE_V45_PRICE_USD": ("replicate_v45_price_usd", _number),
    "REPLICATE_OUTPUT_LIFETIME_SECONDS": ("replicate_output_lifetime_seconds", _number),
    "FAL_JWKS_URL": ("fal_jwks_url", None),
    "FAL_JWKS_MIN_REFRESH_SECONDS": ("fal_jwks_min_refresh_seconds", _number),
    "FAL_V45_PRICE_USD": ("fal_v45_price_usd", _number),
    "MODELARK_V4_PRICE_USD": ("modelark_v4_price_usd", _number),
    "MODELARK_V5_LITE_PRICE_USD": ("modelark_v5_lite_price_usd", _number),
    "MODELARK_V5_LITE_MODEL": ("modelark_v5_lite_model", None),
    "MODELARK_READ_TIMEOUT_SECONDS": ("modelark_read_timeout_seconds", _number),
    "MODELARK_MAX_ATTEMPTS": ("modelark_max_attempts", lambda n, v: _number(n, v, int)),
    "GENERATE_QUEUE_URL": ("generate_queue_url", None),
    "SEED_PROVIDERS": ("seed_providers", lambda n, v: _providers(n, v)),
    "ENABLED_PROVIDERS": ("enabled_providers", lambda n, v: _providers(n, v)),
    "ATLASCLOUD_SIZES": ("atlascloud_sizes", lambda n, v: _sizes(n, v)),
    "PROVIDER_LIMITS": ("provider_limits", _limits),
    "TASK_TIMEOUT_SECONDS": ("task_timeout_seconds", _number),
    "SUBMIT_MESSAGE_RETENTION_SECONDS": ("submit_message_retention_seconds", _number),
    "SUBMIT_BACKPRESSURE_MAX_SECONDS": ("submit_backpressure_max_seconds", _number),
    "ANNOUNCE_CLAIM_SECONDS": ("announce_claim_seconds", _number),
    "DEADLINE_BASE_SECONDS": ("deadline_base_seconds", _number),
    "DEADLINE_SECONDS_PER_IMAGE": ("deadline_seconds_per_image", _number),
    "DEADLINE_GRACE_SECONDS": ("deadline_grace_seconds", _number),
    "DEADLINE_FACTORS": ("deadline_factors", lambda n, v: _factors(n, v)),
    "RECONCILE_BACKOFF_SECONDS": ("reconcile_backoff_seconds", _number),
    "RECONCILE_BACKOFF_MAX_SECONDS": ("reconcile_backoff_max_seconds", _number),
    "INGEST_DEADLINE_SECONDS": ("ingest_deadline_seconds", _number),
    "RECONCILE_BATCH": ("reconcile_batch", lambda n, v: _number(n, v, int)),
    "SUBMIT_MAX_RECEIVES": ("submit_max_receives", lambda n, v: _number(n, v, int)),
    "INGEST_MAX_RECEIVES": ("ingest_max_receives", lambda n, v: _number(n, v, int)),
    "INTAKE_MAX_RECEIVES": ("intake_max_receives", lambda n, v: _number(n, v, int)),
    "WEBHOOK_QUEUE_URL": ("webhook_queue_url", None),
    "WEBHOOK_SECRET_ARN": ("webhook_secret_id", None),
    "WEBHOOK_TIMEOUT_SECONDS": ("webhook_timeout_seconds", _number),
    "WEBHOOK_RETRY_SCHEDULE": ("webhook_retry_schedule", _schedule),
    "WEBHOOK_RETRY_JITTER": ("webhook_retry_jitter", _number),
    "WEBHOOK_PRESIGN_SECONDS": ("webhook_presign_seconds", lambda n, v: _number(n, v, int)),
    "WEBHOOK_HOST_ALLOWLIST": ("webhook_host_allowlist", lambda n, v: _names(v)),
    "CONNECTIONS_TABLE": ("connections_table", None),
    "WEBSOCKET_ENDPOINT": ("websocket_endpoint", lambda n, v: v.rstrip("/")),
}


@dataclass(frozen=True)
class Settings:
    """Validated configuration; defaults are the deployed defaults (``template.yaml``). Frozen: a copy with changes
    is ``dataclasses.replace(settings, ...)`` (tests hand it to ``wiring.build_services(overrides={"settings": ...})``)."""

    jobs_table: str = ""
    idempotency_table: str = ""
    api_keys_table: str = ""
    """The API keys table (``seedream.keystore``): the api function and the key authorizer only."""
    bucket: str = ""
    submit_queue_url: str = ""
    ingest_queue_url: str = ""
    event_bus_name: str = "default"
    event_source: str = "seedream.jobs"
    provider_secret_id: str = ""
    public_base_url: str = ""
    """Base of the callback URLs providers receive (``{public_base_url}/v1/webhooks/...``)."""
    provider_base_urls: Mapping[str, str] = field(default_factory=dict)
    """``WAVESPEED_BASE_URL`` etc.; a provider not named here uses its documented URL."""
    allow_loopback_http: bool = False
    """Local stack only: accept ``http://127.0.0.1``-style URLs for inputs, outputs and callbacks."""
    output_host_allowlist: tuple[str, ...] = ()
    """Hosts (or ``.suffix`` domains) outputs may be fetched from; empty = any public host."""
    max_output_bytes: int = 64 * 1024 * 1024
    presign_seconds: int = 3600
    provider_preference: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per model, the provider order ``auto`` tries; models not named are ordered by documented price."""
    provider_timeout_seconds: float = 8.0
    """Per provider HTTP call; ``submit`` may try every provider within its Lambda timeout."""
    download_timeout_seconds: float = 60.0
    s3_addressing_style: str = "auto"
    atlascloud_jwks_url: str = ""
    """Empty = ``{Atlas Cloud base URL}/api/v1/webhooks/jwks.json``."""
    atlascloud_jwks_min_refresh_seconds: float = 10.0
    wavespeed_v5_lite_price_usd: float = 0.035
    evolink_v5_lite_model: str = "doubao-seedream-5.0-lite"
    evolink_v45_price_usd: float = 0.04
    evolink_v5_lite_price_usd: float = 0.035
    enabled_providers: tuple[str, ...] = PROVIDERS
    """The providers new jobs may be given to (the template's ``EnabledProviders``): the door refuses a job naming
    another (``provider_not_enabled``), ``auto`` and ``GET /v1/models`` leave the others out. Every adapter is still
    built, so callbacks and status reads of jobs already handed to a provider disabled since keep working. A
    provider enabled here without an ``api_key`` in the provider secret is skipped at submit (never chosen)."""
    replicate_v45_price_usd: float = 0.045
    """Replicate's price per output image of seedream-4.5 (not read on Replicate's own page: a third-party listing)."""
    replicate_output_lifetime_seconds: float = 3600.0
    """How long Replicate keeps a prediction's output files after it completed (an hour [doc]); the ingest of a
    Replicate job ends by then (``seedream.lifecycle``)."""
    fal_jwks_url: str = "https://rest.alpha.fal.ai/.well-known/jwks.json"
    """Where fal.ai publishes its webhook keys ([code]: the host is not confirmed by fal's docs, hence a setting)."""
    fal_jwks_min_refresh_seconds: float = 10.0
    fal_v45_price_usd: float = 0.04
    """fal's price per image of seedream-v4.5 edit (its v4.5 text-to-image page shows $0.04; the edit page's is
    not in our sources)."""
    modelark_v4_price_usd: float = 0.03
    """ModelArk's seedream-4.0 price per generated image: not in our sources (a configurable default)."""
    modelark_v5_lite_price_usd: float = 0.035
    modelark_v5_lite_model: str = "seedream-5-0-260128"
    modelark_read_timeout_seconds: float = 300.0
    """How long ModelArk's stream may stay silent (no byte) before it counts as cut: longer than one 4K image takes."""
    modelark_max_attempts: int = 5
    """Tries of a ModelArk generation whose request was refused for now (429, 5xx, unreachable) before the job
    fails ``submit_failed``; each try after the first is queued again with a delay (``Retry-After`` or 2^n s)."""
    generate_queue_url: str = ""
    """The ModelArk queue: jobs the generate function runs (synchronous hosts hold a Lambda for the generation)."""
    seed_providers: tuple[str, ...] = ()
    """Providers ``seed`` is sent to. None documents it for edit-sequential, so none by default: a request
    with a seed is refused (422) by every provider not named here."""
    atlascloud_sizes: tuple[str, ...] = ()
    provider_limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Per provider, limits that replace its adapter's for every model (``LIMIT_FIELDS``), where a provider's own
    pages disagree: evolink's current page takes ≤ 10 references at 1/3..3 where its API reference takes ≤ 14 at
    1/16..16 (``evolink.max_input_images=10,evolink.max_aspect=3``); WaveSpeed's current schema takes 64..16384 px
    per side where its v4 page says 1024..4096 (``wavespeed.min_side=64,wavespeed.max_side=16384``)."""
    """The ``W*H`` sizes Atlas Cloud takes for v4.5 and v5.0-lite (a fixed list [code]; empty = not enforced)."""
    task_timeout_seconds: float = 10800.0
    """A handed-off job still open this long after ``submitted_at`` fails (``seedream.lifecycle``): 3 h, well inside
    every provider's output retention (WaveSpeed 7 days [doc]); generation takes seconds to minutes."""
    submit_message_retention_seconds: float = 345600.0
    """The submit queue's ``MessageRetentionPeriod`` (4 days; tests check they agree): a queued job whose message
    is older than this has lost it."""
    submit_backpressure_max_seconds: float = 86400.0
    """How long provider 429s may hold a job back in all (it waits, re-queued with a delay) before ``submit_failed``."""
    announce_claim_seconds: float = 900.0
    """A terminal event claimed this long ago and not published was abandoned (longer than any function's timeout)."""
    deadline_base_seconds: float = 60.0
    deadline_seconds_per_image: float = 20.0
    deadline_grace_seconds: float = 120.0
    deadline_factors: Mapping[str, float] = field(default_factory=dict)
    reconcile_backoff_seconds: float = 30.0
    reconcile_backoff_max_seconds: float = 300.0
    ingest_deadline_seconds: float = 900.0
    reconcile_batch: int = 100
    """Overdue jobs one sweep looks at, at most (the rest wait for the next sweep)."""
    submit_max_receives: int = 5
    """The submit queue's ``maxReceiveCount``: the receive on which a failing job is ended (``submit_failed``)."""
    ingest_max_receives: int = 5
    """The ingest queue's ``maxReceiveCount``: the receive on which a failing ingest ends its job (``ingest_failed``)."""
    intake_max_receives: int = 5
    """The intake queue's ``maxReceiveCount``: the receive on which a request that cannot be queued is refused
    (``queue_unavailable``) to its door."""
    webhook_queue_url: str = ""
    """The webhook delivery queue: lifecycle events (an EventBridge rule's target), retries and redeliveries."""
    webhook_secret_id: str = ""
    """The Secrets Manager secret that holds the deployment's webhook signing key(s) (``seedream.webhook_secret``)."""
    webhook_timeout_seconds: float = 15.0
    """How long a receiver has to answer one attempt (Standard Webhooks: 15-30 s)."""
    webhook_retry_schedule: tuple[float, ...] = STANDARD_WEBHOOKS_SCHEDULE
    """Seconds before each attempt of a message (its length is the number of attempts); the local stack scales it down."""
    webhook_retry_jitter: float = 0.1
    """Each delay is stretched or shrunk by up to this fraction at random, so failed receivers are not hit in step."""
    webhook_presign_seconds: int = 86400
    """How long the output URLs in a webhook message are valid (at least 24 h)."""
    webhook_host_allowlist: tuple[str, ...] = ()
    """Hosts (or ``.suffix`` domains) webhooks may be sent to; empty = any public host. The local stack names only
    ``.invalid`` (a name that never resolves), so on a machine only loopback receivers are ever contacted."""

    connections_table: str = ""
    """The WebSocket API's connections and subscriptions (``seedream.connections``)."""
    websocket_endpoint: str = ""
    """The WebSocket API stage's management endpoint, ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}``
    (the push function posts to its connections there)."""

    def deadlines(self):
        """The lifecycle's deadline rules (``seedream.lifecycle.DeadlinePolicy``) from these settings."""
        from .lifecycle import DeadlinePolicy

        return DeadlinePolicy(base_seconds=self.deadline_base_seconds, seconds_per_image=self.deadline_seconds_per_image,
                              grace_seconds=self.deadline_grace_seconds, factors=dict(self.deadline_factors),
                              task_timeout_seconds=self.task_timeout_seconds,
                              backoff_seconds=self.reconcile_backoff_seconds,
                              backoff_max_seconds=self.reconcile_backoff_max_seconds,
                              ingest_seconds=self.ingest_deadline_seconds,
                              queue_retention_seconds=self.submit_message_retention_seconds,
                              announce_claim_seconds=self.announce_claim_seconds)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse every known variable present in ``env`` (default ``os.environ``). Raises ``ConfigError``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name, (attribute, parse) in _VARIABLES.items():
            raw = env.get(name)
            if not raw:  # unset or empty: the default
                continue
            values[attribute] = parse(name, raw) if callable(parse) else raw
        values["provider_base_urls"] = {
            name: env[f"{name.upper()}_BASE_URL"].rstrip("/") for name in PROVIDERS if env.get(f"{name.upper()}_BASE_URL")
        }
        return cls(**values)

    def require(self, *variables: str) -> Settings:
        """Raise ``ConfigError`` naming every variable in ``variables`` that is unset or empty; returns self."""
        missing = [name for name in variables if not getattr(self, _VARIABLES[name][0])]
        if missing:
            raise ConfigError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in this "
                              "function's environment (template.yaml sets it; check the deployment)")
        return self
