"""fal.ai's queue protocol as the simulator speaks it.

Sources: fal.ai's model API reference pages (``fal.ai/docs/model-api-reference/image-generation-api/
bytedance-seedream-v4``, ``-v4.5``, ``-v5-lite``) and ``llms.txt`` model pages, its queue docs
(``fal.ai/docs/inference-api/queue/cancel``), its webhook docs (``docs.fal.ai/model-apis/model-endpoints/webhooks``)
and its Python client ``fal-client`` 1.0.3 (what it sends and reads). Tags: [doc] fal's docs, [code] third-party
clients only, [inferred] our reading.

- ``POST /fal-ai/bytedance/seedream/{v4,v4.5,v5/lite}/edit[?fal_webhook=<url>]``, ``Authorization: Key <key>`` [doc].
  Body ``prompt`` (required), ``image_urls`` (≤ 10), ``image_size`` (``{"width","height"}`` or a preset; an area
  under the endpoint's minimum is scaled up keeping the aspect ratio [doc]), ``num_images`` and ``max_images``
  (1..6 each [doc]; more is refused 422 with a pydantic-style ``detail`` list [inferred: fal's validation shape]),
  ``seed``. The series has ``num_images × max_images`` images (the upper bound the docs give) and inputs +
  outputs ≤ 15 [doc].
- Reply ``{"request_id", "response_url", "status_url", "cancel_url", "queue_position"}`` [doc; fal-client reads
  these four]; the URLs are ``{base}/fal-ai/bytedance/requests/{request_id}[/status|/cancel]`` (the app's
  owner/alias, without the endpoint path [doc: queue/cancel]).
- ``GET …/status`` → ``{"status": "IN_QUEUE"|"IN_PROGRESS"|"COMPLETED", "response_url", …}`` (+ ``error`` for a
  failed request); ``GET …/requests/{id}`` → the result ``{"images": [{"url", "content_type", "width", "height",
  …}], "seed"}``, 400 while it runs, 422 ``{"detail"}`` for a failed request [inferred].
- ``PUT …/cancel`` → 202 ``{"status": "CANCELLATION_REQUESTED"}``, 400 ``ALREADY_COMPLETED``, 404 ``NOT_FOUND`` [doc];
  every cancel is logged in ``sim.fal_cancels``; a cancelled request fails and its webhook says ERROR.
- Webhook [doc]: ``{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error",
  "payload_error"}``; headers ``X-Fal-Webhook-Request-Id``, ``-User-Id``, ``-Timestamp``, ``-Signature`` = hex of
  the Ed25519 signature over ``request_id\\nuser_id\\ntimestamp\\nsha256_hex(body)`` [code]; public keys as a JWKS
  at ``/.well-known/jwks.json`` [code]. The ``fal_delivery`` fault sends ``error`` (status ERROR) or
  ``payload_error`` (status OK, ``payload: null``) deliveries for a request that completed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.wrappers import Request, Response

from .atlascloud import jwk
from .common import TERMINAL, Reject, dumps, is_int, json_response
from .jobs import submit_flow

if TYPE_CHECKING:
    from .core import ProviderSimulator

PROVIDER = "fal"
ENDPOINTS = {"v4/edit": ("seedream-v4", 921_600, (2048, 2048)), "v4.5/edit": ("seedream-v4.5", 3_686_400, (2048, 2048)),
             "v5/lite/edit": ("seedream-v5.0-lite", 3_686_400, (2048, 2048))}
"""Endpoint path after ``fal-ai/bytedance/seedream/`` → (model, minimum area in pixels, default size)."""
PRESETS = {"square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024), "portrait_16_9": (576, 1024),
           "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576), "auto": (2048, 2048),
           "auto_2K": (2048, 2048), "auto_3K": (3072, 3072), "auto_4K": (4096, 4096)}
MAX_PER_FIELD = 6
APP = "fal-ai/bytedance"


def key_ok(sim: ProviderSimulator, request: Request) -> bool:
    """``Authorization: Key <key>`` (fal's scheme [doc]), compared in constant time."""
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return scheme == "Key" and secrets.compare_digest(token.strip().encode(), sim.keys[PROVIDER]["api_key"].encode())


def error(rej: Reject, headers: dict | None = None) -> Response:
    """fal's error shape: ``{"detail": message}``, or for a 422 a validation list naming the field (``rej.code``)."""
    if rej.status == 422:
        body = {"detail": [{"loc": ["body", rej.code or "body"], "msg": rej.message, "type": "value_error"}]}
    else:
        body = {"detail": rej.message}
    return json_response(rej.status, body, headers)


def size_of(value, minimum: int, default: tuple[int, int]) -> tuple[int, int]:
    """``image_size`` as W×H: a preset or ``{"width","height"}``; an area under ``minimum`` is scaled up, keeping
    the aspect ratio [doc]."""
    if value is None:
        w, h = default
    elif isinstance(value, str) and value in PRESETS:
        w, h = PRESETS[value]
    elif isinstance(value, dict) and is_int(value.get("width")) and is_int(value.get("height")):
        w, h = value["width"], value["height"]
        if not (1 <= w <= 14142 and 1 <= h <= 14142):
            raise Reject(422, "width and height must be within 1..14142", "image_size")
    else:
        raise Reject(422, f"image_size must be a preset {sorted(PRESETS)} or {{width, height}}", "image_size")
    if w * h < minimum:
        scale = (minimum / (w * h)) ** 0.5
        w, h = int(w * scale + 0.999), int(h * scale + 0.999)
    return w, h


def parse(endpoint: str, request: Request, body: dict) -> dict:
    """The task spec of a valid submit body; ``Reject`` (422, fal's validation) otherwise."""
    model, minimum, default = ENDPOINTS[endpoint]
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Reject(422, "field required", "prompt")
    images = body.get("image_urls")
    if not isinstance(images, list) or not images or not all(isinstance(u, str) and u for u in images):
        raise Reject(422, "image_urls must be a non-empty list of URLs", "image_urls")
    if len(images) > 10:
        raise Reject(422, "at most 10 image inputs are allowed", "image_urls")
    counts = {}
    for field in ("num_images", "max_images"):
        value = body.get(field, 1)
        if not is_int(value) or not 1 <= value <= MAX_PER_FIELD:
            raise Reject(422, f"ensure this value is less than or equal to {MAX_PER_FIELD} (and at least 1)", field)
        counts[field] = value
    count = counts["num_images"] * counts["max_images"]
    if len(images) + count > 15:
        raise Reject(422, "the total number of images (image inputs + image outputs) must not exceed 15", "max_images")
    if "seed" in body and body["seed"] is not None and not is_int(body["seed"]):
        raise Reject(422, "seed must be an integer", "seed")
    w, h = size_of(body.get("image_size"), minimum, default)
    webhook = request.args.get("fal_webhook")
    if webhook is not None and urlsplit(webhook).scheme not in ("http", "https"):
        raise Reject(400, "fal_webhook must be an http(s) URL")
    return {"model": model, "api_model": f"fal-ai/bytedance/seedream/{endpoint}", "prompt": prompt, "images": images,
            "count": count, "width": w, "height": h, "callback_url": webhook}


def urls(sim: ProviderSimulator, request_id: str) -> dict:
    """The queue URLs of a request, as fal returns them (the app's owner/alias, not the endpoint path)."""
    base = f"{sim.base_url}/{APP}/requests/{request_id}"
    return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}


