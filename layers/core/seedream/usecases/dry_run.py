"""Dry run: hold a ``POST /v1/jobs`` body to every rule a real request meets and say what it would be given
(the provider order and the estimated cost), creating nothing: no job item, no queue message, no event, no
idempotency record (``POST /v1/jobs?dry_run=true``; ``seedream submit --dry-run``; the command line before it
uploads local files)."""

from __future__ import annotations

from ..errors import InvalidRequest
from ..models.views import DryRun, ProviderEstimate
from ..providers.selection import job_price
from ..services import Services
from .accept import check_request, missing_sources


def dry_run(svc: Services, payload: object) -> DryRun:
    """What ``accept`` would do with ``payload``, without doing it.

    The rules are ``accept``'s (``check_request``: the model's fields, the providers' limits, ``auto``'s order, the
    stack's bucket for ``s3://`` sources); an ``s3://`` source that does not exist yet is listed in
    ``missing_images`` instead of refused, so a client can check a request before it uploads the files it names.
    ``estimated_cost_usd`` in USD, from the providers' price tables. Raises ``InvalidRequest`` as ``accept`` does.
    """
    svc.need("blobs")
    request, order = check_request(svc, payload)
    estimates = [ProviderEstimate(provider=name, estimated_cost_usd=job_price(svc.providers[name], request))
                 for name in order]
    return DryRun(provider=order[0], provider_order=order, model=request.model, max_images=request.max_images,
                  size=request.size, estimated_cost_usd=estimates[0].estimated_cost_usd, estimates=estimates,
                  missing_images=missing_sources(svc, request))


def dry_run_flag(value: str | None) -> bool:
    """The ``dry_run`` query parameter: absent or ``false`` → False, ``true`` → True; raises ``InvalidRequest``
    (400 ``invalid_request``) for anything else."""
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise InvalidRequest(f"dry_run must be true or false, not {value[:40]!r}", http_status=400,
                         details=[{"field": "dry_run", "message": "true or false"}])
