"""Loads the functions' handlers the way Lambda does (``CodeUri`` + ``Handler``) and invokes them.

The shared package comes from ``layers/core`` as it would from the layer at ``/opt/python``.

Concurrency, as Lambda scales a function. A ``LocalFunction`` is a pool of **instances** (Lambda's
execution environments): each is its own import of the handler module, with its own module globals
(the Powertools resolver and batch processor, ``svc`` and its caches: provider secret, JWKS, HTTP
clients), and runs one event at a time. An invocation takes the oldest idle instance (so sequential
traffic always meets the first one, ``module``/``handler``), or imports a new one — a cold start — when
all are busy, up to the function's limit:

* ``ReservedConcurrentExecutions`` from the template (webhook: ``WebhookReservedConcurrency``, 50;
  reconcile: 1);
* otherwise ``UNRESERVED_CONCURRENCY`` (100): AWS would scale such a function (the api, ingest) to
  the account's unreserved concurrency (1,000 by default); one local process stops at 100 threads
  per function. SQS event sources are capped lower by their own ``MaximumConcurrency`` (``local.pumps``).

At its limit, an invocation **waits for a slot** (``wait_for_slot``, on by default). On AWS a
synchronous invoke over the limit is refused (Lambda's 429 ``TooManyRequestsException``), which API
Gateway answers as 500 ``{"message": "Internal Server Error"}``, and a provider then retries its
callback (WaveSpeed and evolink 3 times, Atlas Cloud never) before reconcile picks the job up. Waiting
keeps local runs and tests deterministic (nothing depends on a provider's retry budget); and for
the api it is what AWS does, since AWS would scale past the local cap of 100. Set
``wait_for_slot = False`` on a function to get AWS's refusal instead: ``invoke`` raises
:class:`Throttled`, which the gateway answers as API Gateway does (500).

Instances of one function share one botocore session (made by the first instance's import), so a
cold start costs milliseconds instead of reloading botocore's service models (~200 ms, ~10 MB per
instance); clients, caches and every other object stay per instance. A botocore session is not
thread-safe, so it makes one client at a time (clients made after import, e.g. for a door's reply).

Environment. In Lambda each function sees only its own variables; locally every function shares
one process and one ``os.environ``. So a handler module is imported with **its function's**
environment applied to ``os.environ`` (the resolved ``Environment.Variables`` of the template, or
what the caller passes), and every variable that import changed is put back (or removed) as soon
as the import returns. Whatever a handler reads at import (Powertools' ``POWERTOOLS_SERVICE_NAME``,
``Settings.from_env()``, table names...) is therefore its own. What a handler reads *later*, while
handling an event, comes from the shared process environment: the local stack puts there only the
variables every function has with the same value (see ``local.stack``), so a variable that differs
between functions is never silently read with another function's value. Imports are serialised
(one lock), and the stack imports every function before any request or queue message is served.
A later instance (a cold start under load) is imported while other functions run: for that moment
the process environment holds its function's own variables (``POWERTOOLS_SERVICE_NAME``,
``PUBLIC_BASE_URL``, ...), which no handler reads after its import (Powertools reads them at init).
Modules of the shared layer (``seedream.*``) are imported once per process, by the first function
that needs them, and read module-level settings with that function's environment.

While its module is imported and while it is invoked, a function is ``running`` for ``local.aws_calls``: the AWS
clients it makes then are its own, and their calls are recorded as its calls.
"""

from __future__ import annotations

import heapq
import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from .aws_calls import running
from .template import ACCOUNT, REGION, ROOT, Function

LAYER = ROOT / "layers" / "core"
_IMPORT_LOCK = threading.Lock()
UNRESERVED_CONCURRENCY = 100
"""Instances at most of a function without ``ReservedConcurrentExecutions`` (module docstring)."""


class Throttled(RuntimeError):
    """The function is at its concurrency limit and ``wait_for_slot`` is off: Lambda's 429 TooManyRequestsException."""


