"""Output serving: ``GET``/``HEAD /outputs/{task_id}/{index}.png`` and the ``outputs`` faults.

Outputs are PNGs held in memory (rendered by ``jobs.generate``). The fault in force is the one the
task was submitted with, except ``unavailable``, which also applies while it is currently set; either
applies from the output index ``outputs_from`` on. A task whose provider deletes outputs (``protocol.output_seconds``:
Replicate) answers 404 once that long has passed since it completed. ``slow`` and ``oversized`` stream their bodies (a
generator behind a fixed ``Content-Length``, or none for ``oversized_announced=False``); when the
simulator stops mid-stream the connection is dropped, so the client sees a short body.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from .common import StreamAborted, bytes_response, stream_response
from .rendering import png_header

if TYPE_CHECKING:
    from .core import ProviderSimulator

CHUNK = 16384
NOT_IMAGE_PAGE = (b"<!DOCTYPE html><html><head><title>Access denied</title></head><body>"
                  b"<h1>403 Forbidden</h1><p>simulated non-image output</p></body></html>")


def serve(sim: ProviderSimulator, request: Request, id: str, index: int) -> Response:  # noqa: A002
    key = (id, index)
    head = request.method == "HEAD"
    live_faults = sim.faults  # a copy: the switches as they are now
    with sim.lock:
        task = sim.tasks.get(id)
        data = sim.output_blobs.get(key)
        faults = task["faults"] if task else live_faults
        mode = task["faults"]["outputs"] if task and index >= faults["outputs_from"] else "normal"
        live = live_faults["outputs"] if index >= live_faults["outputs_from"] else "normal"
        unavailable = "unavailable" in (mode, live)
        # a streamed task (ModelArk) serves each output as soon as its event went out
        exists = task is not None and 0 <= index < task["count"] and (
            task["status"] == "completed" or index < task.get("streamed", 0))
        lifetime = task["protocol"].get("output_seconds") if task else None
        if exists and lifetime is not None and time.time() > task["completed_at"] + lifetime:
            exists = False  # deleted by the provider (Replicate: an hour after the prediction completed)
        if exists and not head and not unavailable:
            sim.output_gets[key] = sim.output_gets.get(key, 0) + 1
        gets = sim.output_gets.get(key, 0)
    if unavailable:
        return bytes_response(503, b"Service Unavailable (simulated unavailable output)", "text/plain")
    if not exists:
        return bytes_response(404, b"Not Found", "text/plain")
    if mode == "flaky" and gets <= 1 and not head:
        return bytes_response(500, b"Internal Server Error (simulated flaky output)", "text/plain")
    if mode == "not_image":
        return bytes_response(200, NOT_IMAGE_PAGE, faults["not_image_content_type"])
    if mode == "oversized":
        total = int(faults["oversized_bytes"])
        return stream_response(total if faults["oversized_announced"] else None,
                               _oversized(sim, png_header(task["width"], task["height"], total)[:total], total))
    if data is None:
        return bytes_response(404, b"Not Found", "text/plain")
    if mode == "slow":
        return stream_response(len(data), _slow(sim, data, float(faults["slow_chunk_delay"])))
    return bytes_response(200, data, "image/png")


def _oversized(sim: ProviderSimulator, prefix: bytes, total: int):
    """A PNG's header (and the start of its IDAT chunk) followed by zeros up to ``total`` bytes, 64 KiB at a time."""
    yield prefix
    remaining = total - len(prefix)
    filler = b"\0" * 65536
    while remaining > 0:
        if sim.stopping:
            raise StreamAborted("simulator stopping")
        n = min(remaining, len(filler))
        yield filler[:n]
        remaining -= n


def _slow(sim: ProviderSimulator, data: bytes, delay: float):
    """``data`` in 16 KiB chunks, ``delay`` seconds apart."""
    for start in range(0, len(data), CHUNK):
        if start and sim.pause(delay):
            raise StreamAborted("simulator stopping")
        yield data[start:start + CHUNK]
