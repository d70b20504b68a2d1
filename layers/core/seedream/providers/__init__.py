"""Provider adapters, one module each, behind ``base.Provider``; ``build_providers`` wires them,
``selection`` chooses among them.

- ``base``       the Protocol an adapter implements, ``SubmitResult``, ``NotTerminal``, the optional capabilities
- ``limits``     ``ModelLimits`` (a model's documented limits and price at one provider), the door's check, job cost
- ``calls``      the provider HTTP client and JSON calls; 429/5xx/4xx mapped to our errors, ``Retry-After``
- ``callbacks``  reading a callback or status body: JSON object, terminal notice, error text, header lookup
- ``jwks``       a JWKS of Ed25519 keys, cached and refetched on an unknown key (Atlas Cloud, fal.ai)
- ``wavespeed``, ``atlascloud``, ``evolink``, ``replicate``, ``fal``, ``modelark``   one adapter per host
- ``selection``  which providers a job may go to, in ``auto``'s order
"""

from __future__ import annotations

from dataclasses import replace

from ..settings import Settings
from .atlascloud import AtlasCloud
from .base import Credentials, Provider
from .calls import Http
from .evolink import Evolink
from .fal import Fal
from .modelark import ModelArk
from .replicate import Replicate
from .wavespeed import WaveSpeed


def build_providers(settings: Settings, http: Http, credentials_for) -> dict[str, Provider]:
    """One adapter per provider, configured from ``settings``. ``credentials_for(name)`` returns a
    ``Credentials`` callable; ``http`` is the function's (lazily made) provider HTTP client. ``PROVIDER_LIMITS``
    replaces limits of every model of the providers it names (``Settings.provider_limits``)."""
    providers = _adapters(settings, http, credentials_for)
    for name, changes in settings.provider_limits.items():
        adapter = providers[name]
        adapter.models = {model: replace(limits, **changes) for model, limits in adapter.models.items()}
    return providers


def _adapters(settings: Settings, http: Http, credentials_for) -> dict[str, Provider]:
    base = settings.provider_base_urls
    return {
        "wavespeed": WaveSpeed(http, credentials_for("wavespeed"), base.get("wavespeed"),
                               v5_lite_price_usd=settings.wavespeed_v5_lite_price_usd,
                               accepts_seed="wavespeed" in settings.seed_providers),
        "atlascloud": AtlasCloud(http, credentials_for("atlascloud"), base.get("atlascloud"),
                                 jwks_url=settings.atlascloud_jwks_url or None,
                                 jwks_min_refresh_seconds=settings.atlascloud_jwks_min_refresh_seconds,
                                 accepts_seed="atlascloud" in settings.seed_providers, sizes=settings.atlascloud_sizes),
        "evolink": Evolink(http, credentials_for("evolink"), base.get("evolink"),
                           accepts_seed="evolink" in settings.seed_providers,
                           v45_price_usd=settings.evolink_v45_price_usd,
                           v5_lite_price_usd=settings.evolink_v5_lite_price_usd,
                           v5_lite_model=settings.evolink_v5_lite_model),
        "replicate": Replicate(http, credentials_for("replicate"), base.get("replicate"),
                               v45_price_usd=settings.replicate_v45_price_usd,
                               accepts_seed="replicate" in settings.seed_providers,
                               output_lifetime_seconds=settings.replicate_output_lifetime_seconds),
        "fal": Fal(http, credentials_for("fal"), base.get("fal"), jwks_url=settings.fal_jwks_url or None,
                   jwks_min_refresh_seconds=settings.fal_jwks_min_refresh_seconds,
                   v45_price_usd=settings.fal_v45_price_usd, v5_lite_seed="fal" in settings.seed_providers),
        "modelark": ModelArk(http, credentials_for("modelark"), base.get("modelark"),
                             v4_price_usd=settings.modelark_v4_price_usd,
                             v5_lite_price_usd=settings.modelark_v5_lite_price_usd,
                             v5_lite_model=settings.modelark_v5_lite_model,
                             read_timeout_seconds=settings.modelark_read_timeout_seconds,
                             accepts_seed="modelark" in settings.seed_providers),
    }


__all__ = ["AtlasCloud", "Credentials", "Evolink", "Fal", "Http", "ModelArk", "Provider", "Replicate", "WaveSpeed",
           "build_providers"]
