"""Fault switches: names, defaults, allowed values and validation (``set_faults`` / ``POST /_sim/faults``).

Faults are captured per task when it is submitted, so a later ``reset_faults()`` does not change a
task already running; ``submit_errors`` is consumed at submit time, one status per submit.
``outputs="unavailable"`` is the one switch that also acts live: while it is set, every output
request answers 503, even for a task submitted before.

- ``submit_errors``: HTTP statuses (400..599) answered by the next submits, in order; a 429 carries
  ``Retry-After: <retry_after_seconds>``. Body in the provider's error shape.
- ``submit_429_share``: the share (0..1) of the other submits, to every provider, answered 429 with
  ``Retry-After: <retry_after_seconds>`` (default 1) in the provider's own 429 shape — WaveSpeed and
  Atlas Cloud ``{"code": 429, "message"}``, evolink ``{"error": {"code": "rate_limit_exceeded",
  "message", "type": "rate_limit_error"}}`` — drawn at random per submit, before the key is checked
  (a rate limiter answers first). ``seed`` (an integer) makes the draws repeatable: setting it
  restarts the sequence; ``None`` draws from fresh entropy.
- ``callback``: ``normal``; ``duplicate`` (the same signed callback three times); ``lost`` (none is
  sent; the task still finishes); ``late`` (sent ``late_seconds`` after the task finished, signed
  when sent); ``out_of_order`` (the terminal callback, then for WaveSpeed a signed ``processing``
  one, for Replicate the same ``completed`` message again and then a signed ``processing`` prediction, for the
  others the same terminal callback again ``late_seconds`` later).
- ``task_result``: ``completed``; ``failed``; ``timeout``; ``nsfw`` (completed, flagged in
  WaveSpeed's ``has_nsfw_contents``); ``hang`` (the task never finishes: its status reads
  ``processing`` on every provider's status endpoint forever and no callback is sent; a WaveSpeed
  ``enable_sync_mode`` submit answers with the ``processing`` prediction).
- ``outputs``: ``normal``; ``not_image`` (200 with an HTML page, ``Content-Type`` from
  ``not_image_content_type``); ``oversized`` (a PNG header and IDAT chunk start followed by zeros,
  ``oversized_bytes`` long, streamed); ``slow`` (the real PNG in 16 KiB chunks, ``slow_chunk_delay`` s apart);
  ``flaky`` (the first GET of each output answers 500); ``unavailable`` (every output request,
  GET or HEAD, answers 503). ``outputs_from``: the first output index the ``outputs`` fault applies to (the
  outputs before it are served normally). ``oversized_announced``: false streams ``oversized`` without a
  ``Content-Length`` (as a CDN may), so only counting the bytes can stop it.
- ``generation_seconds``: per-task generation time; ``None`` uses the simulator's own.
- ``stream_cut_after``: ModelArk only: the streamed answer breaks off (the connection drops, no terminating chunk)
  after this many image events; ``None``: never. ``content_filtered``: ModelArk only: the image indexes its content
  filter refuses (an ``image_generation.partial_failed`` event, or ``{"error"}`` in ``data``; the others go on).
  ``task_result="failed"`` on ModelArk is its internal error (500): an ``error`` event after the first image stops the
  rest; ``hang`` sends no event at all.
- ``atlas_signature_header``: where Atlas Cloud callbacks carry the Ed25519 signature: ``ed25519``
  (``X-AtlasCloud-Webhook-Signature-Ed25519``, as today) or ``bare`` (``X-AtlasCloud-Webhook-Signature``,
  where it is expected to move once Atlas Cloud retires its legacy HMAC); the other header is not sent.
- ``fal_delivery``: how fal's webhook reports a request that completed: ``normal`` (``status: "OK"`` with the
  images), ``error`` (``status: "ERROR"`` with ``error`` and a ``detail`` payload) or ``payload_error``
  (``status: "OK"``, ``payload: null`` and ``payload_error``). A failed task is always ``ERROR``.
"""

from __future__ import annotations

from .common import is_int

