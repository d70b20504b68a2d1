"""The HTTP layer: werkzeug routing, request and response objects, a threaded server on 127.0.0.1.

Routes (the four providers' paths do not collide, so one server speaks all of them)::

    POST   /api/v3/bytedance/{model}/edit-sequential   WaveSpeed submit
    GET    /api/v3/predictions/{id}/result             WaveSpeed status read
    GET    /api/v3/webhook/secret                      WaveSpeed webhook secret
    POST   /api/v1/model/generateImage                 Atlas Cloud submit
    GET    /api/v1/model/prediction/{id}               Atlas Cloud status read
    GET    /api/v1/webhooks/jwks.json                  Atlas Cloud webhook public keys
    POST   /v1/images/generations                      evolink submit
    GET    /v1/tasks/{id}                              evolink status read
    POST   /v1/models/{owner}/{model}/predictions      Replicate submit
    GET    /v1/predictions/{id}                        Replicate status read
    GET    /v1/webhooks/default/secret                 Replicate webhook signing secret
    POST   /v1/predictions/{id}/cancel                 Replicate cancel
    POST   /fal-ai/bytedance/seedream/{endpoint}       fal.ai queue submit (v4/edit, v4.5/edit, v5/lite/edit)
    GET    /fal-ai/bytedance/requests/{id}/status      fal.ai status (status_url)
    GET    /fal-ai/bytedance/requests/{id}             fal.ai result (response_url)
    PUT    /fal-ai/bytedance/requests/{id}/cancel      fal.ai cancel (cancel_url)
    GET    /.well-known/jwks.json                      fal.ai webhook public keys
    POST   /api/v3/images/generations                  ModelArk generation (synchronous; SSE with stream: true)
    GET    /outputs/{task_id}/{index}.png              outputs (HEAD too)
    GET|POST|DELETE /_sim/faults                       simulator control: read / set / reset faults
    GET    /_sim/state                                 simulator control: submits, callbacks, tasks, counters

A known path with another method answers 405 (HEAD only on outputs); an unknown path 404, in
evolink's error shape under ``/v1/``, else ``{"code","message"}``; a method outside
GET/HEAD/POST/PUT/DELETE answers 501. Request and access logging is off.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from typing import TYPE_CHECKING

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import atlascloud, evolink, fal, modelark, outputs, replicate, wavespeed
from .common import bytes_response, json_response

if TYPE_CHECKING:
    from .core import ProviderSimulator


def _sim_faults(sim: ProviderSimulator, request: Request) -> Response:
    if request.method == "DELETE":
        return json_response(200, sim.reset_faults())
    if request.method == "GET":
        return json_response(200, sim.faults)
    try:
        body = json.loads(request.get_data() or b"{}")
        if not isinstance(body, dict):
            raise ValueError("faults must be a JSON object")
        return json_response(200, sim.set_faults(**body))
    except ValueError as exc:
        return json_response(400, {"code": 400, "message": str(exc)})


def _sim_state(sim: ProviderSimulator, request: Request) -> Response:
    return json_response(200, sim.state())


ENDPOINTS = {
    "wavespeed.submit": wavespeed.submit, "wavespeed.result": wavespeed.result, "wavespeed.secret": wavespeed.secret,
    "atlascloud.submit": atlascloud.submit, "atlascloud.result": atlascloud.result, "atlascloud.jwks": atlascloud.jwks,
    "evolink.submit": evolink.submit, "evolink.task": evolink.task, "modelark.generations": modelark.generations,
    "replicate.submit": replicate.submit, "replicate.prediction": replicate.prediction,
    "replicate.secret": replicate.secret, "replicate.cancel": replicate.cancel,
    "fal.submit": fal.submit, "fal.status": fal.status, "fal.result": fal.result, "fal.cancel": fal.cancel,
    "fal.jwks": fal.jwks,
    "outputs": outputs.serve, "sim.faults": _sim_faults, "sim.state": _sim_state,
}
URL_MAP = Map([
    Rule("/api/v3/bytedance/<model>/edit-sequential", methods=["POST"], endpoint="wavespeed.submit"),
    Rule("/api/v3/predictions/<id>/result", methods=["GET"], endpoint="wavespeed.result"),
    Rule("/api/v3/webhook/secret", methods=["GET"], endpoint="wavespeed.secret"),
    Rule("/api/v1/model/generateImage", methods=["POST"], endpoint="atlascloud.submit"),
    Rule("/api/v1/model/prediction/<id>", methods=["GET"], endpoint="atlascloud.result"),
    Rule("/api/v1/webhooks/jwks.json", methods=["GET"], endpoint="atlascloud.jwks"),
    Rule("/v1/images/generations", methods=["POST"], endpoint="evolink.submit"),
    Rule("/v1/tasks/<id>", methods=["GET"], endpoint="evolink.task"),
    Rule("/v1/models/<owner>/<model>/predictions", methods=["POST"], endpoint="replicate.submit"),
    Rule("/v1/predictions/<id>", methods=["GET"], endpoint="replicate.prediction"),
    Rule("/v1/webhooks/default/secret", methods=["GET"], endpoint="replicate.secret"),
    Rule("/v1/predictions/<id>/cancel", methods=["POST"], endpoint="replicate.cancel"),
    Rule("/fal-ai/bytedance/seedream/<path:endpoint>", methods=["POST"], endpoint="fal.submit"),
    Rule("/fal-ai/bytedance/requests/<id>/status", methods=["GET"], endpoint="fal.status"),
    Rule("/fal-ai/bytedance/requests/<id>", methods=["GET"], endpoint="fal.result"),
    Rule("/fal-ai/bytedance/requests/<id>/cancel", methods=["PUT"], endpoint="fal.cancel"),
    Rule("/.well-known/jwks.json", methods=["GET"], endpoint="fal.jwks"),
    Rule("/api/v3/images/generations", methods=["POST"], endpoint="modelark.generations"),
    Rule("/outputs/<id>/<int:index>.png", methods=["GET", "HEAD"], endpoint="outputs"),
    Rule("/_sim/faults", methods=["GET", "POST", "DELETE"], endpoint="sim.faults"),
    Rule("/_sim/state", methods=["GET"], endpoint="sim.state"),
], merge_slashes=False, redirect_defaults=False)
METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE"}
LISTEN_BACKLOG = 1024


class SimulatorApp:
    """The WSGI application: match the route, call ``ENDPOINTS[endpoint](sim, request, **values)``."""

    def __init__(self, sim: ProviderSimulator):
        self.sim = sim

    def __call__(self, environ, start_response):
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.method not in METHODS:
            return bytes_response(501, b"Unsupported method", "text/plain")
        try:
            endpoint, values = URL_MAP.bind_to_environ(request.environ).match()
        except MethodNotAllowed:
            return json_response(405, {"code": 405, "message": "Method Not Allowed"})
        except NotFound:
            message = f"no route {request.path}"
            if request.path.startswith("/v1/"):
                return json_response(404, evolink.error_body(404, message))
            return json_response(404, {"code": 404, "message": message})
        if request.method == "HEAD" and endpoint != "outputs":  # werkzeug adds HEAD to every GET rule
            return json_response(405, {"code": 405, "message": "Method Not Allowed"})
        return ENDPOINTS[endpoint](self.sim, request, **values)


class _Handler(WSGIRequestHandler):
    """werkzeug's handler, quiet, with our own ``Server`` header."""

    server_version = "ProviderSimulator/1.0"
    sys_version = ""

    def log_request(self, code="-", size="-") -> None:
        pass

    def log(self, type, message, *args) -> None:  # noqa: A002 - quiet on purpose
        pass


def serve(sim: ProviderSimulator, host: str, port: int,
          tls: ssl.SSLContext | None = None) -> tuple[BaseWSGIServer, threading.Thread]:
    """Bind ``host:port`` (0: any free port) and serve in a daemon thread (over TLS with ``tls``); ``OSError`` if
    it is taken."""
    # Bind here and hand werkzeug the descriptor: on a taken port its own bind prints and sys.exit()s.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)  # a burst of submits and output downloads waits to be accepted
        server = make_server(host, sock.getsockname()[1], SimulatorApp(sim), threaded=True,
                             request_handler=_Handler, fd=sock.fileno(), ssl_context=tls)
    finally:
        sock.close()  # the server holds its own duplicate of the descriptor
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"provider-sim:{server.port}", daemon=True)
    thread.start()
    return server, thread
