"""Atlas Cloud's protocol as the simulator speaks it.

Sources: Atlas Cloud model page "Seedream v4.5 Edit Sequential API by ByteDance" (code samples for
``generateImage`` and ``prediction/{id}``) and its webhook documentation; the callback body and
signature come from independent client code. Tags: [doc] provider docs, [code] third-party
clients only, [inferred] our reading.

- ``POST /api/v1/model/generateImage`` with ``model`` ``bytedance/seedream-*/edit-sequential``,
  ``prompt``, ``images``, ``max_images``, ``size``, ``enable_base64_output`` [doc], ``webhook_url`` [doc];
  reply ``data.id`` [doc]. ``GET /api/v1/model/prediction/{id}``: ``data.status``, ``outputs``, ``error``,
  ``metrics.predict_time`` [doc]. A ``timeout`` task reads ``failed`` there (the documented GET statuses
  have no timeout) but ``timeout`` in the callback payload [inferred]. Errors ``{"code","message"}`` [inferred].
- Callback body ``{session_id, event_type "image.task.terminal", status OK|ERROR, created_at (ms),
  payload{model, status completed|failed|timeout|cancelled, outputs, has_nsfw_contents}, error}`` [code;
  ``has_nsfw_contents`` as in the prediction object Atlas Cloud serves for these models, [inferred]]; header
  ``X-AtlasCloud-Webhook-Event`` [doc]; ``X-AtlasCloud-Webhook-Id``, ``-Timestamp`` (unix s),
  ``-Key-Id`` (kid), ``-Signature-Ed25519`` = base64url-no-padding Ed25519 signature over
  ``f"{timestamp}."`` + raw body [code]; public keys as an OKP/Ed25519 JWKS at
  ``/api/v1/webhooks/jwks.json`` chosen by kid [code]. The signature is expected to move to the bare
  ``X-AtlasCloud-Webhook-Signature`` once the legacy HMAC is retired [code]: the
  ``atlas_signature_header="bare"`` fault sends it there instead.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.wrappers import Request, Response

from .common import Reject, b64url, common_checks, dumps, iso, json_response, parse_star_size
from .jobs import submit_flow

if TYPE_CHECKING:
    from .core import ProviderSimulator

PROVIDER = "atlascloud"
MODELS = tuple(f"bytedance/{m}/edit-sequential" for m in ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite"))
EVENT = "image.task.terminal"
SIGNATURE_HEADERS = {"ed25519": "X-AtlasCloud-Webhook-Signature-Ed25519", "bare": "X-AtlasCloud-Webhook-Signature"}


def error(rej: Reject, headers: dict | None = None) -> Response:
    return json_response(rej.status, {"code": rej.status, "message": rej.message}, headers)


def parse(request: Request, body: dict) -> dict:
    """The task spec of a valid submit body; ``Reject`` otherwise."""
    model = body.get("model")
    if model not in MODELS:
        raise Reject(400, f"model must be one of {list(MODELS)}")
    images, count = common_checks(body, "images", "max_images")
    w, h = parse_star_size(body.get("size"))
    webhook = body.get("webhook_url")
    if webhook is not None and (not isinstance(webhook, str) or urlsplit(webhook).scheme not in ("http", "https")):
        raise Reject(400, "webhook_url must be an http(s) URL")
    if "enable_base64_output" in body and not isinstance(body["enable_base64_output"], bool):
        raise Reject(400, "enable_base64_output must be a boolean")
    return {"model": model, "api_model": model, "prompt": body["prompt"], "images": images,
            "count": count, "width": w, "height": h, "callback_url": webhook,
            "base64": bool(body.get("enable_base64_output"))}


def reply(t: dict) -> dict:
    return {"code": 200, "message": "success",
            "data": {"id": t["id"], "status": "processing", "model": t["api_model"], "outputs": [],
                     "created_at": iso(t["created_at"])}}


def status(t: dict) -> str:
    """GET statuses documented: processing|completed|succeeded|failed; a timeout reads as failed here."""
    return {"completed": "completed", "failed": "failed", "timeout": "failed"}.get(t["status"], "processing")


def view(t: dict) -> dict:
    """``data`` of ``GET /api/v1/model/prediction/{id}``."""
    st = status(t)
    return {
        "id": t["id"], "model": t["api_model"], "status": st,
        "outputs": list(t["output_refs"]) if st == "completed" else [],
        "has_nsfw_contents": [t["nsfw"]] * len(t["output_refs"]) if st == "completed" else [],
        "error": t["error"] or None,
        "metrics": {"predict_time": round((t["completed_at"] - t["started_at"]), 3)
                    if t["completed_at"] and t["started_at"] else None},
        "created_at": iso(t["created_at"]),
        "completed_at": iso(t["completed_at"]) if t["completed_at"] else None,
    }


def jwk(kid: str, key: Ed25519PrivateKey) -> dict:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64url(raw), "alg": "EdDSA", "use": "sig"}


def callback(t: dict, kid: str, key: Ed25519PrivateKey) -> tuple[bytes, dict]:
    """Body and headers of the terminal callback for ``t``, signed now with ``key`` (``kid``); the
    signature goes in the header named by the task's ``atlas_signature_header`` fault."""
    now = time.time()
    ok = t["status"] == "completed"
    obj = {"session_id": t["id"], "event_type": EVENT, "status": "OK" if ok else "ERROR",
           "created_at": int(now * 1000),
           "payload": {"model": t["api_model"], "status": t["status"], "outputs": list(t["output_refs"]) if ok else [],
                       "has_nsfw_contents": [t["nsfw"]] * len(t["output_refs"]) if ok else []},
           "error": None if ok else (t["error"] or t["status"])}
    body = dumps(obj)
    ts = str(int(now))
    signature = key.sign(f"{ts}.".encode() + body)
    return body, {"Content-Type": "application/json", "X-AtlasCloud-Webhook-Event": EVENT,
                  "X-AtlasCloud-Webhook-Id": "evt_" + secrets.token_hex(16),
                  "X-AtlasCloud-Webhook-Timestamp": ts, "X-AtlasCloud-Webhook-Key-Id": kid,
                  SIGNATURE_HEADERS[t["faults"]["atlas_signature_header"]]: b64url(signature)}


# -- endpoints ---------------------------------------------------------------------------------

def submit(sim: ProviderSimulator, request: Request) -> Response:
    return submit_flow(sim, PROVIDER, request, parse, reply, error)


def result(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    authorized = sim.authorized(request, PROVIDER)
    data = sim.status_read(PROVIDER, id, authorized, view)
    if not authorized:
        return error(Reject(401, "Unauthorized"))
    if data is None:
        return error(Reject(404, "prediction not found"))
    return json_response(200, {"code": 200, "message": "success", "data": data})


def jwks(sim: ProviderSimulator, request: Request) -> Response:
    with sim.lock:
        sim.jwks_fetches += 1
    return json_response(200, sim.atlas_jwks(), {"Cache-Control": "public, max-age=300"})
