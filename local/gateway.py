"""HTTP gateway on 127.0.0.1 that turns requests into API Gateway HTTP API (payload v2.0) events.

Built on werkzeug: the routes of the functions' ``HttpApi`` events in ``template.yaml`` become a
``werkzeug.routing.Map`` (``/v1/jobs/{job_id}`` → ``/v1/jobs/<job_id>``, ``{proxy+}`` →
``<path:proxy>``), matched on path and method; requests are read with ``werkzeug.wrappers.Request``
(chunked bodies included) and answered with ``werkzeug.wrappers.Response``, served by
``werkzeug.serving.make_server(..., threaded=True)`` on 127.0.0.1 only.

What it does as API Gateway does:

* an unknown route (or a known path with another method) answers 404 ``{"message":"Not Found"}``;
* a route with IAM auth answers 403 ``{"message":"Forbidden"}`` unless the request carries an
  ``Authorization: AWS4-HMAC-SHA256 ...`` header. **The signature itself is not verified locally**
  (nor its date, region or service): any SigV4-shaped header is let through;
* ``requestContext.authorizer.iam`` is filled from the access key id in the header's
  ``Credential=<AKID>/<date>/<region>/execute-api/aws4_request`` (userArn
  ``arn:aws:iam::123456789012:user/<AKID>``), so two access keys are two callers; a header without
  a readable ``Credential`` is let through as caller ``local``;
* a route with a Lambda authorizer (``KeyApi``'s ``ApiKeyAuthorizer``: REQUEST, payload format 2.0, simple
  responses) runs it as API Gateway does (:class:`LambdaAuthorizer`): a missing or empty identity-source header
  answers 401 ``{"message":"Unauthorized"}`` without invoking it; otherwise the authorizer gets the v2.0 REQUEST
  event, ``{"isAuthorized": false}`` answers 403 ``{"message":"Forbidden"}``, an error or a malformed answer 500
  ``{"message":"Internal Server Error"}``, and ``true`` passes its ``context`` to the route's function as
  ``requestContext.authorizer.lambda``. Each answer is cached per identity-source values for ``ReauthorizeEvery``
  seconds (0: never cached), allow and deny alike, across the API's routes;
* a handler that raises (or returns something that is not a valid response) answers 500
  ``{"message":"Internal Server Error"}``, with the traceback on stderr; so does a function that
  refuses the invocation at its concurrency limit (``local.runtime.Throttled``, only when its
  ``wait_for_slot`` is off), as API Gateway answers Lambda's 429, without a traceback;
* a handler result without ``statusCode`` is sent as a 200 JSON body (the v2 payload rule).

Concurrency: one thread per connection; the listening socket's backlog is ``LISTEN_BACKLOG`` (1024,
where ``socketserver`` says 5 and werkzeug 128), so a burst of connections waits to be accepted
instead of being dropped. A request then waits for its function (``local.runtime``: up to its limit).

``requests`` counts the requests served, by route key (``GET /v1/jobs/{job_id}``; an unknown route as
``unmatched``), so a test can tell how often a client asked for something.

Optionally (``log_requests=True``, on under ``make up``) each request is logged to stderr as
``METHOD /path STATUS N ms`` (the query string is left out: webhook URLs carry a token in it).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .runtime import Throttled
from .template import ACCOUNT, REGION

TEXT_TYPES = ("json", "text/", "xml", "javascript", "x-www-form-urlencoded")
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive"}
LISTEN_BACKLOG = 1024
"""Connections the kernel holds for a local server before it accepts them (capped by ``net.core.somaxconn``)."""


class Invocable(Protocol):
    def invoke(self, event: dict) -> Any: ...


class LambdaAuthorizer:
    """An HTTP API Lambda REQUEST authorizer with simple responses, payload format 2.0, as API Gateway runs it.

    ``headers``: the identity sources (``$request.header.<name>``); ``ttl_seconds``: ``ReauthorizeEvery``;
    ``clock``: seconds, monotonic (tests pass their own). ``authorize(event)`` → ``(status, context)``: status
    200 with the authorizer's ``context`` (a dict), or 401/403/500 with None; ``invocations`` counts the calls
    that reached the function (cached answers do not)."""

    def __init__(self, function: Invocable, headers: tuple[str, ...], ttl_seconds: int, clock=time.monotonic):
        self.function, self.headers, self.ttl_seconds, self.clock = function, tuple(headers), ttl_seconds, clock
        self.invocations = 0
        self._cache: dict[tuple[str, ...], tuple[float, int, dict | None]] = {}
        self._lock = threading.Lock()

    def authorize(self, event: dict) -> tuple[int, dict | None]:
        identity = tuple(event["headers"].get(name.lower(), "") for name in self.headers)
        if not all(identity):
            return 401, None
        now = self.clock()
        with self._lock:
            cached = self._cache.get(identity)
        if cached and cached[0] > now:
            return cached[1], cached[2]
        self.invocations += 1
        try:
            answer = self.function.invoke(self.request_event(event, identity))
        except Throttled:  # Lambda refused the authorizer's invoke: API Gateway answers 500
            return 500, None
        except Exception:  # the authorizer failed: API Gateway answers 500 and caches nothing
            traceback.print_exc()
            return 500, None
        if not isinstance(answer, dict) or not isinstance(answer.get("isAuthorized"), bool) \
                or not isinstance(answer.get("context", {}), dict):
            print(f"authorizer answered {answer!r}: not a simple response", file=sys.stderr)
            return 500, None
        verdict = (200, answer.get("context") or {}) if answer["isAuthorized"] else (403, None)
        if self.ttl_seconds:
            with self._lock:
                self._cache[identity] = (now + self.ttl_seconds, *verdict)
        return verdict

    @staticmethod
    def request_event(event: dict, identity: tuple[str, ...]) -> dict:
        """The v2.0 REQUEST authorizer event for a route's v2.0 event (``type``, ``routeArn``, ``identitySource``
        added; no ``body``, no ``isBase64Encoded``)."""
        context = event["requestContext"]
        method, path = event["routeKey"].split(" ", 1)
        request = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")}
        return {**request, "type": "REQUEST", "identitySource": list(identity),
                "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{context['apiId']}/{context['stage']}/"
                            f"{method}{path}"}


class Route:
    """One ``HttpApi`` event: ``method`` (``ANY`` matches every method), template ``path``, IAM, a Lambda
    ``authorizer`` or public."""

    def __init__(self, method: str, path: str, iam: bool, function: Invocable,
                 authorizer: LambdaAuthorizer | None = None):
        self.method, self.path, self.iam, self.function = method.upper(), path, iam, function
        self.authorizer = authorizer
        self.key = f"{self.method} {path}"

    def rule(self) -> Rule:
        rule_path = re.sub(r"\{(\w+)\}", r"<\1>", re.sub(r"\{(\w+)\+\}", r"<path:\1>", self.path))
        return Rule(rule_path, methods=None if self.method == "ANY" else [self.method], endpoint=self.key)


class _Response(Response):
    default_mimetype = None  # no content-type unless the handler sets one, as API Gateway


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the gateway writes its own line when asked to


def _message(status: int, message: str) -> Response:
    return _Response(json.dumps({"message": message}, separators=(",", ":")), status, content_type="application/json")


def caller(authorization: str) -> dict[str, str]:
    """``requestContext.authorizer.iam`` for a SigV4 ``Authorization`` header (signature not checked)."""
    match = CREDENTIAL.search(authorization)
    key = match.group(1) if match else "local"
    return {"accessKey": key, "accountId": ACCOUNT, "callerId": key,
            "userArn": f"arn:aws:iam::{ACCOUNT}:user/{key}", "userId": key}


def build_event(route: Route, request: Request, params: dict[str, str]) -> dict:
    """An HTTP API v2 event, shaped like ``events/api-*.json`` (``sam local generate-event apigateway http-api-proxy``)."""
    raw = urlsplit(request.environ.get("RAW_URI") or request.full_path)
    raw_path, raw_query = raw.path or request.path, request.query_string.decode("latin-1")
    headers: dict[str, str] = {}
    for key, value in request.headers.items():  # the WSGI server has already comma-joined repeated headers
        key = key.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    body = request.get_data(cache=False)
    is_text = not body or any(t in headers.get("content-type", "") for t in TEXT_TYPES)
    if is_text:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
    host = headers.get("host", "127.0.0.1")
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "local", "domainName": host, "domainPrefix": host.split(".")[0],
            "http": {"method": request.method, "path": raw_path, "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                     "sourceIp": request.remote_addr or "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()), "routeKey": route.key, "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if route.iam:
        event["requestContext"]["authorizer"] = {"iam": caller(headers.get("authorization", ""))}
    if raw_query:
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = text_body if is_text else base64.b64encode(body).decode()
    return event


def to_response(result: Any) -> Response:
    """The HTTP answer for a handler's result (API Gateway's payload v2.0 rules)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return _Response(json.dumps(result), 200, content_type="application/json")
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise TypeError(f"the handler's body must be a string, not {type(body).__name__}")
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()
               if str(k).lower() not in HOP_BY_HOP]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    return _Response(data, int(result["statusCode"]), headers=headers)


