"""Replicate's protocol as the simulator speaks it (the models ``bytedance/seedream-4`` and ``bytedance/seedream-4.5``).

Sources: replicate.com model API pages for bytedance/seedream-4 and bytedance/seedream-4.5 (input and output
schema), replicate.com/docs/topics/webhooks/receive-webhook and /verify-webhook, Replicate's HTTP API reference
(predictions.get, webhooks.default.secret). Tags: [doc] provider docs, [code] third-party clients only, [inferred]
our reading.

- ``POST /v1/models/bytedance/{seedream-4|seedream-4.5}/predictions``, ``Authorization: Bearer <token>`` [doc];
  body ``{"input": {prompt (required), image_input (seedream-4: ≤ 10, 4.5: ≤ 14), size ("1K"|"2K"|"4K"|"custom",
  default "2K"; 4.5 has no "1K"), aspect_ratio (default "match_input_image"), width/height (1024..4096, with
  "custom"), sequential_image_generation ("disabled"|"auto"), max_images (1..15, references + outputs ≤ 15)},
  "webhook", "webhook_events_filter"}`` [doc]. A named size renders ``N×N`` at ``1:1`` (and, as an approximation,
  for any other ratio [inferred]); "disabled" makes one image.
- Reply 201 with the prediction object ``{id, model, version, input, logs, output, data_removed, error, status,
  created_at, started_at, completed_at, urls: {get, cancel, stream}, metrics}``; status ``starting`` →
  ``processing`` → ``succeeded``|``failed``|``canceled`` [doc]. The ``version`` of an official model is the
  ``hidden`` placeholder its API pages show [inferred]. Errors: ``{"title", "detail", "status"}`` (problem JSON)
  [doc: HTTP API reference]; an unknown model is a 404, invalid input a 422.
- ``GET /v1/predictions/{id}``: the prediction object [doc]. ``GET /v1/webhooks/default/secret`` → ``{"key":
  "whsec_…"}`` [doc].
- Webhook: the prediction object, signed as **Standard Webhooks** (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature: v1,<base64>``) with the ``standardwebhooks`` library [doc]; sent for the ``completed``
  event when the filter names it (the simulator sends no ``start``/``output``/``logs`` events of its own). A
  failed, timed-out or NSFW task is ``failed`` with an error [inferred for the wording].
- Outputs: an array of URLs, deleted an hour after completion [doc]: served until ``sim.replicate_output_seconds``
  after completion, 404 after [inferred: the status of a deleted file].
- Faults: every switch of ``faults``; ``callback="out_of_order"`` sends the ``completed`` message twice (its retry,
  same ``webhook-id``) and then a late ``processing`` one (``delivery``).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook
from werkzeug.wrappers import Request, Response

from .common import TERMINAL, Reject, dumps, is_int, iso, json_response
from .jobs import submit_flow

if TYPE_CHECKING:
    from .core import ProviderSimulator

PROVIDER = "replicate"
MODELS = {"seedream-4": ("seedream-v4", 10, ("1K", "2K", "4K", "custom")),
          "seedream-4.5": ("seedream-v4.5", 14, ("2K", "4K", "custom"))}
"""Replicate model name → (our model, most source images, sizes) [doc: the model pages]."""
NAMED = {"1K": 1024, "2K": 2048, "4K": 4096}
STATUS = {"created": "starting", "processing": "processing", "completed": "succeeded", "failed": "failed",
          "timeout": "failed"}
EVENTS = ("start", "output", "logs", "completed")


def error(rej: Reject, headers: dict | None = None) -> Response:
    """Replicate's problem JSON ``{"title", "detail", "status"}``."""
    return json_response(rej.status, {"title": rej.message.split(":")[0], "detail": rej.message,
                                      "status": rej.status}, headers)


def view(sim: ProviderSimulator, t: dict, status: str | None = None) -> dict:
    """The prediction object of ``t`` (``status`` overrides a terminal one: the late ``processing`` event)."""
    shown = status or ("canceled" if t.get("canceled") else "failed" if t["nsfw"] else STATUS[t["status"]])
    done = shown == "succeeded"
    error_text = None
    if shown == "failed":
        error_text = "The input or output was flagged as sensitive. (E005)" if t["nsfw"] else t["error"] or "failed"
    base = f"{sim.base_url}/v1/predictions/{t['id']}"
    return {
        "id": t["id"], "model": t["api_model"], "version": "hidden", "input": t["protocol"]["input"],
        "logs": "", "output": list(t["output_refs"]) if done else None, "data_removed": False, "error": error_text,
        "status": shown, "created_at": iso(t["created_at"]),
        "started_at": iso(t["started_at"]) if t["started_at"] else None,
        "completed_at": iso(t["completed_at"]) if t["completed_at"] and not status else None,
        "urls": {"get": base, "cancel": f"{base}/cancel", "stream": f"{base}/stream"},
        "metrics": {"predict_time": round(t["completed_at"] - t["started_at"], 3)} if done and t["started_at"] else {},
    }


def _size(model: str, sizes: tuple[str, ...], spec: dict) -> tuple[int, int]:
    size = spec.get("size", "2K")
    if size not in sizes:
        raise Reject(422, f"input.size: {size!r} is not one of {list(sizes)} for bytedance/{model}")
    if size != "custom":
        return NAMED[size], NAMED[size]
    w, h = spec.get("width", 2048), spec.get("height", 2048)
    if not (is_int(w) and is_int(h) and 1024 <= w <= 4096 and 1024 <= h <= 4096):
        raise Reject(422, "input.width and input.height must be integers within 1024..4096")
    return w, h


