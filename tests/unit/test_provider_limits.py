"""Provider-accurate limits, per provider × model, from the corrected facts (each adapter's docstring
gives the source): pixel ranges, aspect ratio, references + outputs ≤ 15, per-provider counts, seed."""

from __future__ import annotations

import httpx
import pytest

from seedream.errors import InvalidRequest
from seedream.models.requests import JobRequest
from seedream.providers import build_providers
from seedream.providers.calls import Http
from seedream.providers.selection import choose_providers
from seedream.settings import Settings

PROVIDERS = build_providers(Settings(), Http(8, transport=httpx.MockTransport(lambda r: httpx.Response(500))),
                            lambda name: lambda: {"api_key": "k"})
MODELS = ["seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"]
SERVED = [(provider, model) for provider in PROVIDERS for model in MODELS if PROVIDERS[provider].limits(model).served]
"""Every provider × model pair a provider serves (Replicate serves no seedream-v5.0-lite)."""


def request(model, **change) -> JobRequest:
    return JobRequest(**({"model": model, "prompt": "a series of images", "images": ["https://img.test/a.png"],
                          "max_images": 2, "size": "2048*2048"} | change))


def refused(provider, model, **change) -> list[str]:
    try:
        PROVIDERS[provider].check(request(model, **change))
    except InvalidRequest as exc:
        assert exc.code == "provider_limit_exceeded"
        return [d["limit"] for d in exc.details]
    return []


@pytest.mark.parametrize(("provider", "model"), SERVED)
def test_the_readme_sizes_are_taken_everywhere(provider, model):
    for size in ("2048*2048", "1728*2304", "2560*1440", "4096*4096"):
        if (provider, model, size) == ("fal", "seedream-v5.0-lite", "4096*4096"):  # fal: 2560×1440..3072×3072 [doc]
            assert refused(provider, model, size=size) == ["pixel_range"]
            continue
        assert refused(provider, model, size=size) == [], size


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_v45_and_v5_lite_need_3_686_400_pixels_and_v4_921_600(provider):
    for model in ("seedream-v4.5", "seedream-v5.0-lite"):
        if (provider, model) not in SERVED:
            continue
        assert refused(provider, model, size="1024*1024") == ["pixel_range"]
        assert refused(provider, model, size="1536*2048") == ["pixel_range"]
        assert refused(provider, model, size="1920*1920") == []  # exactly 3,686,400
    assert refused(provider, "seedream-v4", size="1024*1024") == []
    # ModelArk documents no side range, only total pixels and the aspect ratio
    sides = [] if provider == "modelark" else ["height_range"]
    assert refused(provider, "seedream-v4", size="1024*899") == [*sides, "pixel_range"]


@pytest.mark.parametrize(("provider", "model"), SERVED)
def test_references_plus_outputs_are_at_most_15_at_every_provider(provider, model):
    nine, ten = ([f"https://img.test/{i}.png" for i in range(n)] for n in (9, 10))
    assert refused(provider, model, images=nine, max_images=6) == []  # 6: fal's most
    assert refused(provider, model, images=ten, max_images=6) == ["references_plus_outputs"]


def test_per_provider_counts():
    twelve = [f"https://img.test/{i}.png" for i in range(12)]
    assert refused("evolink", "seedream-v4", images=twelve, max_images=3) == []  # evolink: 14 references
    assert refused("wavespeed", "seedream-v4", images=twelve, max_images=3) == ["max_input_images"]
    # one reference + 15 outputs breaks the model's 15 everywhere; Atlas v4 adds its own 14-output limit
    assert refused("wavespeed", "seedream-v4", max_images=15) == ["references_plus_outputs"]
    assert refused("atlascloud", "seedream-v4", max_images=15) == ["max_outputs", "references_plus_outputs"]
    assert refused("atlascloud", "seedream-v4", max_images=14) == []


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p != "fal"])  # fal documents seed (tests/unit/test_fal.py)
def test_seed_is_refused_naming_the_provider_unless_configured(provider):
    with pytest.raises(InvalidRequest) as caught:
        PROVIDERS[provider].check(request("seedream-v4", seed=42))
    assert caught.value.details[0]["limit"] == "seed_not_supported" and provider in caught.value.message
    configured = build_providers(Settings(seed_providers=(provider,)), Http(8), lambda name: lambda: {})
    configured[provider].check(request("seedream-v4", seed=42))


