"""Callback delivery: one POST per terminal task, retried with backoff, bent by the ``callback`` fault.

- Each POST that answers non-2xx or fails to connect is retried after each delay of
  ``sim.retry_backoff`` in turn (default 0.2, 0.4, 0.8 s: WaveSpeed documents up to 3 retries
  with backoff [doc]); every attempt is logged in ``sim.callbacks`` (body included).
- ``duplicate``: the same signed message delivered three times; ``lost``: nothing is sent;
  ``late``: sent ``late_seconds`` after the task finished, signed when actually sent;
  ``out_of_order``: the terminal callback, then for WaveSpeed a freshly signed stale
  ``processing`` one, for Replicate the same ``completed`` message again (same ``webhook-id``) and a freshly
  signed ``processing`` prediction (a late ``output``/``logs`` event), for the others the same terminal
  callback again after ``late_seconds``. Replicate sends nothing when its ``webhook_events_filter`` leaves
  out ``completed``.
- A task that is not terminal (``task_result="hang"``) gets no callback. Waits end early when
  the simulator stops.

The message itself (body and signed headers) comes from the provider's module through
``sim.callback_message``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

from .common import TERMINAL

if TYPE_CHECKING:
    from .core import ProviderSimulator


def deliver_callbacks(sim: ProviderSimulator, task_id: str) -> None:
    with sim.lock:
        task = sim.tasks[task_id]
        url, mode, late = task["callback_url"], task["faults"]["callback"], task["faults"]["late_seconds"]
        provider, status = task["provider"], task["status"]
        events = task["protocol"].get("events_filter")
    if not url or mode == "lost" or status not in TERMINAL or sim.stopping:
        return
    if events is not None and "completed" not in events:
        return  # Replicate sends the completed event only when the webhook_events_filter names it
    body, headers = sim.callback_message(task_id)
    if mode == "late":
        if sim.pause(late):
            return
        body, headers = sim.callback_message(task_id)  # signed when actually sent
    if mode == "duplicate":
        for _ in range(3):
            post_callback(sim, provider, task_id, url, body, headers)
        return
    post_callback(sim, provider, task_id, url, body, headers)
    if mode == "out_of_order":
        if provider == "replicate":  # the completed event again (its retry), then a late non-terminal event
            post_callback(sim, provider, task_id, url, body, headers)
            stale_body, stale_headers = sim.callback_message(task_id, wavespeed_status="processing")
            post_callback(sim, provider, task_id, url, stale_body, stale_headers)
        elif provider == "wavespeed":
            stale_body, stale_headers = sim.callback_message(task_id, wavespeed_status="processing")
            post_callback(sim, provider, task_id, url, stale_body, stale_headers)
        else:
            if sim.pause(late):
                return
            post_callback(sim, provider, task_id, url, body, headers)


def post_callback(sim: ProviderSimulator, provider: str, task_id: str, url: str, body: bytes, headers: dict) -> bool:
    """POST one callback, retrying per ``retry_backoff`` on a non-2xx answer or a connection failure."""
    delays = [0.0] + list(sim.retry_backoff)
    for attempt, delay in enumerate(delays):
        if delay and sim.pause(delay):
            return False
        status, error = None, None
        try:
            resp = sim.http.post(url, content=body, headers=headers, timeout=sim.callback_timeout)
            status = resp.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with sim.lock:
            sim.callbacks.append({"provider": provider, "task_id": task_id, "url": url, "status": status,
                                  "headers": dict(headers), "body": body, "at": time.time(),
                                  "attempt": attempt, "error": error})
        if status is not None and 200 <= status < 300:
            return True
    return False
