"""The models and their providers: every model × provider with the limits the door holds a request to and the price
a job's cost is estimated with (``GET /v1/models``; ``seedream models``). The same tables ``accept`` checks."""

from __future__ import annotations

from typing import get_args

from ..models.requests import Model
from ..models.views import ModelList, ModelOffer
from ..providers.selection import enabled_only
from ..services import Services


def model_list(svc: Services) -> ModelList:
    """Every model (``JobRequest.model``'s values) at every enabled provider of the deployment (``ENABLED_PROVIDERS``)
    that serves it, model by model, providers in the deployment's order. Limits in pixels, characters and counts;
    ``price_usd`` per ``price_basis`` unit."""
    offers = []
    for model in get_args(Model):
        for name, provider in enabled_only(svc.providers, svc.settings.enabled_providers).items():
            limits = provider.limits(model)
            if not limits.served:
                continue
            offers.append(ModelOffer(
                model=model, provider=name, provider_model=limits.provider_model,
                max_input_images=limits.max_input_images, max_outputs=limits.max_outputs,
                max_references_plus_outputs=limits.max_references_plus_outputs, min_side=limits.min_side,
                max_side=limits.max_side, min_pixels=limits.min_pixels, max_pixels=limits.max_pixels,
                max_aspect_ratio=limits.max_aspect, sizes=list(limits.sizes), max_prompt_chars=limits.max_prompt_chars,
                accepts_seed=limits.accepts_seed, price_usd=limits.price_usd, price_basis=limits.price_basis,
                price_documented=limits.price_documented))
    return ModelList(models=offers)
