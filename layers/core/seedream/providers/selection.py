"""Which providers may take a job, and in which order ``auto`` tries them.

A named provider: that one, its limits checked. ``auto``: the configured order for the model
(``PROVIDER_PREFERENCE``), else every provider cheapest first by documented price (name breaks
ties), keeping those whose limits the request meets. Prices and limits come from each adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from .base import Provider, estimated_cost_usd

if TYPE_CHECKING:
    from ..models.requests import JobRequest


def job_price(provider: Provider, request: JobRequest) -> float:
    """Documented price in USD of ``request`` at ``provider`` if it makes all ``max_images``."""
    return estimated_cost_usd(provider.limits(request.model), request.max_images, request.max_images)


def choose_providers(providers: Mapping[str, Provider], preference: Mapping[str, tuple[str, ...]],
                     request: JobRequest) -> list[str]:
    """The providers to try for ``request``, in order. Raises ``InvalidRequest``: ``invalid_request``
    for an unknown provider, ``provider_limit_exceeded`` (with every broken limit in ``details``)
    when no provider takes it."""
    if request.provider != "auto":
        provider = providers.get(request.provider)
        if provider is None:
            raise InvalidRequest(f"unknown provider {request.provider!r}; choose auto or one of {sorted(providers)}",
                                 details=[{"field": "provider", "message": "unknown provider"}])
        provider.check(request)
        return [provider.name]
    configured = [name for name in preference.get(request.model, ()) if name in providers]
    names = configured or sorted(providers, key=lambda name: (job_price(providers[name], request), name))
    eligible, problems = [], []
    for name in names:
        try:
            providers[name].check(request)
        except InvalidRequest as exc:
            problems.extend(exc.details or [])
            continue
        eligible.append(name)
    if not eligible:
        raise InvalidRequest("no provider takes this job: " + "; ".join(p["message"] for p in problems),
                             code="provider_limit_exceeded", details=problems)
    return eligible
