"""Provider adapters, one module each, behind ``base.Provider``; ``build_providers`` wires them."""

from __future__ import annotations

import httpx

from ..config import Settings
from .atlascloud import AtlasCloud
from .base import Credentials, Provider
from .evolink import Evolink
from .wavespeed import WaveSpeed

ADAPTERS = {"wavespeed": WaveSpeed, "atlascloud": AtlasCloud, "evolink": Evolink}


def build_providers(settings: Settings, client: httpx.Client, credentials_for) -> dict[str, Provider]:
    """One adapter per provider. ``credentials_for(name)`` returns a ``Credentials`` callable."""
    return {
        name: cls(client, credentials_for(name), settings.provider_base_urls.get(name))
        for name, cls in ADAPTERS.items()
    }


__all__ = ["ADAPTERS", "Credentials", "Provider", "build_providers"]
