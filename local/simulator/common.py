"""Helpers shared by the simulator's modules: encodings, request checks common to the providers, responses.

Stdlib and werkzeug only; nothing here knows one provider from another.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import re
from datetime import UTC, datetime
from http import HTTPStatus

from werkzeug.wrappers import Request, Response

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
TERMINAL = ("completed", "failed", "timeout")
"""Internal task statuses after which a task never changes again."""


class Reject(Exception):
    """A request the simulated provider refuses: HTTP status plus message (and evolink error code)."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class StreamAborted(ConnectionAbortedError):
    """Raised inside a streaming body when the simulator stops: the server drops the connection
    (werkzeug treats a ``ConnectionError`` as a dropped connection), so the client sees a short body."""


# -- encodings --------------------------------------------------------------------------------

def iso(ts: float) -> str:
    """``2025-01-02T03:04:05.678Z``"""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(obj) -> bytes:
    """Compact JSON bytes, as every simulated provider answers."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def b64url(data: bytes) -> str:
    """base64url without padding (JWK ``x`` and Atlas Cloud signatures)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- responses --------------------------------------------------------------------------------

def _status(code: int) -> str | int:
    # werkzeug would upper-case the reason phrase ("404 NOT FOUND"); send the standard one instead.
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return code


def bytes_response(status: int, body: bytes, content_type: str, headers: dict | None = None) -> Response:
    """``body`` with ``Content-Type`` as given (no charset added) and its ``Content-Length``."""
    response = Response(body, status=_status(status), content_type=content_type)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_response(status: int, obj, headers: dict | None = None) -> Response:
    return bytes_response(status, dumps(obj), "application/json", headers)


def stream_response(length: int | None, chunks, content_type: str = "image/png") -> Response:
    """A streamed body (a generator) announced with ``Content-Length: length`` (None: no length, the body
    ends where the stream does); for HEAD the generator is never started."""
    response = Response(chunks, status=_status(200), content_type=content_type, direct_passthrough=True)
    if length is not None:
        response.headers["Content-Length"] = str(length)
    return response


# -- request checks ---------------------------------------------------------------------------

def bearer_ok(request: Request, key: str) -> bool:
    """``Authorization: Bearer <key>`` (scheme case-insensitive, constant-time comparison)."""
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def json_object(data: bytes) -> dict:
    try:
        body = json.loads(data or b"null")
    except ValueError:
        raise Reject(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Reject(400, "request body must be a JSON object")
    return body


def parse_star_size(value, default: str = "2048*2048") -> tuple[int, int]:
    """WaveSpeed / Atlas Cloud ``size``: ``"W*H"``, each side 1024..4096."""
    value = default if value is None else value
    m = re.fullmatch(r"\s*(\d+)\s*\*\s*(\d+)\s*", value) if isinstance(value, str) else None
    if not m:
        raise Reject(400, f"size must look like 'W*H', got {value!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (1024 <= w <= 4096 and 1024 <= h <= 4096):
        raise Reject(400, f"size {w}*{h}: each side must be within 1024 ~ 4096")
    return w, h


def common_checks(body: dict, images_field: str, count_field: str) -> tuple[list, int]:
    """``prompt`` required, at most 10 input image URLs, 1..15 outputs: the same for all three providers."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Reject(400, "prompt is required")
    images = body.get(images_field, [])
    if images is None:
        images = []
    if not isinstance(images, list) or not all(isinstance(u, str) and u for u in images):
        raise Reject(400, f"{images_field} must be a list of URLs")
    if len(images) > 10:
        raise Reject(400, f"{images_field}: at most 10 images")
    count = body.get(count_field, 1)
    if not is_int(count) or not 1 <= count <= 15:
        raise Reject(400, f"{count_field} must be an integer within 1 ~ 15")
    return images, count
