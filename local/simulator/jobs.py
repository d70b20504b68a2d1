"""Task flow common to the three providers: the submit sequence and the generation job.

Submit: an injected status first (``submit_errors``, or a 429 for a ``submit_429_share``), then the Bearer key, the JSON body, the
provider's own validation, task creation (faults captured), reply. The job then waits the
generation time, downloads the inputs, renders the series (or applies ``task_result``) and hands
over to ``delivery`` for the callback. ``task_result="hang"`` leaves the task ``processing``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from .common import Reject, json_object, json_response
from .delivery import deliver_callbacks
from .rendering import fetch_image, png_bytes, render_series

if TYPE_CHECKING:
    from .core import ProviderSimulator


def admit(sim: ProviderSimulator, provider: str, request: Request, parse: Callable[[Request, dict], dict],
          error: Callable[..., Response], authorized: Callable[[Request], bool] | None = None) -> dict | Response:
    """Injected error, auth (``authorized``, default the provider's Bearer key), JSON, validation: the task spec
    (``parse``), or the ``Response`` that refuses the request; every submit is recorded with the status it gets. Uses
    public ``ProviderSimulator`` methods only."""
    data = request.get_data()
    try:
        raw = json.loads(data) if data else None
    except ValueError:
        raw = None
    injected = sim.take_submit_error()
    if injected is not None:
        sim.record_submit(provider, request, raw, injected)
        phrase = HTTPStatus(injected).phrase if injected in HTTPStatus._value2member_map_ else "Error"
        headers = {"Retry-After": str(sim.faults["retry_after_seconds"])} if injected == 429 else None
        return error(Reject(injected, f"simulated {injected} {phrase}"), headers)
    try:
        if not (authorized(request) if authorized else sim.authorized(request, provider)):
            raise Reject(401, "Unauthorized")
        spec = parse(request, json_object(data))
    except Reject as rej:
        sim.record_submit(provider, request, raw, rej.status)
        return error(rej)
    sim.record_submit(provider, request, raw, 200)
    return spec


def submit_flow(sim: ProviderSimulator, provider: str, request: Request, parse: Callable[[Request, dict], dict],
                reply: Callable[[dict], dict], error: Callable[..., Response],
                authorized: Callable[[Request], bool] | None = None) -> Response:
    """Injected error, auth (``authorized``, default the provider's Bearer key), JSON, validation (``parse`` → task
    spec), task creation, ``reply(task)``."""
    spec = admit(sim, provider, request, parse, error, authorized)
    if isinstance(spec, Response):
        return spec
    task_id = sim.new_task(provider, spec)["id"]
    if spec.get("sync"):  # WaveSpeed enable_sync_mode: answer with the finished prediction
        generate(sim, task_id)
        with sim.lock:
            answer = reply(sim.tasks[task_id])
        sim.spawn(deliver_callbacks, task_id)
    else:
        with sim.lock:
            answer = reply(sim.tasks[task_id])
        sim.spawn(run_job, task_id)
    return json_response(200, answer)


def run_job(sim: ProviderSimulator, task_id: str) -> None:
    generate(sim, task_id)
    deliver_callbacks(sim, task_id)


def generate(sim: ProviderSimulator, task_id: str) -> None:
    """``processing``, wait, then a terminal status with outputs (or for ``hang``: stay ``processing``)."""
    with sim.lock:
        task = sim.tasks[task_id]
        task["status"] = "processing"
        task["started_at"] = time.time()
        faults = task["faults"]
        if faults["task_result"] == "hang":
            return  # never finishes; deliver_callbacks sends nothing for a non-terminal task
        seconds = faults["generation_seconds"]
        seconds = sim.generation_seconds if seconds is None else seconds
        images, w, h, count = list(task["images"]), task["width"], task["height"], task["count"]
    if sim.pause(seconds):
        return
    status, error, refs, nsfw = "completed", "", [], False
    if task.get("cancel_requested"):  # fal, Replicate: a cancel reached the task while it ran
        with sim.lock:
            task.update(status="failed", error="request cancelled", completed_at=time.time())
        return
    try:
        sources = [fetch_image(sim.http, u) for u in images]
    except Exception as exc:  # noqa: BLE001 - any fetch failure fails the task
        status, error = "failed", f"failed to download input image: {exc}"
        sources = []
    if status == "completed":
        result = faults["task_result"]
        if result == "failed":
            status, error = "failed", "simulated generation failure"
        elif result == "timeout":
            status, error = "timeout", "simulated generation timeout"
        else:
            nsfw = result == "nsfw"
            faulty = range(faults["outputs_from"], count) if faults["outputs"] in ("oversized", "not_image") else ()
            rendered = render_series(sources, w, h, count) if len(faulty) < count else []
            # outputs the fault serves itself are not rendered
            blobs = [b"" if i in faulty else png_bytes(rendered[i]) for i in range(count)]
            with sim.lock:
                for i, blob in enumerate(blobs):
                    if blob:
                        sim.output_blobs[(task_id, i)] = blob
            for i, blob in enumerate(blobs):
                if task["base64"] and blob:
                    refs.append("data:image/png;base64," + base64.b64encode(blob).decode("ascii"))
                else:
                    refs.append(f"{sim.base_url}/outputs/{task_id}/{i}.png")
    with sim.lock:
        task.update(status=status, error=error, output_refs=refs, nsfw=nsfw, completed_at=time.time(),
                    outputs=[f"{sim.base_url}/outputs/{task_id}/{i}.png" for i in range(len(refs))])
