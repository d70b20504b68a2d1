"""evolink's protocol as the simulator speaks it.

Sources: evolink's "Seedream 4 API" page (the "evolink page": ``POST /v1/images/generations``
reference and response example) and its task API (``GET /v1/tasks/{id}``). Tags: [doc] provider
docs, [code] third-party clients only, [inferred] our reading.

- ``POST /v1/images/generations``, Bearer [doc]; ``model`` ``doubao-seedream-4.0|4.5`` [doc], 5.0-lite id
  unknown (configurable: ``evolink_models``); ``prompt``, ``n`` 1..15 with references + outputs ≤ 15,
  ``size`` ``1K|2K|4K|WxH`` or a ratio with ``quality``, ``image_urls`` ≤ 10, ``prompt_priority``
  ``standard|fast``, ``callback_url`` (HTTPS, ≤ 2048 chars, no internal IPs) [doc]. Because we are
  local, ``http://`` to a loopback host is accepted too (deviation on purpose).
- Reply ``{created, id "task-unified-<unix>-<8 alnum>", model, object "image.generation.task", progress 0,
  status "pending", task_info, type "image", usage}`` (evolink page, response example) [doc].
- ``GET /v1/tasks/{id}`` → task object with ``status`` pending|processing|completed|failed, ``progress``,
  ``results`` [doc]. Callback body = that task object, no signature [doc]. Errors
  ``{"error":{"code","message","type"}}`` with 400/401/402/403/429/500 [doc].
- Ratio sizes: W×H ≈ quality² area at the ratio, rounded to multiples of 16 [inferred]; ``auto`` → square.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from .common import Reject, common_checks, dumps, is_loopback_host, json_response
from .jobs import submit_flow

if TYPE_CHECKING:
    from .core import ProviderSimulator

PROVIDER = "evolink"
FIXED_MODELS = ("doubao-seedream-4.0", "doubao-seedream-4.5")
TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}
ERRORS = {
    400: ("invalid_request", "invalid_request_error"),
    401: ("unauthorized", "authentication_error"),
    402: ("insufficient_quota", "insufficient_quota_error"),
    403: ("permission_denied", "permission_error"),
    404: ("not_found", "invalid_request_error"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
}


def error_body(status: int, message: str, code: str | None = None) -> dict:
    default_code, kind = ERRORS.get(status, ("internal_error", "api_error"))
    return {"error": {"code": code or default_code, "message": message, "type": kind}}


def error(rej: Reject, headers: dict | None = None) -> Response:
    return json_response(rej.status, error_body(rej.status, rej.message, rej.code), headers)


def parse_size(size, quality) -> tuple[int, int]:
    quality = "2K" if quality is None else quality
    if quality not in TIERS:
        raise Reject(400, "quality must be one of 1K, 2K, 4K")
    if size is None or size == "auto":
        side = TIERS[quality]
        return side, side
    if not isinstance(size, str):
        raise Reject(400, "size must be a string")
    if size.upper() in TIERS:
        side = TIERS[size.upper()]
        return side, side
    m = re.fullmatch(r"(\d+)[xX×](\d+)", size.strip())
    if m:
        w, h = int(m.group(1)), int(m.group(2))
        if not (1 <= w <= 8192 and 1 <= h <= 8192) or w * h > 4096 * 4096:
            raise Reject(400, f"size {size}: sides up to 8192 and at most 4096x4096 pixels")
        if not (1 / 16 <= w / h <= 16):
            raise Reject(400, f"size {size}: aspect ratio out of range")
        return w, h
    m = re.fullmatch(r"(\d+):(\d+)", size.strip())
    if m and int(m.group(1)) > 0 and int(m.group(2)) > 0:
        ratio = int(m.group(1)) / int(m.group(2))
        if not (1 / 3 <= ratio <= 3):
            raise Reject(400, f"size {size}: aspect ratio must be within 1:3 .. 3:1")
        area = TIERS[quality] ** 2
        w = max(16, int(round(math.sqrt(area * ratio) / 16)) * 16)
        h = max(16, int(round(math.sqrt(area / ratio) / 16)) * 16)
        return w, h
    raise Reject(400, f"size must be 1K, 2K, 4K, WxH or a ratio like 16:9, got {size!r}")


def check_callback_url(url) -> None:
    if not isinstance(url, str) or len(url) > 2048:
        raise Reject(400, "callback_url must be a URL of at most 2048 characters")
    parts = urlsplit(url)
    if parts.scheme == "http":
        if not is_loopback_host(parts.hostname):
            raise Reject(400, "callback_url must use HTTPS")
    elif parts.scheme == "https":
        try:
            ip = ipaddress.ip_address(parts.hostname or "")
        except ValueError:
            ip = None
        if ip is not None and not ip.is_loopback and (ip.is_private or ip.is_link_local or ip.is_reserved):
            raise Reject(400, "callback_url must not point to an internal address")
        if not parts.hostname:
            raise Reject(400, "callback_url has no host")
    else:
        raise Reject(400, "callback_url must use HTTPS")


def parse(models: set[str], body: dict) -> dict:
    """The task spec of a valid submit body (``models``: accepted 5.0-lite ids); ``Reject`` otherwise."""
    model = body.get("model", "doubao-seedream-4.0")
    if model not in FIXED_MODELS and model not in models:
        raise Reject(400, f"model {model!r} is not supported", code="model_not_found")
    images, count = common_checks(body, "image_urls", "n")
    if len(images) + count > 15:
        raise Reject(400, "reference images + generated images must not exceed 15")
    w, h = parse_size(body.get("size"), body.get("quality"))
    if body.get("prompt_priority", "standard") not in ("standard", "fast"):
        raise Reject(400, "prompt_priority must be standard or fast")
    callback_url = body.get("callback_url")
    if callback_url is not None:
        check_callback_url(callback_url)
    return {"model": model, "api_model": model, "prompt": body["prompt"], "images": images,
            "count": count, "width": w, "height": h, "callback_url": callback_url, "base64": False}


def reply(t: dict) -> dict:
    return {"created": int(t["created_at"]), "id": t["id"], "model": t["api_model"],
            "object": "image.generation.task", "progress": 0, "status": "pending",
            "task_info": {"can_cancel": True, "estimated_time": 45}, "type": "image",
            "usage": {"billing_rule": "per_call", "credits_reserved": 1.8, "user_group": "default"}}


def view(t: dict) -> dict:
    """The task object: ``GET /v1/tasks/{id}`` and the callback body."""
    status = {"created": "pending", "processing": "processing", "completed": "completed"}.get(t["status"], "failed")
    progress = {"pending": 0, "processing": 50, "completed": 100, "failed": 100}[status]
    error = None
    if status == "failed":
        error = {"code": "task_timeout" if t["status"] == "timeout" else "generation_failed",
                 "message": t["error"] or "generation failed"}
    return {"id": t["id"], "object": "image.generation.task", "model": t["api_model"], "status": status,
            "progress": progress, "created": int(t["created_at"]),
            "results": list(t["output_refs"]) if status == "completed" else [],
            "error": error, "type": "image", "task_info": {"can_cancel": status == "pending", "estimated_time": 45}}


def callback(t: dict) -> tuple[bytes, dict]:
    """The callback: the task object, unsigned."""
    return dumps(view(t)), {"Content-Type": "application/json"}


# -- endpoints ---------------------------------------------------------------------------------

def submit(sim: ProviderSimulator, request: Request) -> Response:
    return submit_flow(sim, PROVIDER, request, lambda req, body: parse(sim.evolink_models, body), reply, error)


def task(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    authorized = sim.authorized(request, PROVIDER)
    data = sim.status_read(PROVIDER, id, authorized, view)
    if not authorized:
        return error(Reject(401, "Invalid API key"))
    if data is None:
        return error(Reject(404, f"task {id} not found", code="task_not_found"))
    return json_response(200, data)