def queue_status(t: dict) -> str:
    if t["status"] in TERMINAL:
        return "COMPLETED"
    return "IN_PROGRESS" if t["status"] == "processing" else "IN_QUEUE"


def images(t: dict) -> list[dict]:
    return [{"url": url, "content_type": "image/png", "file_name": f"{i}.png", "width": t["width"],
             "height": t["height"]} for i, url in enumerate(t["output_refs"])]


def callback(sim: ProviderSimulator, t: dict, key: Ed25519PrivateKey) -> tuple[bytes, dict]:
    """Body and freshly signed headers of the webhook for ``t``'s end; the ``fal_delivery`` fault bends a success
    into an ``error`` or ``payload_error`` delivery. Call under the lock."""
    ok, mode = t["status"] == "completed", t["faults"]["fal_delivery"]
    obj = {"request_id": t["id"], "gateway_request_id": t["id"], "status": "OK", "payload": None, "error": None,
           "payload_error": None}
    if ok and mode == "payload_error":
        obj["payload_error"] = "Failed to serialize the response payload"
    elif ok and mode == "error":
        obj.update(status="ERROR", error="Invalid status code: 422", payload={"detail": [
            {"loc": ["body"], "msg": "simulated fal ERROR delivery", "type": "value_error"}]})
    elif ok:
        obj["payload"] = {"images": images(t), "seed": t.get("seed") or 42}
    else:
        obj.update(status="ERROR", error=f"Invalid status code: 500 ({t['error'] or t['status']})",
                   payload={"detail": t["error"] or t["status"]})
    body = dumps(obj)
    ts = str(int(time.time()))
    user_id = sim.fal_user_id
    message = "\n".join((t["id"], user_id, ts, hashlib.sha256(body).hexdigest())).encode()
    return body, {"Content-Type": "application/json", "X-Fal-Webhook-Request-Id": t["id"],
                  "X-Fal-Webhook-User-Id": user_id, "X-Fal-Webhook-Timestamp": ts,
                  "X-Fal-Webhook-Signature": key.sign(message).hex()}