FAULT_DEFAULTS: dict = {
    "submit_errors": [],        # HTTP statuses for the next submits, one consumed per submit
    "callback": "normal",       # normal | duplicate | lost | late | out_of_order
    "late_seconds": 2.0,        # extra delay for "late" and for the delayed copy of "out_of_order"
    "task_result": "completed",  # completed | failed | timeout | nsfw | hang (never finishes, no callback)
    "outputs": "normal",        # normal | not_image | oversized | slow | flaky | unavailable (503, live)
    "oversized_bytes": 80 * 1024 * 1024,
    "oversized_announced": True,  # False: no Content-Length (chunked), the size shows only while streaming
    "outputs_from": 0,          # the first output index the outputs fault applies to
    "slow_chunk_delay": 0.05,   # seconds between 16 KiB chunks for outputs="slow"
    "not_image_content_type": "text/html; charset=utf-8",
    "generation_seconds": None,  # None: use the simulator's generation_seconds
    "atlas_signature_header": "ed25519",  # ed25519 (-Signature-Ed25519) | bare (-Signature)
    "submit_429_share": 0.0,    # share of submits answered 429 (random per submit), after submit_errors
    "retry_after_seconds": 1,   # Retry-After of every simulated 429
    "seed": None,               # seed of the submit_429_share draws (None: not repeatable)
    "fal_delivery": "normal",   # normal | error (status ERROR) | payload_error (payload null): fal's webhook body
    "stream_cut_after": None,   # ModelArk: the stream breaks off after this many images (None: never)
    "content_filtered": [],     # ModelArk: image indexes its content filter refuses
}
FAULT_CHOICES = {
    "callback": {"normal", "duplicate", "lost", "late", "out_of_order"},
    "task_result": {"completed", "failed", "timeout", "nsfw", "hang"},
    "outputs": {"normal", "not_image", "oversized", "slow", "flaky", "unavailable"},
    "atlas_signature_header": {"ed25519", "bare"},
    "fal_delivery": {"normal", "error", "payload_error"},
}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_faults(faults: dict) -> dict:
    """The named faults validated and normalised; ``ValueError`` names the first bad one."""
    checked = {}
    for name, value in faults.items():
        if name not in FAULT_DEFAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {sorted(FAULT_DEFAULTS)}")
        if name in FAULT_CHOICES and value not in FAULT_CHOICES[name]:
            raise ValueError(f"fault {name} must be one of {sorted(FAULT_CHOICES[name])}")
        if name == "submit_errors":
            if not isinstance(value, (list, tuple)) or not all(is_int(v) and 400 <= v <= 599 for v in value):
                raise ValueError("submit_errors must be a list of HTTP status codes 400..599")
            value = list(value)
        elif name in ("late_seconds", "slow_chunk_delay"):
            if not _number(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
            value = float(value)
        elif name == "generation_seconds":
            if value is not None and (not _number(value) or value < 0):
                raise ValueError("generation_seconds must be a number >= 0 or null")
            value = None if value is None else float(value)
        elif name == "oversized_bytes":
            if not is_int(value) or value < 64:
                raise ValueError("oversized_bytes must be an integer >= 64")
        elif name == "outputs_from":
            if not is_int(value) or value < 0:
                raise ValueError("outputs_from must be an integer >= 0")
        elif name == "oversized_announced" and not isinstance(value, bool):
            raise ValueError("oversized_announced must be true or false")
        elif name == "not_image_content_type" and not isinstance(value, str):
            raise ValueError("not_image_content_type must be a string")
        elif name == "submit_429_share":
            if not _number(value) or not 0 <= value <= 1:
                raise ValueError("submit_429_share must be a number within 0..1")
            value = float(value)
        elif name == "retry_after_seconds":
            if not is_int(value) or value < 0:
                raise ValueError("retry_after_seconds must be an integer >= 0 (Retry-After counts whole seconds)")
        elif name == "stream_cut_after":
            if value is not None and (not is_int(value) or value < 0):
                raise ValueError("stream_cut_after must be an integer >= 0 or null")
        elif name == "content_filtered":
            if not isinstance(value, (list, tuple)) or not all(is_int(v) and 0 <= v < 15 for v in value):
                raise ValueError("content_filtered must be a list of image indexes 0..14")
            value = list(value)
        elif name == "seed" and value is not None and not is_int(value):
            raise ValueError("seed must be an integer or null")
        checked[name] = value
    return checked