def test_aspect_ratio_and_configured_atlas_sizes():
    assert "aspect_ratio" in refused("wavespeed", "seedream-v4", size="4096*250")
    atlas = build_providers(Settings(atlascloud_sizes=("2048*2048", "1728*2304")), Http(8),
                            lambda name: lambda: {})["atlascloud"]
    atlas.check(request("seedream-v4.5", size="1728*2304"))
    with pytest.raises(InvalidRequest) as caught:
        atlas.check(request("seedream-v4.5", size="2560*1440"))
    assert caught.value.details[0]["limit"] == "sizes"
    atlas.check(request("seedream-v4", size="2560*1440"))  # v4 takes any size in range


def refusal_of(**change) -> InvalidRequest:
    body = {"provider": "auto", "model": "seedream-v4.5", "prompt": "a series of images",
            "images": ["https://img.test/a.png"], "max_images": 4, "size": "2048*2048"} | change
    with pytest.raises(InvalidRequest) as caught:
        choose_providers(PROVIDERS, {}, JobRequest(**body))
    assert caught.value.code == "provider_limit_exceeded"
    return caught.value


def test_a_rule_every_provider_breaks_is_said_once_with_the_model_that_takes_it():
    error = refusal_of(size="1024*1024")
    rule = ("seedream-v4.5 takes 3,686,400..16,777,216 pixels in all, not 1,048,576 (1024*1024) — "
            "seedream-v4 takes it at every provider")
    assert error.message == f"no provider takes this job: {rule}"
    [detail] = error.details
    assert detail["field"] == "size" and detail["limit"] == "pixel_range" and detail["message"] == rule
    assert detail["providers"] == ["atlascloud", "evolink", "fal", "wavespeed", "replicate"]  # auto's order
    assert detail["taken_by"] == [{"model": "seedream-v4", "provider": p}
                                  for p in ("wavespeed", "atlascloud", "evolink", "replicate", "fal")]


def test_each_broken_rule_is_one_detail_naming_where_it_holds_and_who_takes_it():
    twelve = [f"https://img.test/{i}.png" for i in range(12)]
    error = refusal_of(images=twelve, size="1024*1024")
    lines = {d["limit"]: d["message"] for d in error.details}
    assert lines == {
        "max_input_images": "seedream-v4.5 at atlascloud, fal and wavespeed takes at most 10 source images, not 12 — "
                            "seedream-v4.5 takes it at evolink and replicate",
        "references_plus_outputs": "seedream-v4.5 makes at most 15 images counting the references: 12 source image(s) "
                                   "+ max_images 4 = 16: ask for at most 3 images — no model takes it at any provider",
        "pixel_range": "seedream-v4.5 takes 3,686,400..16,777,216 pixels in all, not 1,048,576 (1024*1024) — "
                       "seedream-v4 takes it at every provider"}
    assert error.message.count("source images") == 1 and error.message.count("pixels in all") == 1


def test_a_named_provider_refusing_says_which_other_provider_takes_the_request():
    error = refusal_of(provider="wavespeed", model="seedream-v4", size="1024*1024",
                       images=[f"https://img.test/{i}.png" for i in range(11)])
    assert error.message == ("wavespeed does not take this job: seedream-v4 at wavespeed takes at most 10 source images, "
                             "not 11 — seedream-v4 takes it at evolink and modelark")


