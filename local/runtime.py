"""Loads the functions' handlers the way Lambda does (``CodeUri`` + ``Handler``) and invokes them.

Each function runs one event at a time (a lock per function, like one warm Lambda instance);
the shared package comes from ``layers/core`` as it would from the layer at ``/opt/python``.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass

from .template import ACCOUNT, REGION, ROOT, Function

LAYER = ROOT / "layers" / "core"


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
    """A loaded handler. ``invoke(event)`` returns what the handler returns."""

    def __init__(self, spec: Function):
        self.spec = spec
        self._lock = threading.Lock()
        if str(LAYER) not in sys.path:
            sys.path.insert(0, str(LAYER))
        module_path, handler_name = spec.handler.rsplit(".", 1)
        path = spec.code_uri / f"{module_path.replace('.', '/')}.py"
        module_name = f"local_fn_{spec.logical_id}"
        loader = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        loader.loader.exec_module(module)
        self.handler = getattr(module, handler_name)
        self.module = module

    def invoke(self, event: dict):
        with self._lock:
            context = LambdaContext(self.spec.logical_id, self.spec.timeout, aws_request_id=str(uuid.uuid4()))
            return self.handler(event, context)
