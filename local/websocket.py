"""The template's WebSocket API on 127.0.0.1, served with ``websockets``, and its management API with werkzeug.

What is read from ``template.yaml`` (:func:`websocket_api`): the ``AWS::ApiGatewayV2::Api`` whose ``ProtocolType`` is
``WEBSOCKET``, its routes (``RouteKey``, ``AuthorizationType``, whether a ``RouteResponse`` sends the integration's
answer back), each route's ``AWS_PROXY`` integration (the function named in its ``IntegrationUri``) and its stage's
``StageName``. The URL is ``ws://127.0.0.1:<port>/<stage>`` (deployed: ``wss://{api-id}.execute-api.{region}
.amazonaws.com/{stage}``).

What it does as API Gateway does (AWS docs, "Working with WebSocket APIs"):

* the upgrade request is ``$connect``: with ``AuthorizationType: AWS_IAM`` it is refused 403 unless it is
  SigV4-signed — an ``Authorization: AWS4-HMAC-SHA256 …`` header or a presigned query (``X-Amz-Algorithm``,
  ``X-Amz-Credential``). As the HTTP gateway (``local.gateway``), **the signature itself is not verified locally**;
  ``requestContext.identity`` is filled from the credential's access key id (``local.gateway.caller``). The
  ``$connect`` function's answer decides: a non-2xx status refuses the upgrade with that status;
* each message is routed by ``RouteSelectionExpression`` ``$request.body.action`` (a JSON body's ``action``), else to
  ``$default`` if the API has one, else answered ``{"message": "Forbidden", "connectionId", "requestId"}``; a route
  with a route response sends the function's ``body`` back on the connection;
* a closed connection invokes ``$disconnect`` (its ``disconnectStatusCode`` and ``disconnectReason``);
* the management API, ``POST /<stage>/@connections/{connection_id}`` (SigV4-shaped ``Authorization`` required),
  sends the body to the connection as one text frame (binary if it is not UTF-8) and answers 200, or 410
  ``GoneException`` for a connection that is closed or unknown. It is served on its own port (``management_url``),
  because ``websockets`` reads GET upgrade requests only; the push function reaches it through botocore with the
  template's ``https://${WebSocketApi}.execute-api…/${WebSocketStage}`` resolved to it (``local.template``).

``requests`` counts what it served (``connect``, ``connect_refused``, ``message <route>``, ``disconnect``,
``post``, ``post_gone``). Both servers bind 127.0.0.1 only, at construction (``OSError`` if a port is taken).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import parse_qs

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as UpgradeRequest
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from . import gateway
from .template import ACCOUNT

FUNCTION_ARN = re.compile(r"\$\{(\w+)\.Arn\}")
INTEGRATION = re.compile(r"^integrations/\$\{(\w+)\}$")
SEND_TIMEOUT_SECONDS = 5.0


@dataclass
class WebSocketRoute:
    key: str
    function: str
    """Logical id of the function its integration invokes."""
    iam: bool = False
    two_way: bool = False
    """A ``RouteResponse`` sends the function's answer back to the client."""


@dataclass
class WebSocketApiSpec:
    logical_id: str
    stage: str
    routes: dict[str, WebSocketRoute] = field(default_factory=dict)


def _sub_text(node) -> str:
    if isinstance(node, dict) and "Fn::Sub" in node:
        arg = node["Fn::Sub"]
        return arg if isinstance(arg, str) else arg[0]
    return str(node)


def websocket_api(template: dict) -> WebSocketApiSpec | None:
    """The template's WebSocket API (the first ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET``), or None.
    Raises ``ValueError`` for a route whose target is not an ``AWS_PROXY`` integration of a function in the template."""
    resources = template["Resources"]
    apis = [lid for lid, res in resources.items() if res["Type"] == "AWS::ApiGatewayV2::Api"
            and res["Properties"].get("ProtocolType") == "WEBSOCKET"]
    if not apis:
        return None
    api = apis[0]

    def of(kind: str):
        return [(lid, res["Properties"]) for lid, res in resources.items() if res["Type"] == kind
                and res["Properties"].get("ApiId") == {"Ref": api}]

    stages = [props["StageName"] for _, props in of("AWS::ApiGatewayV2::Stage")]
    if len(stages) != 1:
        raise ValueError(f"{api}: the local stack serves one stage, the template has {stages}")
    two_way = {props["RouteId"]["Ref"] for _, props in of("AWS::ApiGatewayV2::RouteResponse")}
    spec = WebSocketApiSpec(api, stages[0])
    for lid, props in of("AWS::ApiGatewayV2::Route"):
        target = INTEGRATION.match(_sub_text(props.get("Target", "")))
        integration = resources.get(target.group(1), {}).get("Properties", {}) if target else {}
        function = FUNCTION_ARN.search(_sub_text(integration.get("IntegrationUri", "")))
        if integration.get("IntegrationType") != "AWS_PROXY" or not function or function.group(1) not in resources:
            raise ValueError(f"{lid}: the local stack serves routes with an AWS_PROXY integration of a template function")
        spec.routes[props["RouteKey"]] = WebSocketRoute(props["RouteKey"], function.group(1),
                                                        props.get("AuthorizationType") == "AWS_IAM", lid in two_way)
    return spec


