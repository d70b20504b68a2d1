"""Webhook receivers for tests: each verifies every message with the ``standardwebhooks`` library (never with
``seedream``'s own code) and answers as its script says.

- ``Receiver``: a real HTTP server on 127.0.0.1 (werkzeug), for the local stack's delivery function.
- ``MockReceiver``: an ``httpx.MockTransport`` handler, for the unit tier's sender.

Each keeps what it got as ``Received`` (headers, body, the verified payload or the verification error).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict | None
    """The JSON body if the signature verified with the receiver's secret, else None."""
    problem: str | None = None
    """Why it did not verify."""


Answer = int | tuple[int, dict[str, str]] | Exception
"""A status code, or a status code and headers (``(429, {"Retry-After": "1"})``); for ``MockReceiver`` also an
``httpx`` exception to raise instead of answering (``httpx.ReadTimeout``: no answer in time)."""


class _Script:
    def __init__(self, secret: str | None, answers: Iterable[Answer] = (), default: Answer = 200):
        self.secret = secret
        self.answers = list(answers)
        self.default = default
        self._received: list[Received] = []
        self.lock = threading.Lock()

    @property
    def received(self) -> list[Received]:
        """What came so far, in order."""
        with self.lock:
            return list(self._received)

    def take(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]] | Exception:
        payload, problem = None, None
        try:
            payload = Webhook(self.secret).verify(body, headers) if self.secret else None
        except WebhookVerificationError as exc:
            problem = str(exc)
        with self.lock:
            self._received.append(Received(path, {k.lower(): v for k, v in headers.items()}, body, payload, problem))
            answer = self.answers.pop(0) if self.answers else self.default
        return answer if isinstance(answer, tuple | Exception) else (answer, {})


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args) -> None:  # no line per request on stderr
        pass


class Receiver(_Script):
    """``with Receiver(secret, answers=[500, 500]) as receiver:`` — POSTs to ``receiver.url`` get the scripted answers,
    then ``default`` (200). ``hold``: an ``Event`` every request waits on, once recorded, before it is answered (a
    receiver that does not answer until the test lets it)."""

    def __init__(self, secret: str | None, answers: Iterable[Answer] = (), default: Answer = 200,
                 hold: threading.Event | None = None):
        super().__init__(secret, answers, default)
        self.hold = hold
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hooks"

    def _app(self, environ, start_response):
        request = Request(environ)
        status, headers = self.take(request.path, dict(request.headers), request.get_data())  # recorded as it arrives
        if self.hold is not None:
            self.hold.wait(60)
        return Response(b"", status=status, headers=headers)(environ, start_response)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()


class MockReceiver(_Script):
    """``httpx.MockTransport(MockReceiver(secret, answers=[...]))``: the same, in process."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.take(request.url.path, dict(request.headers), request.content)
        if isinstance(answer, Exception):
            raise type(answer)(str(answer), request=request)
        status, headers = answer
        return httpx.Response(status, headers=headers)
