"""Child process of the ingest bench: ``python -m bench.child`` with a JSON request on stdin.

- ``{"side": "ours", "event": <SQS event>}``: imports the real ingest handler
  (``functions/ingest/app.py``, the layer's package on ``sys.path`` as from ``/opt/python``) and
  invokes ``lambda_handler(event, context)`` once.
- ``{"side": "baseline", "urls": [...], "bucket": ..., "prefix": ...}``: ``bench.rawcopy.copy_all``.

Prints one JSON line: the wall time of that call (``seconds``), the process's peak RSS
(``ru_maxrss``, in MiB; ``VmHWM`` too, as a cross-check) and what the call returned. The
environment is set by the parent, which starts this through a small launcher (``bench/ingest.py``).
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Context:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name = "IngestFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction"
    log_group_name = "/aws/lambda/IngestFunction"
    log_stream_name = "bench"

    def __init__(self, timeout: float = 300):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    request = json.load(sys.stdin)
    if request["side"] == "ours":
        sys.path[:0] = [str(ROOT / "functions" / "ingest"), str(ROOT / "layers" / "core")]
        import app  # the handler module, imported as Lambda imports it

        context = Context()
        started = time.perf_counter()
        result = app.lambda_handler(request["event"], context)
        seconds = time.perf_counter() - started
    else:
        from bench.rawcopy import copy_all

        started = time.perf_counter()
        result = copy_all(request["urls"], request["bucket"], request["prefix"])
        seconds = time.perf_counter() - started
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    sys.stdout.write("\n" + json.dumps({"seconds": seconds, "rss_mib": rss_mib, "result": result,
                                        "vm_hwm_mib": int(hwm.group(1)) / 1024 if hwm else None}) + "\n")


if __name__ == "__main__":
    main()
