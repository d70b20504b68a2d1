"""Which providers may take a job, and in which order ``auto`` tries them.

A named provider: that one, its limits checked. ``auto``: the configured order for the model
(``PROVIDER_PREFERENCE``), else every provider cheapest first by documented price (name breaks
ties), keeping those whose limits the request meets. A provider whose adapter sets ``in_auto_order = False``
(ModelArk: it holds a Lambda for the whole generation) is left out of that default order; ``auto`` tries it only
where ``PROVIDER_PREFERENCE`` names it. Prices and limits come from each adapter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import get_args

from ..errors import InvalidRequest
from ..models.requests import JobRequest, Model
from ..settings import PROVIDERS
from .base import Provider
from .limits import estimated_cost_usd, rule_message


def job_price(provider: Provider, request: JobRequest) -> float:
    """Documented price in USD of ``request`` at ``provider`` if it makes all ``max_images``."""
    return estimated_cost_usd(provider.limits(request.model), request.max_images, request.max_images)


def choose_providers(providers: Mapping[str, Provider], preference: Mapping[str, tuple[str, ...]],
                     request: JobRequest, enabled: Collection[str] | None = None) -> list[str]:
    """The providers to try for ``request``, in order, among ``enabled`` (None: all of ``providers``). Raises
    ``InvalidRequest``: ``invalid_request`` for an unknown provider, ``provider_not_enabled`` (422) for a known one
    this deployment does not enable (``ENABLED_PROVIDERS``), ``provider_limit_exceeded`` when no provider takes it
    (see :func:`refusal`)."""
    providers = enabled_only(providers, enabled)
    if request.provider != "auto":
        provider = providers.get(request.provider)
        if provider is None:
            raise _not_offered(request.provider, providers, enabled)
        names = [provider.name]
    else:
        configured = [name for name in preference.get(request.model, ()) if name in providers]
        if not configured:  # the default order: a provider out of it is neither tried nor offered in a refusal
            providers = {name: p for name, p in providers.items() if getattr(p, "in_auto_order", True)}
        names = configured or sorted(providers, key=lambda name: (job_price(providers[name], request), name))
    eligible, broken = [], {}
    for name in names:
        problems = broken_limits(providers[name], request)
        if problems:
            broken[name] = problems
        else:
            eligible.append(name)
    if not eligible:
        raise refusal(providers, request, broken)
    return eligible


def enabled_only(providers: Mapping[str, Provider], enabled: Collection[str] | None) -> dict[str, Provider]:
    """``providers`` restricted to the names in ``enabled`` (None: all), in ``providers``' order."""
    return {name: p for name, p in providers.items() if enabled is None or name in enabled}


def _not_offered(name: str, offered: Mapping[str, Provider], enabled: Collection[str] | None) -> InvalidRequest:
    """The refusal of a job naming a provider outside ``offered``: unknown, or known but not enabled here."""
    choices = f"choose auto or one of {sorted(offered)}"
    if enabled is not None and name not in enabled and name in PROVIDERS:
        return InvalidRequest(f"provider {name!r} is not enabled in this deployment (its EnabledProviders); {choices}",
                              code="provider_not_enabled",
                              details=[{"field": "provider", "message": "provider not enabled"}])
    return InvalidRequest(f"unknown provider {name!r}; {choices}",
                          details=[{"field": "provider", "message": "unknown provider"}])


def broken_limits(provider: Provider, request: JobRequest) -> list[dict]:
    """The ``details`` of ``provider.check(request)``: ``[]`` when it takes the request."""
    try:
        provider.check(request)
    except InvalidRequest as exc:
        return list(exc.details or [])
    return []


def refusal(providers: Mapping[str, Provider], request: JobRequest, broken: Mapping[str, list[dict]]) -> InvalidRequest:
    """``provider_limit_exceeded`` for a request every tried provider refused (``broken``: provider → its
    problems): one ``details`` entry, and one part of the message, per broken rule, however many providers
    break it. Each names the providers it holds at (none when every provider holds it) and says who takes the
    request on that rule: ``taken_by``, the ``{"model", "provider"}`` pairs that keep it, the requested model first.

    E.g. ``1024*1024`` under ``auto`` with seedream-v4.5: "seedream-v4.5 takes 3,686,400..16,777,216 pixels in
    all, not 1,048,576 (1024*1024) — seedream-v4 takes it at every provider"."""
    rules: dict[tuple, dict] = {}
    for name, problems in broken.items():
        for problem in problems:
            key = (problem.get("field"), problem.get("limit"), repr(problem.get("value")))
            rules.setdefault(key, {k: v for k, v in problem.items() if k not in ("message", "providers")} |
                             {"providers": []})["providers"].append(name)
    keeping = _takers(providers, request)
    details = []
    for rule in rules.values():
        where = None if len(rule["providers"]) == len(providers) else _names(rule["providers"])
        message = rule_message(rule, request, where)
        taken_by = [{"model": model, "provider": name} for model, name in keeping
                    if (rule.get("field"), rule.get("limit")) not in keeping[(model, name)]]
        details.append(rule | {"message": f"{message} — {_who_takes(taken_by, request.model, len(providers))}",
                               "taken_by": taken_by})
    tried = list(broken)
    head = "no provider takes this job" if request.provider == "auto" else f"{tried[0]} does not take this job"
    return InvalidRequest(f"{head}: " + "; ".join(d["message"] for d in details), code="provider_limit_exceeded",
                          details=details)


def _takers(providers: Mapping[str, Provider], request: JobRequest) -> dict[tuple[str, str], set[tuple]]:
    """``(model, provider)`` → the ``(field, limit)`` rules ``request`` would break with that model there; every
    model each provider offers, the requested one first."""
    models = [request.model, *(m for m in get_args(Model) if m != request.model)]
    found = {}
    for model in models:
        changed = request.model_copy(update={"model": model})
        for name, provider in providers.items():
            if provider.limits(model).served:  # a provider that does not serve the model takes no request for it
                found[(model, name)] = {(p.get("field"), p.get("limit")) for p in broken_limits(provider, changed)}
    return found


def _who_takes(taken_by: list[dict], model: str, provider_count: int) -> str:
    """"seedream-v4 takes it at every provider", the requested model alone when it is among them."""
    if not taken_by:
        return "no model takes it at any provider"
    by_model: dict[str, list[str]] = {}
    for pair in taken_by:
        by_model.setdefault(pair["model"], []).append(pair["provider"])
    if model in by_model:
        by_model = {model: by_model[model]}
    return " or ".join(f"{m} takes it at {'every provider' if len(p) == provider_count else _names(p)}"
                       for m, p in by_model.items())


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