def bind(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on ``host:port`` (0 = any free port); ``OSError`` (EADDRINUSE) if it is taken.

    Binding here, rather than in werkzeug, keeps a busy port an ordinary exception (werkzeug's own
    bind prints two lines and calls ``sys.exit(1)``)."""
    if host != "127.0.0.1":
        raise ValueError("local servers only bind 127.0.0.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as socketserver does; a live listener still wins
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def serve(app, port: int, request_handler: type[WSGIRequestHandler] | None = None):
    """``make_server(..., threaded=True)`` on a socket bound by :func:`bind`; returns the (not yet serving) server."""
    sock = bind(port)
    try:
        return make_server("127.0.0.1", sock.getsockname()[1], app, threaded=True, request_handler=request_handler,
                           fd=sock.fileno())
    finally:
        sock.close()  # the server holds its own duplicate of the descriptor


class Gateway:
    """Binds 127.0.0.1:``port`` at construction (``OSError`` if taken); ``start()`` serves until ``stop()``.

    ``url`` is ``http://127.0.0.1:<port>``; routes can be given now or later with ``set_routes()``.
    """

    def __init__(self, routes: list[Route] = (), host: str = "127.0.0.1", port: int = 3000, log_requests: bool = False):
        if host != "127.0.0.1":
            raise ValueError("the gateway only binds 127.0.0.1")
        self.log_requests = log_requests
        self.requests: Counter[str] = Counter()
        """Requests served by route key (``GET /v1/jobs/{job_id}``), ``unmatched`` for the rest."""
        self._count_lock = threading.Lock()
        self.set_routes(list(routes))
        self.server = serve(self.wsgi, port, _QuietHandler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def set_routes(self, routes: list[Route]) -> None:
        self.routes = {route.key: route for route in routes}
        self.url_map = Map([route.rule() for route in routes], merge_slashes=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"gateway:{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop that never ran
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()

    def wsgi(self, environ, start_response):
        started = time.perf_counter()
        request = Request(environ)
        response = self.handle(request)
        if self.log_requests:
            ms = (time.perf_counter() - started) * 1000
            print(f"{request.method} {request.path} {response.status_code} {ms:.0f} ms", file=sys.stderr, flush=True)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        try:
            key, params = self.url_map.bind("local").match(request.path, request.method)
        except HTTPException:  # NotFound, MethodNotAllowed (API Gateway says 404 for both)
            key = "unmatched"
        with self._count_lock:
            self.requests[key] += 1
        if key == "unmatched":
            return _message(404, "Not Found")
        route = self.routes[key]
        if route.method not in ("ANY", request.method):  # werkzeug lets HEAD match GET rules; API Gateway does not
            return _message(404, "Not Found")
        if route.iam and not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
            return _message(403, "Forbidden")
        try:
            event = build_event(route, request, params)
            if route.authorizer is not None:
                status, context = route.authorizer.authorize(event)
                if status != 200:
                    return _message(status, {401: "Unauthorized", 403: "Forbidden"}.get(status, "Internal Server Error"))
                event["requestContext"]["authorizer"] = {"lambda": context}
            return to_response(route.function.invoke(event))
        except Throttled:  # Lambda refused the invoke (429); API Gateway answers 500
            return _message(500, "Internal Server Error")
        except Exception:  # an unhandled handler error is a 500, as API Gateway answers it
            traceback.print_exc()
            return _message(500, "Internal Server Error")
