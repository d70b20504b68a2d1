"""HTTP gateway on 127.0.0.1 that turns requests into API Gateway HTTP API (payload v2.0) events.

Routes come from the functions' ``HttpApi`` events in ``template.yaml``. Routes with IAM auth
require a SigV4 ``Authorization`` header (``AWS4-HMAC-SHA256 ...``) and answer 403 like API
Gateway without one; the signature itself is not checked locally.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .runtime import LocalFunction
from .template import ACCOUNT

TEXT_TYPES = ("json", "text/", "xml", "javascript", "x-www-form-urlencoded")


class Route:
    def __init__(self, method: str, path: str, iam: bool, function: LocalFunction):
        self.method, self.path, self.iam, self.function = method, path, iam, function
        pattern = re.sub(r"\{(\w+)\+?\}", r"(?P<\1>[^/]+)", path)
        self.regex = re.compile(f"^{pattern}$")


def build_event(route: Route, method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                body: bytes, params: dict[str, str], source_ip: str, host: str) -> dict:
    """An HTTP API v2 event, shaped like ``events/api-*.json`` (``sam local generate-event apigateway http-api-proxy``)."""
    content_type = headers.get("content-type", "")
    is_text = not body or any(t in content_type for t in TEXT_TYPES)
    if is_text:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
    now = datetime.now(UTC)
    route_key = f"{route.method} {route.path}"
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "local", "domainName": host, "domainPrefix": host.split(".")[0],
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if route.iam:
        event["requestContext"]["authorizer"] = {"iam": {"accessKey": "local", "accountId": ACCOUNT,
                                                          "callerId": "local", "userArn": f"arn:aws:iam::{ACCOUNT}:user/local",
                                                          "userId": "local"}}
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


class Gateway:
    """``start()`` serves until ``stop()``; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, routes: list[Route], host: str = "127.0.0.1", port: int = 3000):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                gateway.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.routes = routes
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        for route in self.routes:
            match = route.regex.match(parts.path)
            if match and route.method == request.command:
                break
        else:
            return self._reply(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        if route.iam and not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
            return self._reply(request, 403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
        event = build_event(route, request.command, parts.path, parts.query, headers, body, match.groupdict(),
                            request.client_address[0], headers.get("host", "127.0.0.1"))
        try:
            result = route.function.invoke(event)
        except Exception:  # an unhandled handler error is a 500, as API Gateway answers it
            import traceback

            traceback.print_exc()
            return self._reply(request, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
        status = int(result.get("statusCode", 200))
        out = result.get("body") or ""
        data = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode("utf-8")
        self._reply(request, status, {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}, data)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        request.send_response(status)
        for key, value in headers.items():
            if key not in ("content-length", "connection"):
                request.send_header(key, value)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