@contextmanager
def environment_applied(variables: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set; on exit each of them gets its previous value back (or is removed)."""
    with _IMPORT_LOCK:
        saved = {key: os.environ.get(key) for key in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@dataclass
class LambdaContext:
    function_name: str
    timeout_seconds: int
    aws_request_id: str = ""
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self):
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """A loaded handler. ``invoke(event)`` returns what the handler returns.

    ``environment`` (default: ``spec.environment``) is applied to ``os.environ`` while the handler module
    is imported, and undone afterwards (module docstring). ``concurrency`` (default: the template's
    ``ReservedConcurrentExecutions``, else ``UNRESERVED_CONCURRENCY``) is how many invocations run at once;
    ``module``/``handler`` are the first instance's. ``instances`` counts the instances imported so far,
    ``peak`` the most invocations that ran at once. ``wiring`` (tests) is what every instance's import builds its
    ``svc`` with by default (``seedream.wiring.defaults``: ``overrides``, ``session``, ``http_transport``, ``resolver``).
    """

    wait_for_slot = True

    def __init__(self, spec: Function, environment: Mapping[str, str] | None = None, concurrency: int | None = None,
                 wiring: Mapping[str, object] | None = None):
        self.spec = spec
        self.wiring = dict(wiring or {})
        self.environment = dict(spec.environment if environment is None else environment)
        self.concurrency = concurrency or spec.reserved_concurrency or UNRESERVED_CONCURRENCY
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._pool = threading.Lock()
        self._idle: list[tuple[int, object]] = []  # (instance number, handler): a heap, oldest first
        self._botocore_session = None
        self._numbered = 1
        self._current_from = 0
        """Instances numbered below this were imported before the last ``reconfigure``: retired once they return."""
        self.instances = self.running = self.peak = 0
        if str(LAYER) not in sys.path:
            sys.path.insert(0, str(LAYER))
        self.module, self.handler = self._load(0)
        self._idle.append((0, self.handler))

    def _load(self, number: int):
        """Import the handler module once more, as instance ``number``; returns ``(module, handler)``."""
        module_name = self._module_name(number)
        module_path, handler_name = self.spec.handler.rsplit(".", 1)
        path = self.spec.code_uri / f"{module_path.replace('.', '/')}.py"
        loader = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        try:
            with environment_applied(self.environment), self._one_botocore_session(), running(self.spec.logical_id), \
                    self._wiring():
                loader.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        with self._pool:
            self.instances += 1
        return module, getattr(module, handler_name)

    def _module_name(self, number: int) -> str:
        return f"local_fn_{self.spec.logical_id}" + (f"_{number}" if number else "")

    def reconfigure(self, environment: Mapping[str, str]) -> None:
        """Lambda's ``UpdateFunctionConfiguration`` with a new ``Environment``: every instance from now on is
        imported with ``environment`` (a cold start); the idle instances are retired at once and the running ones
        when their invocation returns, as Lambda retires execution environments of the old configuration. One new
        instance is imported before this returns (it is ``module``/``handler`` from then on)."""
        with self._pool:
            self.environment = dict(environment)
            number, self._numbered = self._numbered, self._numbered + 1
            self._current_from = number
            retired, self._idle = self._idle, []
        for number_retired, _ in retired:
            sys.modules.pop(self._module_name(number_retired), None)
        module, handler = self._load(number)
        with self._pool:
            self.module, self.handler = module, handler
            heapq.heappush(self._idle, (number, handler))

    @contextmanager
    def _wiring(self) -> Iterator[None]:
        """While an instance is imported, the wiring builders take ``self.wiring`` as their defaults."""
        if not self.wiring:
            yield
            return
        from seedream.wiring import defaults

        with defaults(**self.wiring):
            yield

    @contextmanager
    def _one_botocore_session(self) -> Iterator[None]:
        """While this thread imports an instance, ``botocore.session.get_session()`` gives this function's one session."""
        import botocore.session

        original, importer = botocore.session.get_session, threading.get_ident()

        def get_session(env_vars=None):
            if env_vars is not None or threading.get_ident() != importer:
                return original(env_vars)
            if self._botocore_session is None:
                session, lock = original(), threading.Lock()
                made = session.create_client

                def create_client(*args, **kwargs):  # a session is not thread-safe, and clients made after
                    with lock:  # import (a door's reply) come from instances running at once
                        return made(*args, **kwargs)

                session.create_client = create_client
                self._botocore_session = session
            return self._botocore_session

        botocore.session.get_session = get_session
        try:
            yield
        finally:
            botocore.session.get_session = original

    def invoke(self, event: dict):
        if not self._slots.acquire(blocking=self.wait_for_slot):
            raise Throttled(f"{self.spec.logical_id}: {self.concurrency} invocations running (Rate Exceeded.)")
        try:
            with self._pool:
                self.running += 1
                self.peak = max(self.peak, self.running)
                instance = heapq.heappop(self._idle) if self._idle else None
                if instance is None:  # every instance is busy: a cold start
                    number, self._numbered = self._numbered, self._numbered + 1
            try:
                with running(self.spec.logical_id):  # its clients' calls are its own (local.aws_calls)
                    if instance is None:
                        instance = (number, self._load(number)[1])
                    context = LambdaContext(self.spec.logical_id, self.spec.timeout, aws_request_id=str(uuid.uuid4()))
                    return instance[1](event, context)
            finally:
                with self._pool:
                    if instance is not None and instance[0] >= self._current_from:  # (None: its cold start failed)
                        heapq.heappush(self._idle, instance)
                    elif instance is not None:  # imported before a reconfigure: retired
                        sys.modules.pop(self._module_name(instance[0]), None)
                    self.running -= 1
        finally:
            self._slots.release()
