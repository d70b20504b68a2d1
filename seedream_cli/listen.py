"""``seedream listen``: a Standard Webhooks receiver on 127.0.0.1 that verifies each delivery and prints it.

Give ``http://127.0.0.1:PORT/`` as a job's ``webhook`` on the local stack (``make up`` allows loopback ``http://``
webhooks; a deployed stack needs a public ``https://`` one). Each POST is verified with the ``standardwebhooks``
library (``webhook-id``, ``webhook-timestamp`` within 5 minutes, ``webhook-signature`` over the exact body bytes,
https://www.standardwebhooks.com) against the deployment's key (``GET /v1/webhooks/default/secret``, or
``--secret``): a verified message is answered 204 and printed on stdout, one line each (``--json``: the payload); any
other request is answered 401 and reported on stderr. Bodies over 1 MiB are refused (413) unread.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

MAX_BODY_BYTES = 1024 * 1024


def line(payload: dict, webhook_id: str) -> str:
    """One delivery as a line: ``<type>  <job_id>  <status>  <n> outputs  <error code>  webhook-id=<id>``."""
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    parts = [str(payload.get("type")), str(data.get("job_id")), str(data.get("status"))]
    if data.get("outputs"):
        parts.append(f"{len(data['outputs'])} outputs")
    if isinstance(data.get("error"), dict):
        parts.append(str(data["error"].get("code")))
    return "  ".join(parts + [f"webhook-id={webhook_id}"])


class Listener:
    """Serves on 127.0.0.1:``port`` (0: any free port; ``port`` holds the real one once started). ``echo(text)``
    prints a verified delivery, ``warn(text)`` a refused request; after ``count`` verified deliveries ``done`` is set."""

    def __init__(self, port: int, secret: str, echo: Callable[[str], None], warn: Callable[[str], None], *,
                 as_json: bool = False, count: int | None = None):
        self.webhook = Webhook(secret)
        self.echo, self.warn, self.as_json, self.count = echo, warn, as_json, count
        self.verified = 0
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _handler(self):
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY_BYTES:
                    return self._answer(413, f"refused a {length}-byte body (over {MAX_BODY_BYTES})")
                body = self.rfile.read(length)
                try:
                    payload = listener.webhook.verify(body, dict(self.headers.items()))
                except (WebhookVerificationError, ValueError) as exc:
                    return self._answer(401, f"refused an unverified request to {self.path}: {exc}")
                listener.delivered(payload, self.headers.get("webhook-id", ""))
                return self._answer(204)

            def _answer(self, status: int, problem: str | None = None) -> None:
                if problem:
                    listener.warn(problem)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # http.server's own access log: not ours to print
                pass

        return Handler

    def delivered(self, payload: dict, webhook_id: str) -> None:
        with self._lock:
            if self.done.is_set():
                return
            self.echo(json.dumps(payload) if self.as_json else line(payload, webhook_id))
            self.verified += 1
            if self.count is not None and self.verified >= self.count:
                self.done.set()

    def serve(self, timeout: float | None = None) -> bool:
        """Serve until ``count`` deliveries came (True) or ``timeout`` seconds passed (False); Ctrl-C stops it too."""
        thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self.done.wait(0.2):
                if deadline is not None and time.monotonic() >= deadline:
                    return False
            return True
        finally:
            self._server.shutdown()
            self._server.server_close()