def sigv4_credential(headers: Headers, query: str) -> str | None:
    """The ``Authorization`` header of a SigV4-signed request (or the presigned query's credential as one), else None."""
    authorization = headers.get("Authorization", "")
    if authorization.startswith("AWS4-HMAC-SHA256"):
        return authorization
    params = parse_qs(query)
    if params.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"] and params.get("X-Amz-Credential"):
        return f"Credential={params['X-Amz-Credential'][0]}"
    return None


def _now() -> tuple[str, int]:
    now = datetime.now(UTC)
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(now.timestamp() * 1000)


class WebSocketGateway:
    """Binds the WebSocket port (``port``; 0 = any free) and the management API's (any free) at construction;
    ``start(spec, functions)`` serves until ``stop()``."""

    def __init__(self, port: int = 3002):
        self._sock = gateway.bind(port)
        self.port = self._sock.getsockname()[1]
        self._management = gateway.serve(self._management_wsgi, 0, _Quiet)
        self.management_port = self._management.server_address[1]
        self.spec: WebSocketApiSpec | None = None
        self.functions: dict = {}
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._connections: dict[str, ServerConnection] = {}
        self._contexts: dict[str, dict] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``: the template's ``wss://${Api}.execute-api…`` resolves to it (the stage follows)."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def management_url(self) -> str:
        """``http://127.0.0.1:<port>``: the template's ``https://${Api}.execute-api…`` resolves to it (the stage follows)."""
        return f"http://127.0.0.1:{self.management_port}"

    def _count(self, what: str) -> None:
        with self._lock:
            self.requests[what] += 1

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, spec: WebSocketApiSpec, functions: dict) -> None:
        self.spec, self.functions = spec, functions
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(self._serve())
            started.set()
            self._loop.run_forever()

        thread = threading.Thread(target=run, name=f"websocket:{self.port}", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the WebSocket server did not start within 10 s")
        management = threading.Thread(target=self._management.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"websocket-management:{self.management_port}", daemon=True)
        management.start()
        self._threads = [thread, management]

    async def _serve(self):
        return await serve(self._handler, sock=self._sock, process_request=self._upgrade, ping_interval=None,
                           server_header=None)

    def stop(self) -> None:
        if self._threads:
            self._management.shutdown()
            if self._loop is not None:
                async def close() -> None:
                    self._server.close()
                    await self._server.wait_closed()

                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
                self._loop.call_soon_threadsafe(self._loop.stop)
            for thread in self._threads:
                thread.join(timeout=5)
            self._threads = []
        self._management.server_close()
        self._sock.close()

    # -- the WebSocket API ---------------------------------------------------------------------
    def _context(self, route_key: str, event_type: str, connection_id: str, **extra) -> dict:
        request_time, epoch_ms = _now()
        return {"routeKey": route_key, "eventType": event_type, "messageDirection": "IN", "stage": self.spec.stage,
                "connectionId": connection_id, "requestId": str(uuid.uuid4()), "extendedRequestId": str(uuid.uuid4()),
                "requestTime": request_time, "requestTimeEpoch": epoch_ms, "domainName": "127.0.0.1",
                "apiId": "local", **extra}

    async def _invoke(self, route: WebSocketRoute, event: dict):
        return await asyncio.to_thread(self.functions[route.function].invoke, event)

    async def _upgrade(self, connection: ServerConnection, request: UpgradeRequest):
        """``$connect``: refuse (a response) or accept (None) the upgrade request."""
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != f"/{self.spec.stage}":
            return connection.respond(HTTPStatus.NOT_FOUND, '{"message":"Not Found"}')
        route = self.spec.routes.get("$connect")
        credential = sigv4_credential(request.headers, query)
        if route is not None and route.iam and credential is None:
            self._count("connect_refused")
            return connection.respond(HTTPStatus.FORBIDDEN, '{"message":"Forbidden"}')
        connection_id = secrets.token_urlsafe(12)
        _, connected_at = _now()
        identity = {"sourceIp": connection.remote_address[0], "userAgent": request.headers.get("User-Agent", "")}
        if route is not None and route.iam:
            iam = gateway.caller(credential)
            identity |= {"accessKey": iam["accessKey"], "accountId": ACCOUNT, "caller": iam["callerId"],
                         "user": iam["userId"], "userArn": iam["userArn"]}
        self._contexts[connection_id] = {"connectedAt": connected_at, "identity": identity}
        connection.connection_id = connection_id
        if route is None:
            self._count("connect")
            return None
        headers: dict[str, str] = {}
        for key, value in request.headers.raw_items():
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = {"headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
                 "requestContext": self._context("$connect", "CONNECT", connection_id, connectedAt=connected_at,
                                                 identity=identity),
                 "isBase64Encoded": False}
        if query:
            event["queryStringParameters"] = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            result = await self._invoke(route, event)
        except Exception:  # an unhandled error refuses the connection, as API Gateway does (500)
            traceback.print_exc()
            self._contexts.pop(connection_id, None)
            return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, '{"message":"Internal server error"}')
        status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
        if not 200 <= status < 300:
            self._count("connect_refused")
            self._contexts.pop(connection_id, None)
            return connection.respond(HTTPStatus(status), str(result.get("body") or ""))
        self._count("connect")
        return None

    async def _handler(self, connection: ServerConnection) -> None:
        connection_id = connection.connection_id
        with self._lock:
            self._connections[connection_id] = connection
        try:
            async for message in connection:
                await self._message(connection, connection_id, message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.pop(connection_id, None)
            await self._disconnect(connection, connection_id)

    async def _message(self, connection: ServerConnection, connection_id: str, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        action = body.get("action") if isinstance(body, dict) else None
        route = self.spec.routes.get(action) if isinstance(action, str) else None
        route = route or self.spec.routes.get("$default")
        context = self._context(route.key if route else "$default", "MESSAGE", connection_id,
                                messageId=secrets.token_urlsafe(8),
                                connectedAt=self._contexts[connection_id]["connectedAt"],
                                identity=self._contexts[connection_id]["identity"])
        if route is None:  # no route for it and no $default: API Gateway's answer
            self._count("message unrouted")
            await connection.send(json.dumps({"message": "Forbidden", "connectionId": connection_id,
                                              "requestId": context["requestId"]}))
            return
        self._count(f"message {route.key}")
        event = {"requestContext": context, "body": text, "isBase64Encoded": False}
        try:
            result = await self._invoke(route, event)
        except Exception:
            traceback.print_exc()
            await connection.send(json.dumps({"message": "Internal server error", "connectionId": connection_id,
                                              "requestId": context["requestId"]}))
            return
        if route.two_way and isinstance(result, dict) and result.get("body"):
            await connection.send(str(result["body"]))

    async def _disconnect(self, connection: ServerConnection, connection_id: str) -> None:
        self._count("disconnect")
        route = self.spec.routes.get("$disconnect")
        saved = self._contexts.pop(connection_id, {})
        if route is None:
            return
        code = connection.close_code if connection.close_code is not None else 1006
        context = self._context("$disconnect", "DISCONNECT", connection_id, disconnectStatusCode=code,
                                disconnectReason=connection.close_reason or "", **saved)
        try:
            await self._invoke(route, {"headers": {}, "requestContext": context, "isBase64Encoded": False})
        except Exception:
            traceback.print_exc()

    # -- the management API --------------------------------------------------------------------
    def _management_wsgi(self, environ, start_response):
        return self._manage(Request(environ))(environ, start_response)

    def _manage(self, request: Request) -> Response:
        match = re.fullmatch(r"/([^/]+)/@connections/([^/]+)", request.path)
        if request.method != "POST" or not match or self.spec is None or match.group(1) != self.spec.stage:
            return _json(404, {"message": "Not Found"})
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
            return _json(403, {"message": "Missing Authentication Token"})
        connection_id, data = match.group(2), request.get_data()
        with self._lock:
            connection = self._connections.get(connection_id)
        try:
            payload: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            payload = data
        if connection is not None:
            try:
                asyncio.run_coroutine_threadsafe(connection.send(payload), self._loop).result(SEND_TIMEOUT_SECONDS)
                self._count("post")
                return Response(b"", 200)
            except ConnectionClosed:
                pass
        self._count("post_gone")
        response = _json(410, {"message": f"connection {connection_id} is gone"})
        response.headers["x-amzn-ErrorType"] = "GoneException"
        return response


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