# -- endpoints ---------------------------------------------------------------------------------

def submit(sim: ProviderSimulator, request: Request, endpoint: str) -> Response:
    if endpoint not in ENDPOINTS:
        return error(Reject(404, f"Application 'seedream/{endpoint}' not found"))

    def reply(t: dict) -> dict:
        return {"request_id": t["id"], "status": "IN_QUEUE", "queue_position": 0, **urls(sim, t["id"])}

    return submit_flow(sim, PROVIDER, request, lambda req, body: parse(endpoint, req, body), reply, error,
                       authorized=lambda req: key_ok(sim, req))


def status(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    authorized = key_ok(sim, request)

    def view(t: dict) -> dict:
        answer = {"status": queue_status(t), "request_id": t["id"], "response_url": urls(sim, t["id"])["response_url"],
                  "logs": None}
        if answer["status"] == "IN_QUEUE":
            answer["queue_position"] = 0
        if answer["status"] == "COMPLETED" and t["status"] != "completed":
            answer["error"], answer["error_type"] = t["error"] or t["status"], "request_error"
        return answer

    data = sim.status_read(PROVIDER, id, authorized, view)
    if not authorized:
        return error(Reject(401, "Invalid authentication"))
    if data is None:
        return error(Reject(404, "Request not found"))
    return json_response(200, data)


def result(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    authorized = key_ok(sim, request)
    data = sim.status_read(PROVIDER, id, authorized, lambda t: dict(t))
    if not authorized:
        return error(Reject(401, "Invalid authentication"))
    if data is None:
        return error(Reject(404, "Request not found"))
    if data["status"] not in TERMINAL:
        return error(Reject(400, "Request is still in progress"))
    if data["status"] != "completed":
        return error(Reject(422, data["error"] or data["status"], "body"))
    return json_response(200, {"images": images(data), "seed": data.get("seed") or 42})


def cancel(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    authorized = key_ok(sim, request)
    with sim.lock:
        task = sim.tasks.get(id) if authorized else None
        if task is not None and task["provider"] != PROVIDER:
            task = None
        answer = "NOT_FOUND" if task is None else "ALREADY_COMPLETED" if task["status"] in TERMINAL \
            else "CANCELLATION_REQUESTED"
        if answer == "CANCELLATION_REQUESTED":
            task["cancel_requested"] = True
        sim.fal_cancels.append({"request_id": id, "method": request.method, "answer": answer, "at": time.time(),
                                "authorized": authorized})
    if not authorized:
        return error(Reject(401, "Invalid authentication"))
    code = {"CANCELLATION_REQUESTED": 202, "ALREADY_COMPLETED": 400, "NOT_FOUND": 404}[answer]
    return json_response(code, {"status": answer})


def jwks(sim: ProviderSimulator, request: Request) -> Response:
    with sim.lock:
        sim.fal_jwks_fetches += 1
    return json_response(200, sim.fal_jwks(), {"Cache-Control": "public, max-age=86400"})


def public_jwk(kid: str, key: Ed25519PrivateKey) -> dict:
    """A JWK of the public key (fal's JWKS entries are OKP/Ed25519 with ``x``)."""
    return jwk(kid, key)