def test_a_provider_left_out_of_enabled_providers_is_refused_by_name_and_skipped_by_auto():
    enabled = ("wavespeed", "evolink")
    with pytest.raises(InvalidRequest) as named:
        choose_providers(PROVIDERS, {}, request("seedream-v4", provider="atlascloud"), enabled)
    assert named.value.code == "provider_not_enabled" and named.value.http_status == 422
    assert "'atlascloud' is not enabled" in named.value.message and "['evolink', 'wavespeed']" in named.value.message
    with pytest.raises(InvalidRequest) as unknown:
        choose_providers(PROVIDERS, {}, request("seedream-v4", provider="nobody"), enabled)
    assert unknown.value.code == "invalid_request" and "unknown provider 'nobody'" in unknown.value.message
    # the cheapest for seedream-v4 is Atlas Cloud's run price: without it, auto starts at evolink
    assert choose_providers(PROVIDERS, {}, request("seedream-v4", provider="auto")) == ["atlascloud", "evolink",
                                                                                         "wavespeed", "fal", "replicate"]
    assert choose_providers(PROVIDERS, {}, request("seedream-v4", provider="auto"), enabled) == ["evolink", "wavespeed"]
    preference = {"seedream-v4": ("atlascloud", "wavespeed")}
    assert choose_providers(PROVIDERS, preference, request("seedream-v4", provider="auto"), enabled) == ["wavespeed"]


def test_the_model_list_offers_only_the_enabled_providers():
    from seedream.usecases.model_list import model_list
    from seedream.wiring import build_services

    svc = build_services(Settings.from_env({"ENABLED_PROVIDERS": "evolink, wavespeed"}), ("provider_limits",))
    offers = model_list(svc).models
    assert {o.provider for o in offers} == {"evolink", "wavespeed"} and len(offers) == 6


def test_provider_limits_replace_a_providers_limits_where_its_own_pages_disagree():
    settings = Settings.from_env({"PROVIDER_LIMITS": "evolink.max_input_images=10, evolink.max_aspect=3;"
                                                     "wavespeed.min_side=64,wavespeed.max_side=16384"})
    assert settings.provider_limits == {"evolink": {"max_input_images": 10, "max_aspect": 3.0},
                                        "wavespeed": {"min_side": 64, "max_side": 16384}}
    providers = build_providers(settings, Http(8), lambda name: lambda: {"api_key": "k"})
    for model in MODELS:
        assert (providers["evolink"].limits(model).max_input_images, providers["evolink"].limits(model).max_aspect) == (
            10, 3.0)
    tall = request("seedream-v4", provider="evolink", size="1024*4096")  # 1:4, inside the reference's 1/16..16
    assert PROVIDERS["evolink"].check(tall) is None
    with pytest.raises(InvalidRequest) as refused:
        providers["evolink"].check(tall)
    assert [d["limit"] for d in refused.value.details] == ["aspect_ratio"]
    wide = request("seedream-v4", size="8192*1024")  # 8.4 MP, one side past 4096
    assert "width_range" in refused_by(PROVIDERS["wavespeed"], wide)
    assert refused_by(providers["wavespeed"], wide) == []


def refused_by(provider, job) -> list[str]:
    try:
        provider.check(job)
    except InvalidRequest as exc:
        return [d["limit"] for d in exc.details]
    return []


@pytest.mark.parametrize("value, says", [
    ("evolink.max_colours=3", "'max_colours' is not a limit"),
    ("nobody.max_side=10", "names unknown providers ['nobody']"),
    ("evolink:max_side=10", "must look like"),
])
def test_a_malformed_provider_limit_is_an_error_that_names_it(value, says):
    from seedream.settings import ConfigError

    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace("]", r"\]")):
        Settings.from_env({"PROVIDER_LIMITS": value})


def test_the_readmes_table_of_autos_default_order_is_what_auto_does():
    import re
    from pathlib import Path

    from seedream.providers.selection import job_price

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = re.findall(r"^\| (seedream-[\w.-]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", readme, re.M)
    assert [row[0] for row in rows] == MODELS
    for model, *cells in rows:
        for count, cell in zip((1, 4, 14), cells, strict=True):
            job = request(model, max_images=count, provider="auto")
            said = [(name, float(price)) for name, price in (part.split() for part in cell.split(", "))]
            assert said == [(name, round(job_price(PROVIDERS[name], job), 4))
                            for name in choose_providers(PROVIDERS, {}, job)], (model, count)