def parse(model: str, body: dict, output_seconds: float) -> dict:
    """The task spec of a valid prediction request (its outputs served ``output_seconds`` after completion);
    ``Reject`` (422) otherwise."""
    ours, max_sources, sizes = MODELS[model]
    spec = body.get("input")
    if not isinstance(spec, dict):
        raise Reject(422, "input: input is required and must be an object")
    prompt = spec.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Reject(422, "input.prompt: prompt is required")
    images = spec.get("image_input", [])
    if not isinstance(images, list) or not all(isinstance(u, str) and u for u in images):
        raise Reject(422, "input.image_input: must be an array of URLs")
    if len(images) > max_sources:
        raise Reject(422, f"input.image_input: at most {max_sources} images for bytedance/{model}")
    mode = spec.get("sequential_image_generation", "disabled")
    if mode not in ("disabled", "auto"):
        raise Reject(422, "input.sequential_image_generation: must be disabled or auto")
    count = spec.get("max_images", 1)
    if not is_int(count) or not 1 <= count <= 15:
        raise Reject(422, "input.max_images: must be an integer within 1..15")
    if len(images) + count > 15:
        raise Reject(422, "input.max_images: total images (input + generated) cannot exceed 15")
    w, h = _size(model, sizes, spec)
    webhook = body.get("webhook")
    if webhook is not None and urlsplit(str(webhook)).scheme not in ("http", "https"):
        raise Reject(422, "webhook: must be an http(s) URL")
    events = body.get("webhook_events_filter", list(EVENTS))
    if not isinstance(events, list) or any(event not in EVENTS for event in events):
        raise Reject(422, f"webhook_events_filter: each must be one of {list(EVENTS)}")
    return {"model": ours, "api_model": f"bytedance/{model}", "prompt": prompt, "images": images,
            "count": count if mode == "auto" else 1, "width": w, "height": h, "callback_url": webhook,
            "protocol": {"input": spec, "events_filter": events, "output_seconds": output_seconds}}


def callback(sim: ProviderSimulator, t: dict, status: str | None = None) -> tuple[bytes, dict]:
    """Body and freshly signed Standard Webhooks headers of the webhook for ``t``'s current state (``status``: the
    late ``processing`` event of ``callback="out_of_order"``). Call under the lock."""
    body = dumps(view(sim, t, status))
    webhook_id = "msg_" + secrets.token_hex(12)
    moment = datetime.now(UTC)
    signature = Webhook(sim.keys[PROVIDER]["webhook_secret"]).sign(webhook_id, moment, body.decode())
    timestamp = str(int(moment.timestamp()))  # the library signs the floored second
    return body, {"Content-Type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": timestamp,
                  "webhook-signature": signature}


# -- endpoints ---------------------------------------------------------------------------------

def submit(sim: ProviderSimulator, request: Request, owner: str, model: str) -> Response:
    """``POST /v1/models/{owner}/{model}/predictions``: 201 with the prediction object."""
    if owner != "bytedance" or model not in MODELS:
        return error(Reject(404, f"Not found: model {owner}/{model} does not exist"))
    lifetime = float(sim.replicate_output_seconds)
    answer = submit_flow(sim, PROVIDER, request, lambda req, body: parse(model, body, lifetime),
                         lambda t: view(sim, t), error)
    if answer.status_code == 200:
        answer.status = "201 Created"
    return answer


def prediction(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    """``GET /v1/predictions/{id}``: the prediction object (counted as a status read)."""
    authorized = sim.authorized(request, PROVIDER)
    data = sim.status_read(PROVIDER, id, authorized, lambda t: view(sim, t))
    if not authorized:
        return error(Reject(401, "Unauthenticated: you did not pass a valid authentication token"))
    if data is None:
        return error(Reject(404, "Not found: the prediction does not exist"))
    return json_response(200, data)


def cancel(sim: ProviderSimulator, request: Request, id: str) -> Response:  # noqa: A002
    """``POST /v1/predictions/{id}/cancel``: a prediction still running stops and becomes ``canceled``; one that had
    ended keeps its status. Answers the prediction object (recorded in ``sim.replicate_cancels``)."""
    if not sim.authorized(request, PROVIDER):
        return error(Reject(401, "Unauthenticated: you did not pass a valid authentication token"))
    with sim.lock:
        task = sim.tasks.get(id)
        if task is None or task["provider"] != PROVIDER:
            return error(Reject(404, "Not found: the prediction does not exist"))
        if task["status"] not in TERMINAL:
            task.update(cancel_requested=True, canceled=True)
        sim.replicate_cancels.append({"id": id, "status": "canceled" if task.get("canceled") else task["status"]})
        data = view(sim, task)
    return json_response(200, data)


def secret(sim: ProviderSimulator, request: Request) -> Response:
    """``GET /v1/webhooks/default/secret`` → ``{"key": "whsec_..."}``."""
    if not sim.authorized(request, PROVIDER):
        return error(Reject(401, "Unauthenticated: you did not pass a valid authentication token"))
    return json_response(200, {"key": sim.keys[PROVIDER]["webhook_secret"]})
