"""BytePlus ModelArk's protocol as the simulator speaks it (synchronous; SSE when ``stream: true``).

Sources: ModelArk "Image generation API" reference and its streaming example (docs.byteplus.com/en/docs/ModelArk/
1666945 and /1824121#streaming-output, as copied in anongecko/seedream-studio
``references/SEEDREAM-4point5-api-docs.md``); the event and error shapes the official SDK reads
(``byteplussdkarkruntime``: ``ImageGenGeneratingEvent`` with ``error {code, message}``, an ``error`` in ``data``).
Tags: [doc] provider docs, [code] third-party or SDK code, [inferred] our reading.

- ``POST /api/v3/images/generations``, Bearer [doc]. ``model`` ``seedream-4-0-250828|seedream-4-5-251128`` [doc],
  ``seedream-5-0-260128`` [code]; ``prompt``; ``image`` (a URL or ``data:`` URI, or a list of ≤ 14) [doc];
  ``size`` ``1K`` (4.0 only)/``2K``/``4K`` or ``WxH`` within the model's total pixels (4.0 921,600.., 4.5 and 5.0
  3,686,400.., ..16,777,216) and aspect 1/16..16 [doc]; ``sequential_image_generation`` ``auto|disabled``
  (default disabled: one image) with ``sequential_image_generation_options.max_images`` 1..15 (default 15),
  references + outputs ≤ 15 [doc]; ``response_format`` ``url|b64_json``; ``watermark``; ``stream`` [doc].
- Non-stream reply ``{model, created, data: [{url, size} | {b64_json, size} | {error {code, message}}],
  usage {generated_images, output_tokens, total_tokens}}`` (``output_tokens`` = Σ W·H / 256) [doc].
- ``stream: true``: ``text/event-stream``; per image ``event: image_generation.partial_succeeded`` with
  ``{type, model, created, image_index, url|b64_json, size}`` — or ``image_generation.partial_failed`` with
  ``{type, model, created, image_index, error}`` for an image the content filter refused [code: SDK event] —, then
  ``image_generation.completed`` with ``usage``, then ``data: [DONE]`` [doc]. Each image event goes out
  ``generation_seconds / count`` after the last.
- Errors ``{"error": {"code", "message", "type"}}`` with 400/401/429 (``Retry-After``)/500 [doc: error codes page].
- Faults (``faults``): ``submit_errors``/``submit_429_share`` before anything, ``stream_cut_after`` (the connection
  drops after N image events), ``content_filtered`` (indexes refused), ``task_result`` ``failed`` (an internal
  error event after the first image: the rest are not made [doc]) and ``hang`` (no event, ever).

Only public ``ProviderSimulator`` methods are used here.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from .common import Reject, StreamAborted, is_int, json_response
from .jobs import admit
from .rendering import png_bytes, render_series

if TYPE_CHECKING:
    from .core import ProviderSimulator

PROVIDER = "modelark"
MIN_PIXELS = {"seedream-4-0-250828": 921_600, "seedream-4-5-251128": 3_686_400, "seedream-5-0-260128": 3_686_400}
MAX_PIXELS = 16_777_216
TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}
ERRORS = {400: "InvalidParameter", 401: "AuthenticationError", 404: "ModelNotOpen", 429: "RateLimitExceeded",
          500: "InternalServiceError"}


def error(rej: Reject, headers: dict | None = None) -> Response:
    code = rej.code or ERRORS.get(rej.status, "InternalServiceError")
    kind = "BadRequest" if rej.status < 500 else "InternalServerError"
    return json_response(rej.status, {"error": {"code": code, "message": rej.message, "type": kind}}, headers)


def parse_size(model: str, size) -> tuple[int, int]:
    """``1K|2K|4K`` (a square of that side; 1K for 4.0 only) or ``WxH`` within the model's pixel and ratio ranges."""
    size = "2048x2048" if size is None else size
    if not isinstance(size, str):
        raise Reject(400, "size must be a string")
    if size.upper() in TIERS:
        if size.upper() == "1K" and model != "seedream-4-0-250828":
            raise Reject(400, f"size 1K is not supported by {model}")
        side = TIERS[size.upper()]
        return side, side
    m = re.fullmatch(r"(\d+)[xX](\d+)", size.strip())
    if not m:
        raise Reject(400, f"size must be 1K, 2K, 4K or WxH, got {size!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not MIN_PIXELS[model] <= w * h <= MAX_PIXELS:
        raise Reject(400, f"size {size}: total pixels must be within [{MIN_PIXELS[model]}, {MAX_PIXELS}]")
    if not 1 / 16 <= w / h <= 16:
        raise Reject(400, f"size {size}: aspect ratio must be within [1/16, 16]")
    return w, h


def parse(body: dict) -> dict:
    """The task spec of a valid request body; ``Reject`` (400) otherwise."""
    model = body.get("model")
    if model not in MIN_PIXELS:
        raise Reject(404, f"The model {model!r} does not exist or you do not have access to it", code="ModelNotOpen")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Reject(400, "prompt is required")
    images = body.get("image") or []
    images = [images] if isinstance(images, str) else images
    if not isinstance(images, list) or not all(isinstance(u, str) and u for u in images) or len(images) > 14:
        raise Reject(400, "image must be a URL or data URI, or a list of at most 14")
    w, h = parse_size(model, body.get("size"))
    mode = body.get("sequential_image_generation") or "disabled"  # the official SDK sends null for "not given"
    if mode not in ("auto", "disabled"):
        raise Reject(400, "sequential_image_generation must be auto or disabled")
    wanted = (body.get("sequential_image_generation_options") or {}).get("max_images")
    wanted = 15 if wanted is None else wanted
    if not is_int(wanted) or not 1 <= wanted <= 15:
        raise Reject(400, "sequential_image_generation_options.max_images must be an integer within [1, 15]")
    count = min(wanted, 15 - len(images)) if mode == "auto" else 1
    if count < 1:
        raise Reject(400, "the number of reference images plus generated images must not exceed 15")
    if (body.get("response_format") or "url") not in ("url", "b64_json"):
        raise Reject(400, "response_format must be url or b64_json")
    for flag in ("watermark", "stream"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise Reject(400, f"{flag} must be a boolean")
    return {"model": model, "api_model": model, "prompt": prompt, "images": images, "count": count,
            "width": w, "height": h, "base64": body.get("response_format") == "b64_json",
            "stream": bool(body.get("stream")), "watermark": body.get("watermark") is not False}


def generations(sim: ProviderSimulator, request: Request) -> Response:
    """``POST /api/v3/images/generations``: an injected status, the key, the body, then the images (streamed)."""
    spec = admit(sim, PROVIDER, request, lambda req, body: parse(body), error)
    if isinstance(spec, Response):
        return spec
    task = sim.new_task(PROVIDER, spec)
    with sim.lock:
        task.update(status="processing", started_at=time.time(), streamed=0)
    if spec["stream"]:
        return Response(_stream(sim, task), status=200, content_type="text/event-stream", direct_passthrough=True,
                        headers={"Cache-Control": "no-cache"})
    events = list(_images(sim, task))
    return _reply(sim, task, events)


def _images(sim: ProviderSimulator, task: dict):
    """``(index, item)`` per image as it is made (``item``: ``{url|b64_json, size}`` or ``{error}``), then marks the
    task completed. ``task_result`` ``failed`` raises ``Reject(500)`` after the first image; ``hang`` waits until the
    simulator stops."""
    faults = task["faults"]
    if faults["task_result"] == "hang":
        while not sim.pause(0.5):
            pass
        raise StreamAborted("simulator stopping")
    seconds = sim.generation_seconds if faults["generation_seconds"] is None else faults["generation_seconds"]
    try:
        sources = sim.fetch_sources(task["images"])
    except Exception as exc:  # noqa: BLE001 - any fetch failure refuses the request, as ModelArk does
        raise Reject(400, f"failed to download input image: {exc}") from exc
    rendered = render_series(sources, task["width"], task["height"], task["count"])
    refused = set(faults["content_filtered"]) | (set(range(task["count"])) if faults["task_result"] == "nsfw" else set())
    for index, image in enumerate(rendered):
        if sim.pause(seconds / task["count"]):
            raise StreamAborted("simulator stopping")
        if index == 1 and faults["task_result"] in ("failed", "timeout"):
            raise Reject(500, "The service encountered an unexpected internal error")
        if index in refused:
            item = {"error": {"code": "OutputImageSensitiveContentDetected",
                              "message": "The generated image may contain sensitive information."}}
        else:
            blob = png_bytes(image)
            url = sim.keep_output(task["id"], index, blob)
            item = {"b64_json": base64.b64encode(blob).decode()} if task["base64"] else {"url": url}
            item["size"] = f"{task['width']}x{task['height']}"
        with sim.lock:
            task["streamed"] = index + 1
            if "url" in item:
                task["outputs"].append(item["url"])
        yield index, item
    with sim.lock:
        task.update(status="completed", completed_at=time.time())


def _usage(task: dict, items: list[dict]) -> dict:
    made = [i for i in items if "error" not in i]
    tokens = round(len(made) * task["width"] * task["height"] / 256)
    return {"generated_images": len(made), "output_tokens": tokens, "total_tokens": tokens}


def _reply(sim: ProviderSimulator, task: dict, events) -> Response:
    items = [item for _, item in events]
    return json_response(200, {"model": task["api_model"], "created": int(task["created_at"]), "data": items,
                                "usage": _usage(task, items)})


def _sse(event: str | None, data) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, indent=2)
    lines = ([f"event: {event}"] if event else []) + [f"data: {line}" for line in body.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def _stream(sim: ProviderSimulator, task: dict):
    """The SSE body: one event per image as it is made, ``completed`` with the usage, ``[DONE]``; a cut after
    ``stream_cut_after`` image events drops the connection (no terminating chunk)."""
    cut_after = task["faults"]["stream_cut_after"]
    items, sent = [], 0
    yield b""  # the 200 and its headers go out now, before the first image (werkzeug sends them with a first chunk)
    try:
        for index, item in _images(sim, task):
            if cut_after is not None and sent >= cut_after:
                with sim.lock:
                    task.update(status="failed", error="simulated stream cut")
                raise StreamAborted(f"simulated stream cut after {sent} image(s)")
            kind = "image_generation.partial_failed" if "error" in item else "image_generation.partial_succeeded"
            items.append(item)
            sent += 1
            yield _sse(kind, {"type": kind, "model": task["api_model"], "created": int(time.time()),
                              "image_index": index, **item})
    except Reject as rej:  # an internal error mid-stream: an error event, and nothing after it
        with sim.lock:
            task.update(status="failed", error=rej.message)
        yield _sse("error", {"error": {"code": ERRORS[500], "message": rej.message, "type": "InternalServerError"}})
        return
    if cut_after is not None and sent >= cut_after:
        raise StreamAborted(f"simulated stream cut after {sent} image(s)")
    yield _sse("image_generation.completed", {"type": "image_generation.completed", "model": task["api_model"],
                                              "created": int(time.time()), "usage": _usage(task, items)})
    yield _sse(None, "[DONE]")
