"""Loads the functions' handlers the way Lambda does (``CodeUri`` + ``Handler``) and invokes them.

Each function runs one event at a time (a lock per function, like one warm Lambda instance);
the shared package comes from ``layers/core`` as it would from the layer at ``/opt/python``.

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
Modules of the shared layer (``seedream.*``) are imported once per process, by the first function
that needs them, and read module-level settings with that function's environment.

While its module is imported and while it is invoked, a function is ``running`` for ``local.aws_calls``: the AWS
clients it makes then are its own, and their calls are recorded as its calls.
"""

from __future__ import annotations

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
    is imported, and undone afterwards (module docstring).
    """

    def __init__(self, spec: Function, environment: Mapping[str, str] | None = None):
        self.spec = spec
        self.environment = dict(spec.environment if environment is None else environment)
        self._lock = threading.Lock()
        if str(LAYER) not in sys.path:
            sys.path.insert(0, str(LAYER))
        module_path, handler_name = spec.handler.rsplit(".", 1)
        path = spec.code_uri / f"{module_path.replace('.', '/')}.py"
        module_name = f"local_fn_{spec.logical_id}"
        loader = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        try:
            with environment_applied(self.environment), running(spec.logical_id):
                loader.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        self.handler = getattr(module, handler_name)
        self.module = module

    def invoke(self, event: dict):
        with self._lock, running(self.spec.logical_id):  # its clients' calls are its own (local.aws_calls)
            context = LambdaContext(self.spec.logical_id, self.spec.timeout, aws_request_id=str(uuid.uuid4()))
            return self.handler(event, context)
