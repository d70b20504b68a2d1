"""ModelArk adapter: the request body, the SSE parser (cut streams, per-image errors), the stream's HTTP mapping,
billing from ``usage.generated_images`` and ``auto``'s default order. Provider HTTP is ``httpx.MockTransport``."""

from __future__ import annotations

import json

import httpx
import pytest

from seedream.errors import ProviderRejected, ProviderUnavailable, Unauthorized
from seedream.models.requests import JobRequest
from seedream.providers import build_providers
from seedream.providers.base import NotTerminal
from seedream.providers.calls import Http
from seedream.providers.limits import estimated_cost_usd
from seedream.providers.modelark import ModelArk, StreamCut, StreamEvent, parse_sse, request_body
from seedream.providers.selection import choose_providers
from seedream.settings import Settings

IMAGES = ["https://img.example.com/a.png"]


def job(model: str = "seedream-v4.5", **overrides) -> JobRequest:
    return JobRequest(**({"prompt": "four seasons", "model": model, "provider": "modelark", "images": IMAGES,
                          "max_images": 3, "size": "2048*2048"} | overrides))


def sse(*events: tuple[str | None, object]) -> bytes:
    return b"".join((f"event: {name}\n" if name else "").encode()
                    + b"".join(f"data: {line}\n".encode() for line in
                               (data if isinstance(data, str) else json.dumps(data, indent=2)).split("\n")) + b"\n"
                    for name, data in events)


def image(i: int) -> tuple[str, dict]:
    return "image_generation.partial_succeeded", {"type": "image_generation.partial_succeeded", "image_index": i,
                                                  "url": f"https://ark.example.com/{i}.jpeg", "size": "2048x2048"}


COMPLETED = ("image_generation.completed", {"type": "image_generation.completed",
                                            "usage": {"generated_images": 2, "output_tokens": 32768}})
DONE = (None, "[DONE]")


def adapter(handler) -> tuple[ModelArk, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = Http(5.0, transport=httpx.MockTransport(record))
    return ModelArk(http, lambda: {"api_key": "ark-key"}, "https://ark.example.com"), seen


def streaming(body: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def test_the_body_asks_for_a_streamed_unwatermarked_series_of_max_images():
    body = request_body("seedream-4-5-251128", job(max_images=7, size="2560*1440"), IMAGES)
    assert body == {"model": "seedream-4-5-251128", "prompt": "four seasons", "size": "2560x1440",
                    "sequential_image_generation": "auto", "sequential_image_generation_options": {"max_images": 7},
                    "response_format": "url", "watermark": False, "stream": True, "image": IMAGES}
    assert "image" not in request_body("seedream-4-0-250828", job(), [])


def test_the_parser_reads_images_refusals_completion_and_done():
    events = list(parse_sse(sse(image(0), ("image_generation.partial_failed", {
        "type": "image_generation.partial_failed", "image_index": 1,
        "error": {"code": "OutputImageSensitiveContentDetected", "message": "sensitive"}}), image(2), COMPLETED,
        DONE).decode().splitlines()))
    assert [e.kind for e in events] == ["image", "image_failed", "image", "completed", "done"]
    assert events[0] == StreamEvent("image", index=0, url="https://ark.example.com/0.jpeg", size="2048x2048")
    assert events[1].index == 1 and events[1].error == "OutputImageSensitiveContentDetected: sensitive"
    assert events[3].generated_images == 2


def test_an_error_event_or_data_that_is_not_json_is_a_cut_stream():
    with pytest.raises(StreamCut, match="InternalServiceError"):
        list(parse_sse(sse(image(0), ("error", {"error": {"code": "InternalServiceError", "message": "x"}}))
                       .decode().splitlines()))
    with pytest.raises(StreamCut, match="not JSON"):
        list(parse_sse(["data: {oops", ""]))


def test_a_full_stream_yields_every_event_with_our_key_and_body():
    ark, seen = adapter(lambda request: streaming(sse(image(0), image(1), COMPLETED, DONE)))
    events = list(ark.stream(job(), IMAGES))
    assert [e.url for e in events if e.kind == "image"] == ["https://ark.example.com/0.jpeg",
                                                            "https://ark.example.com/1.jpeg"]
    request = seen[0]
    assert request.url == "https://ark.example.com/api/v3/images/generations"
    assert request.headers["authorization"] == "Bearer ark-key"
    assert json.loads(request.content)["watermark"] is False


@pytest.mark.parametrize("body", [sse(image(0)), sse(image(0), COMPLETED), sse(image(0), DONE)],
                         ids=["no completed", "no done", "done without completed"])
def test_a_stream_that_ends_early_is_cut_after_the_images_it_sent(body):
    ark, _ = adapter(lambda request: streaming(body))
    events = ark.stream(job(), IMAGES)
    assert next(events).kind == "image"
    with pytest.raises(StreamCut) as cut:
        list(events)
    assert cut.value.code == "provider_stream_cut"


def test_a_dropped_connection_mid_stream_is_a_cut_stream():
    def chunks():
        yield sse(image(0))
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    ark, _ = adapter(lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"},
                                                    stream=_Chunks(chunks())))
    events = ark.stream(job(), IMAGES)
    assert next(events).kind == "image"
    with pytest.raises(StreamCut, match="broke off"):
        next(events)


class _Chunks(httpx.SyncByteStream):
    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        yield from self.chunks


@pytest.mark.parametrize(("status", "error"), [(429, ProviderUnavailable), (500, ProviderUnavailable),
                                               (400, ProviderRejected)])
def test_an_answer_before_the_stream_maps_to_our_errors(status, error):
    reply = {"error": {"code": "InvalidParameter", "message": "size exceeds the limit", "type": "BadRequest"}}
    ark, _ = adapter(lambda request: httpx.Response(status, json=reply, headers={"Retry-After": "7"}))
    with pytest.raises(error) as raised:
        list(ark.stream(job(), IMAGES))
    if status == 429:
        assert raised.value.throttled and raised.value.retry_after == 7
    if status == 400:
        assert raised.value.names_limit


def test_a_200_that_is_not_an_event_stream_is_a_cut_stream():
    ark, _ = adapter(lambda request: httpx.Response(200, json={"data": []}))
    with pytest.raises(StreamCut, match="without an event stream"):
        list(ark.stream(job(), IMAGES))


def test_billing_is_per_generated_image_and_v45_is_documented():
    ark, _ = adapter(lambda request: streaming(b""))
    limits = ark.limits("seedream-v4.5")
    assert (limits.price_basis, limits.price_usd, limits.price_documented) == ("per_image_produced", 0.04, True)
    assert estimated_cost_usd(limits, max_images=15, produced=4) == 0.16
    assert not ark.limits("seedream-v4").price_documented and not ark.limits("seedream-v5.0-lite").price_documented


def test_modelark_takes_no_callback_and_has_no_status_api():
    ark, _ = adapter(lambda request: streaming(b""))
    with pytest.raises(Unauthorized):
        ark.verify_callback({}, b"{}", 0)
    with pytest.raises(NotTerminal):
        ark.read_status("ark-1")


def test_auto_leaves_modelark_out_unless_the_preference_names_it():
    providers = build_providers(Settings(), Http(1.0), lambda name: lambda: {"api_key": "k"})
    request = job(provider="auto", model="seedream-v4.5")
    assert "modelark" not in choose_providers(providers, {}, request)
    assert choose_providers(providers, {"seedream-v4.5": ("modelark", "wavespeed")}, request) == ["modelark", "wavespeed"]
    assert choose_providers(providers, {}, job()) == ["modelark"]  # named: that one
