"""WaveSpeed's protocol as the simulator speaks it.

Sources: WaveSpeed API docs, "Bytedance Seedream V4 Edit Sequential" (the "WaveSpeed page",
https://wavespeed.ai/docs/docs-api/bytedance/bytedance-seedream-v4-edit-sequential) and "Webhooks"
(https://wavespeed.ai/docs/docs-api/webhooks). Tags: [doc] provider docs, [code] third-party
clients only, [inferred] our reading.

- ``POST /api/v3/bytedance/{model}/edit-sequential?webhook=<url-encoded url>``, model
  ``seedream-v4`` / ``seedream-v4.5`` [doc] / ``seedream-v5.0-lite`` [code]; ``Authorization: Bearer``.
- Body ``prompt`` (required), ``images`` (≤ 10), ``size`` ``"W*H"`` (default ``2048*2048``,
  1024..4096 per side), ``max_images`` (1..15, default 1), ``enable_base64_output``,
  ``enable_sync_mode`` (WaveSpeed page, parameter table) [doc]; ``seed`` (page, "How to use" step 5).
- Reply ``{"code":200,"message":"success","data":{id, model, outputs, urls.get, has_nsfw_contents,
  status "created", created_at, error, timings.inference}}`` [doc]. Errors ``{"code","message"}``:
  same wrapper shape [inferred].
- ``GET /api/v3/predictions/{id}/result``: same ``data``; status created|processing|completed|failed
  [doc], ``timeout`` from newer docs. ``GET /api/v3/webhook/secret`` → ``{"data":{"secret"}}`` [doc
  path, code reply].
- Callback: the prediction object itself (not wrapped) plus ``executionTime`` [doc]; headers
  ``webhook-id``, ``webhook-timestamp`` (unix s), ``webhook-signature: v3,<hex>`` with
  hex = HMAC-SHA256(key = secret minus ``whsec_`` as UTF-8 text, NOT base64-decoded;
  message = ``f"{id}.{timestamp}."`` + raw body) [doc]. Retried up to 3 times with backoff [doc].
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from .common import Reject, common_checks, dumps, is_int, iso, json_response, parse_star_size
from .jobs import submit_flow

if TYPE_CHECKING:
    from .core import ProviderSimulator

PROVIDER = "wavespeed"
MODELS = ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite")


def error(rej: Reject, headers: dict | None = None) -> Response:
    return json_response(rej.status, {"code": rej.status, "message": rej.message}, headers)


def view(t: dict, base_url: str) -> dict:
    """The prediction object: ``data`` of the submit reply and of ``/result``, and the callback body."""
    done = t["status"] == "completed"
    inference_ms = 0
    if t["started_at"] and t["completed_at"]:
        inference_ms = int(round((t["completed_at"] - t["started_at"]) * 1000))
    return {
        "id": t["id"], "model": t["api_model"],
        "outputs": list(t["output_refs"]) if done else [],
        "urls": {"get": f"{base_url}/api/v3/predictions/{t['id']}/result"},
        "has_nsfw_contents": [t["nsfw"]] * len(t["output_refs"]) if done else [],
        "status": t["status"], "created_at": iso(t["created_at"]), "error": t["error"] or "",
        "timings": {"inference": inference_ms},
    }


def parse(model: str, request: Request, body: dict) -> dict:
    """The task spec of a valid submit body; ``Reject`` otherwise."""
    images, count = common_checks(body, "images", "max_images")
    w, h = parse_star_size(body.get("size"))
    for flag in ("enable_base64_output", "enable_sync_mode"):
        if flag in body and not isinstance(body[flag], bool):
            raise Reject(400, f"{flag} must be a boolean")
    if "seed" in body and body["seed"] is not None and not is_int(body["seed"]):
        raise Reject(400, "seed must be an integer")
    webhook = request.args.get("webhook")
    if webhook is not None and urlsplit(webhook).scheme not in ("http", "https"):
        raise Reject(400, "webhook must be an http(s) URL")
    return {"model": model, "api_model": f"bytedance/{model}/edit-sequential", "prompt": body["prompt"],
            "images": images, "count": count, "width": w, "height": h, "callback_url": webhook,
            "base64": bool(body.get("enable_base64_output")), "sync": bool(body.get("enable_sync_mode"))}


def callback(sim: ProviderSimulator, t: dict, status: str | None = None) -> tuple[bytes, dict]:
    """Body and freshly signed headers of the callback for ``t``'s current state; ``status`` overrides
    the reported status (the stale ``processing`` of ``callback="out_of_order"``). Call under the lock."""
    obj = view(t, sim.base_url)
    if status:
        obj.update(status=status, outputs=[], has_nsfw_contents=[], error="")
    obj["executionTime"] = obj["timings"]["inference"]
    body = dumps(obj)
    webhook_id = "msg_" + secrets.token_hex(16)
    ts = str(int(time.time()))
    key = sim.keys[PROVIDER]["webhook_secret"].removeprefix("whsec_").encode("utf-8")
    sig = hmac.new(key, f"{webhook_id}.{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": ts,
                  "webhook-signature": f"v3,{sig}"}


# -- endpoints ---------------------------------------------------------------------------------

def submit(sim: ProviderSimulator, request: Request, model: str) -> Response:
    if model not in MODELS:
        sim.record_submit(PROVIDER, request, None, 404)
        return error(Reject(404, f"model bytedance/{model}/edit-sequential not found"))
    return submit_flow(sim, PROVIDER, request, lambda req, body: parse(model, req, body),
                       lambda t: {"code": 200, "message": "success", "data": view(t, sim.base_url)}, error)


def result(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    authorized = sim.authorized(request, PROVIDER)
    data = sim.status_read(PROVIDER, id, authorized, lambda t: view(t, sim.base_url))
    if not authorized:
        return error(Reject(401, "Unauthorized"))
    if data is None:
        return error(Reject(404, "prediction not found"))
    return json_response(200, {"code": 200, "message": "success", "data": data})


def secret(sim: ProviderSimulator, request: Request) -> Response:
    if not sim.authorized(request, PROVIDER):
        return error(Reject(401, "Unauthorized"))
    return json_response(200, {"code": 200, "message": "success",
                               "data": {"secret": sim.keys[PROVIDER]["webhook_secret"]}})
