"""A model's documented limits and price at one provider (``ModelLimits``), the door's check of a request against
them (every broken rule, one sentence each) and a job's estimated cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InvalidRequest

if TYPE_CHECKING:
    from ..models.requests import JobRequest


@dataclass(frozen=True)
class ModelLimits:
    """Limits of one model at one provider. Sides in pixels, ``*_pixels`` in total pixels (W×H).

    Sources (tags as in the adapters' docstrings): pixel ranges — seedream-v4 921,600..16,777,216,
    v4.5 and v5.0-lite 3,686,400..16,777,216 [doc: evolink reference, ComfyUI's Seedream node;
    code: several clients]; aspect ratio 1/16..16 [code]; references + outputs ≤ 15 for the model
    whatever the provider [doc: ComfyUI; code: Atlas schema]; per-provider counts in each adapter.
    """

    provider_model: str
    min_side: int = 1024
    max_side: int = 4096
    min_pixels: int = 921_600
    max_pixels: int = 16_777_216
    max_aspect: float = 16.0
    max_input_images: int = 10
    max_outputs: int = 15
    max_references_plus_outputs: int = 15
    max_prompt_chars: int = 4000
    sizes: tuple[str, ...] = ()
    """The only ``W*H`` sizes the provider takes for this model; empty = any size within the ranges."""
    accepts_seed: bool = False
    """No provider documents ``seed`` for edit-sequential; ``SEED_PROVIDERS`` names those to send it to."""
    price_per_image_usd: float | None = None
    price_per_run_usd: float | None = None
    bills_requested: bool = False
    """True where the provider bills ``max_images`` × unit price, not the images produced."""
    price_documented: bool = False
    """True where the price is the provider's documented one; False where it is a configurable default."""
    served: bool = True
    """False where the provider does not serve the model at all: every request for it is refused at the door
    (``model_not_served``), ``auto`` skips the provider for it and the model list leaves the pair out."""

    @property
    def price_basis(self) -> str:
        """How the provider bills a job: ``per_run``, ``per_image_requested`` (``max_images``) or ``per_image_produced``."""
        if self.price_per_run_usd is not None:
            return "per_run"
        return "per_image_requested" if self.bills_requested else "per_image_produced"

    @property
    def price_usd(self) -> float | None:
        """The unit price in USD of ``price_basis`` (per run or per image)."""
        return self.price_per_run_usd if self.price_per_run_usd is not None else self.price_per_image_usd


def limit_problems(request: JobRequest, limits: ModelLimits) -> list[dict]:
    """Every documented limit ``request`` breaks under ``limits``: ``[{"field", "limit", "value"}]`` in a fixed order,
    ``limit`` naming the rule (``max_input_images``, ``max_outputs``, ``references_plus_outputs``, ``width_range``,
    ``height_range``, ``pixel_range``, ``aspect_ratio``, ``sizes``, ``seed_not_supported``, ``max_prompt_chars``;
    ``model_not_served`` alone for a model the provider does not serve)
    and ``value`` its bound (a count, ``[min, max]`` pixels or ratios, the sizes, or None). No message: see
    :func:`rule_message`."""
    if not limits.served:
        return [{"field": "model", "limit": "model_not_served", "value": None}]
    problems = []
    if len(request.images) > limits.max_input_images:
        problems.append({"field": "images", "limit": "max_input_images", "value": limits.max_input_images})
    if request.max_images > limits.max_outputs:
        problems.append({"field": "max_images", "limit": "max_outputs", "value": limits.max_outputs})
    if len(request.images) + request.max_images > limits.max_references_plus_outputs:
        problems.append({"field": "max_images", "limit": "references_plus_outputs",
                         "value": limits.max_references_plus_outputs})
    for side, value in (("width", request.width), ("height", request.height)):
        if not limits.min_side <= value <= limits.max_side:
            problems.append({"field": "size", "limit": f"{side}_range", "value": [limits.min_side, limits.max_side]})
    if not limits.min_pixels <= request.width * request.height <= limits.max_pixels:
        problems.append({"field": "size", "limit": "pixel_range", "value": [limits.min_pixels, limits.max_pixels]})
    if max(request.width, request.height) > limits.max_aspect * min(request.width, request.height):
        problems.append({"field": "size", "limit": "aspect_ratio", "value": [1 / limits.max_aspect, limits.max_aspect]})
    if limits.sizes and request.size not in limits.sizes:
        problems.append({"field": "size", "limit": "sizes", "value": list(limits.sizes)})
    if request.seed is not None and not limits.accepts_seed:
        problems.append({"field": "seed", "limit": "seed_not_supported", "value": None})
    if len(request.prompt) > limits.max_prompt_chars:
        problems.append({"field": "prompt", "limit": "max_prompt_chars", "value": limits.max_prompt_chars})
    return problems


def rule_message(problem: dict, request: JobRequest, where: str | None) -> str:
    """The sentence for one broken rule (a :func:`limit_problems` entry): what ``request.model`` takes, ``at`` the
    providers named in ``where`` (None: at every provider), and what the request asks instead."""
    subject = request.model + (f" at {where}" if where else "")
    limit, value = problem["limit"], problem["value"]
    images, wanted = len(request.images), request.max_images
    if limit == "model_not_served":
        return f"{request.model} is not served{' at ' + where if where else ''}: choose another model or provider"
    if limit == "max_input_images":
        return f"{subject} takes at most {value} source images, not {images}"
    if limit == "max_outputs":
        return f"{subject} makes at most {value} images, not max_images {wanted}"
    if limit == "references_plus_outputs":
        return (f"{subject} makes at most {value} images counting the references: {images} source image(s) + "
                f"max_images {wanted} = {images + wanted}: ask for at most {max(value - images, 0)} images")
    if limit in ("width_range", "height_range"):
        side = limit.removesuffix("_range")
        return f"{subject} takes a {side} of {value[0]}..{value[1]} px, not {getattr(request, side)}"
    if limit == "pixel_range":
        return (f"{subject} takes {value[0]:,}..{value[1]:,} pixels in all, not {request.width * request.height:,} "
                f"({request.size})")
    if limit == "aspect_ratio":
        return f"{subject} takes an aspect ratio of 1:{value[1]:g} to {value[1]:g}:1, not {request.size}"
    if limit == "sizes":
        return f"{subject} takes only the sizes {', '.join(value)}, not {request.size}"
    if limit == "seed_not_supported":
        return f"{subject}: no seed is documented; leave seed out"
    return f"{subject} takes a prompt of at most {value} characters, not {len(request.prompt)}"


def check_limits(provider: str, request: JobRequest, limits: ModelLimits) -> None:
    """Raise ``InvalidRequest`` (``provider_limit_exceeded``) naming every documented limit of ``provider``
    that ``request`` breaks: one ``details`` entry per rule (``field``, ``limit``, ``value``, ``message``, ``providers``)."""
    problems = [p | {"message": rule_message(p, request, provider), "providers": [provider]}
                for p in limit_problems(request, limits)]
    if problems:
        raise InvalidRequest("; ".join(p["message"] for p in problems), code="provider_limit_exceeded",
                             details=problems)


def estimated_cost_usd(limits: ModelLimits, max_images: int, produced: int) -> float:
    """Documented price of one job in USD: per run, or per image (requested or produced, as the provider bills)."""
    if limits.price_per_run_usd is not None:
        return round(limits.price_per_run_usd, 6)
    count = max_images if limits.bills_requested else produced
    return round((limits.price_per_image_usd or 0.0) * count, 6)




class ModelTable:
    """``limits`` and ``check`` for an adapter that keeps its ``models`` table (our model name → ``ModelLimits``):
    every adapter does; ``PROVIDER_LIMITS`` replaces fields of that table (``build_providers``)."""

    name: str
    models: dict[str, ModelLimits]

    def limits(self, model: str) -> ModelLimits:
        """Documented limits and price of ``model`` at this provider (``served`` False: not offered here)."""
        return self.models[model]

    def check(self, request: JobRequest) -> None:
        """Raise ``InvalidRequest`` (``provider_limit_exceeded``) naming every limit of this provider ``request``
        breaks (:func:`check_limits`)."""
        check_limits(self.name, request, self.models[request.model])
