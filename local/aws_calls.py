"""Every AWS API call a function makes on the local stack, attributed to the function that made it.

This module owns two things:

- ``running(logical_id)``: which function runs in this thread. ``local.runtime.LocalFunction`` sets it around
  its handler module's import (the cold start, where the clients are made) and around each ``invoke``.
- botocore's client plugin hook, ``initialize_client_plugin``. While a stack runs, ``PLUGIN`` is in
  ``BOTOCORE_EXPERIMENTAL__PLUGINS`` (``botocore.session.Session._register_client_plugins``), so botocore calls the
  hook right after it creates any client, in the creating thread. A client created while a function runs belongs
  to that function, whichever thread later calls it (ingest's s3transfer workers do): calls are attributed by
  client, not by thread. Clients made outside a function are not attributed: the stack's own set-up, tests, and
  the queue pumps, whose ``ReceiveMessage``/``DeleteMessage``/``ChangeMessageVisibility`` are the event source
  mapping's (on AWS the service makes them with the role's ``AWSLambdaSQSQueueExecutionRole``, which SAM adds).

Each call of an attributed client is a :class:`Call` added to the log that was recording when the client was made
(``start``: one per local stack), until that log is stopped. Real calls and ``generate_presigned_url`` both emit
``before-parameter-build`` (``botocore.client.BaseClient._emit_api_params``; ``botocore.signers.generate_presigned_url``
calls it too): a presigned GET is exercised later with the function's role, so it counts as the function's call.
What IAM each call needs, and whether the role allows it, is ``local.iam``'s.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

PLUGINS_VARIABLE = "BOTOCORE_EXPERIMENTAL__PLUGINS"
PLUGIN = f"seedream_aws_calls={__name__}"
"""``name=module`` as botocore reads it from ``BOTOCORE_EXPERIMENTAL__PLUGINS`` (comma-separated)."""
LONGEST_KEPT = 2048
"""Strings longer than this (characters) and binary values (bodies, parts) are not kept in a call's ``params``."""

_running: ContextVar[str | None] = ContextVar("seedream_local_function", default=None)


@dataclass(frozen=True)
class Call:
    function: str
    """Logical id of the function whose client made the call (``ApiFunction``)."""
    service: str
    """IAM service prefix: the client's signing name (``s3``, ``dynamodb``, ``states`` for Step Functions)."""
    operation: str
    """API operation (``PutObject``, ``UpdateItem``)."""
    params: dict
    """The call's parameters without bodies (``slim``)."""
    presigned: bool = False
    """A ``generate_presigned_url``: no request now; whoever holds the URL makes it with the function's role."""
    endpoint: str = ""
    """The client's endpoint URL (the WebSocket management API's names the API and stage the call acts on)."""


class CallLog:
    """One local stack's attributed calls, in order; safe to add to from any thread.

    ``context`` is whatever started it (``local.stack.LocalStack``, whose ``audit()`` reads it)."""

    def __init__(self, context: Any = None):
        self.context = context
        self.recording = True
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def counts(self) -> Counter[tuple[str, str]]:
        """``(function, operation)`` → how many calls (a presigned URL counts as its operation)."""
        return Counter((call.function, call.operation) for call in self.calls)


_logs: list[CallLog] = []
_recording: CallLog | None = None


def start(context: Any = None) -> CallLog:
    """A new log that records from now on, with the plugin named in ``os.environ`` (the stack restores the
    environment when it stops); every log started in this process stays in ``logs()``."""
    global _recording
    log = CallLog(context)
    _logs.append(log)
    _recording = log
    plugins = [p for p in os.environ.get(PLUGINS_VARIABLE, "").split(",") if p.strip() and p != "DISABLED"]
    os.environ[PLUGINS_VARIABLE] = ",".join(dict.fromkeys([*plugins, PLUGIN]))
    return log


def stop(log: CallLog) -> None:
    """``log`` records no more (a later call of its functions' clients is dropped)."""
    global _recording
    log.recording = False
    if _recording is log:
        _recording = None


def logs() -> list[CallLog]:
    """Every log started in this process, oldest first (a pytest session: the CLI tests' stack, then the
    integration tests')."""
    return list(_logs)


@contextmanager
def running(logical_id: str) -> Iterator[None]:
    """``logical_id``'s code runs in this thread: clients made now are its own."""
    token = _running.set(logical_id)
    try:
        yield
    finally:
        _running.reset(token)


def slim(value: Any) -> Any:
    """``value`` with its dicts and lists kept and only scalars of at most ``LONGEST_KEPT`` characters in them."""
    if isinstance(value, dict):
        return {k: slim(v) for k, v in value.items() if _kept(v)}
    if isinstance(value, list | tuple):
        return [slim(v) for v in value if _kept(v)]
    return value


def _kept(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= LONGEST_KEPT
    return value is None or isinstance(value, bool | int | float | dict | list | tuple)


def initialize_client_plugin(client) -> None:
    """botocore's plugin hook: a client made while a function runs records its calls as that function's, in the log
    recording now (its stack's), for as long as that log records."""
    function, log = _running.get(), _recording
    if function is None or log is None:
        return
    service = client.meta.service_model.signing_name

    def record(params: dict, model, context: dict | None = None, **_) -> None:
        if log.recording:
            log.add(Call(function, service, model.name, slim(params), bool((context or {}).get("is_presign_request")),
                         client.meta.endpoint_url))

    client.meta.events.register("before-parameter-build", record, unique_id=f"{__name__}.record")
