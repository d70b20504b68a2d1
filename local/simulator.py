"""Local simulator of the three Seedream edit-sequential providers: WaveSpeed, Atlas Cloud, evolink.

One ``http.server`` on 127.0.0.1 speaks all three protocols (their paths do not collide),
signs its callbacks the way each provider does, waits a configurable generation time and
returns REAL images: every input image URL is downloaded, the first source is cover-cropped to
the requested W×H and each panel of the series gets a different visible photo edit (warm
golden-hour grade, cool grade, black and white, vivid, sepia, vignette, mirror, zoom crop, ...).
Outputs are PNGs held in memory and served at ``GET /outputs/{task_id}/{index}.png``.

Independence: this module deliberately imports nothing from the ``seedream`` package. It signs
callbacks from the documented recipes on its own, so that our verification code is tested against
an independent signer. Allowed imports: stdlib, Pillow, httpx, cryptography.

Protocol facts and their sources. ``providers.md`` is ``shared/providers.md`` (tags there:
[doc] provider docs, [code] third-party clients only, [inferred] our reading). "WaveSpeed page" is
https://wavespeed.ai/docs/docs-api/bytedance/bytedance-seedream-v4-edit-sequential; "evolink page"
is evolink's Seedream 4 API page (``POST /v1/images/generations``).

WaveSpeed (``providers.md`` § WaveSpeed)
  - ``POST /api/v3/bytedance/{model}/edit-sequential?webhook=<url-encoded url>``, model
    ``seedream-v4`` / ``seedream-v4.5`` [doc] / ``seedream-v5.0-lite`` [code]; ``Authorization: Bearer``.
  - Body ``prompt`` (required), ``images`` (≤ 10), ``size`` ``"W*H"`` (default ``2048*2048``,
    1024..4096 per side), ``max_images`` (1..15, default 1), ``enable_base64_output``,
    ``enable_sync_mode`` (WaveSpeed page, parameter table) [doc]; ``seed`` (page, "How to use" step 5).
  - Reply ``{"code":200,"message":"success","data":{id, model, outputs, urls.get, has_nsfw_contents,
    status "created", created_at, error, timings.inference}}`` [doc]. Errors ``{"code","message"}``:
    same wrapper shape [inferred].
  - ``GET /api/v3/predictions/{id}/result``: same ``data``; status created|processing|completed|failed
    [doc], ``timeout`` from newer docs. ``GET /api/v3/webhook/secret`` → ``{"data":{"secret"}}`` [doc
    path, code reply].
  - Callback: the prediction object itself (not wrapped) plus ``executionTime`` [doc]; headers
    ``webhook-id``, ``webhook-timestamp`` (unix s), ``webhook-signature: v3,<hex>`` with
    hex = HMAC-SHA256(key = secret minus ``whsec_`` as UTF-8 text, NOT base64-decoded;
    message = ``f"{id}.{timestamp}."`` + raw body) [doc]. Retried up to 3 times with backoff [doc].
Atlas Cloud (``providers.md`` § Atlas Cloud)
  - ``POST /api/v1/model/generateImage`` with ``model`` ``bytedance/seedream-*/edit-sequential``,
    ``prompt``, ``images``, ``max_images``, ``size``, ``enable_base64_output`` [doc], ``webhook_url`` [doc];
    reply ``data.id`` [doc]. ``GET /api/v1/model/prediction/{id}``: ``data.status``, ``outputs``, ``error``,
    ``metrics.predict_time`` [doc]. A ``timeout`` task reads ``failed`` there (the documented GET statuses
    have no timeout) but ``timeout`` in the callback payload [inferred]. Errors ``{"code","message"}`` [inferred].
  - Callback body ``{session_id, event_type "image.task.terminal", status OK|ERROR, created_at (ms),
    payload{model, status completed|failed|timeout|cancelled, outputs}, error}`` [code]; header
    ``X-AtlasCloud-Webhook-Event`` [doc]; ``X-AtlasCloud-Webhook-Id``, ``-Timestamp`` (unix s),
    ``-Key-Id`` (kid), ``-Signature-Ed25519`` = base64url-no-padding Ed25519 signature over
    ``f"{timestamp}."`` + raw body [code]; public keys as an OKP/Ed25519 JWKS at
    ``/api/v1/webhooks/jwks.json`` chosen by kid [code].
evolink (``providers.md`` § evolink, and the evolink page)
  - ``POST /v1/images/generations``, Bearer [doc]; ``model`` ``doubao-seedream-4.0|4.5`` [doc], 5.0-lite id
    unknown (configurable: ``evolink_models``); ``prompt``, ``n`` 1..15 with references + outputs ≤ 15,
    ``size`` ``1K|2K|4K|WxH`` or a ratio with ``quality``, ``image_urls`` ≤ 10, ``prompt_priority``
    ``standard|fast``, ``callback_url`` (HTTPS, ≤ 2048 chars, no internal IPs) [doc]. Because we are
    local, ``http://`` to a loopback host is accepted too (deviation on purpose).
  - Reply ``{created, id "task-unified-<unix>-<8 alnum>", model, object "image.generation.task", progress 0,
    status "pending", task_info, type "image", usage}`` (evolink page, response example) [doc].
  - ``GET /v1/tasks/{id}`` → task object with ``status`` pending|processing|completed|failed, ``progress``,
    ``results`` [doc]. Callback body = that task object, no signature [doc]. Errors
    ``{"error":{"code","message","type"}}`` with 400/401/402/403/429/500 [doc].
  - Ratio sizes: W×H ≈ quality² area at the ratio, rounded to multiples of 16 [inferred]; ``auto`` → square.

Simulator-only endpoints: ``POST /_sim/faults`` (JSON object of faults), ``DELETE /_sim/faults``,
``GET /_sim/faults``, ``GET /_sim/state``. Faults are captured per task when it is submitted (so a
later ``reset_faults()`` does not change a task already running); ``submit_errors`` is consumed at
submit time. See ``FAULT_DEFAULTS``.

Run standalone: ``python -m local.simulator --port 5060`` prints base URL and keys as JSON.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import io
import ipaddress
import json
import math
import re
import secrets
import signal
import string
import struct
import sys
import threading
import time
import uuid
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

WAVESPEED_MODELS = ("seedream-v4", "seedream-v4.5", "seedream-v5.0-lite")
ATLAS_MODELS = tuple(f"bytedance/{m}/edit-sequential" for m in WAVESPEED_MODELS)
EVOLINK_FIXED_MODELS = ("doubao-seedream-4.0", "doubao-seedream-4.5")
EVOLINK_TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}

FAULT_DEFAULTS: dict = {
    "submit_errors": [],        # HTTP statuses for the next submits, one consumed per submit
    "callback": "normal",       # normal | duplicate | lost | late | out_of_order
    "late_seconds": 2.0,        # extra delay for "late" and for the delayed copy of "out_of_order"
    "task_result": "completed",  # completed | failed | timeout | nsfw
    "outputs": "normal",        # normal | not_image | oversized | slow | flaky
    "oversized_bytes": 80 * 1024 * 1024,
    "slow_chunk_delay": 0.05,   # seconds between 16 KiB chunks for outputs="slow"
    "not_image_content_type": "text/html; charset=utf-8",
    "generation_seconds": None,  # None: use the simulator's generation_seconds
}
FAULT_CHOICES = {
    "callback": {"normal", "duplicate", "lost", "late", "out_of_order"},
    "task_result": {"completed", "failed", "timeout", "nsfw"},
    "outputs": {"normal", "not_image", "oversized", "slow", "flaky"},
}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
MAX_INPUT_BYTES = 50 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Reject(Exception):
    """A request the simulated provider refuses: HTTP status plus message (and evolink error code)."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# --------------------------------------------------------------------------------------------
# Image rendering: real edits of the source photo
# --------------------------------------------------------------------------------------------

def _channel_grade(img: Image.Image, r: float, g: float, b: float, lift: tuple = (0, 0, 0)) -> Image.Image:
    chans = img.split()
    out = [c.point(lambda v, k=k, add=add: max(0, min(255, int(v * k + add))))
           for c, k, add in zip(chans, (r, g, b), lift, strict=True)]
    return Image.merge("RGB", out)


def _look_golden_hour(img):
    warm = _channel_grade(img, 1.12, 1.0, 0.78, (18, 8, -6))
    return ImageEnhance.Contrast(warm).enhance(1.08)


def _look_cool_blue(img):
    return _channel_grade(img, 0.82, 0.97, 1.18, (-8, 0, 20))


def _look_black_white(img):
    gray = ImageOps.autocontrast(ImageOps.grayscale(img), cutoff=1)
    return Image.merge("RGB", (gray, gray, gray))


def _look_vivid(img):
    return ImageEnhance.Contrast(ImageEnhance.Color(img).enhance(1.9)).enhance(1.35)


def _look_sepia(img):
    return ImageOps.colorize(ImageOps.grayscale(img), "#2b1a08", "#f3e2bf", mid="#a0784a")


def _look_vignette(img):
    w, h = img.size
    mask = Image.radial_gradient("L").resize((w, h), Image.BILINEAR)  # 0 centre .. 255 edges
    mask = mask.point(lambda v: max(0, min(255, int((v - 90) * 1.9))))
    dark = ImageEnhance.Brightness(img).enhance(0.18)
    return Image.composite(dark, img, mask)


def _look_mirror(img):
    return ImageOps.mirror(img)


def _zoom(img, factor: float, dx: float = 0.5, dy: float = 0.5):
    w, h = img.size
    cw, ch = max(1, int(w / factor)), max(1, int(h / factor))
    left, top = int((w - cw) * dx), int((h - ch) * dy)
    return img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BICUBIC)


def _look_zoom(img):
    return _zoom(img, 1.25)


def _look_dreamy(img):
    soft = img.filter(ImageFilter.GaussianBlur(radius=max(2, img.size[0] // 200)))
    return ImageEnhance.Brightness(Image.blend(img, soft, 0.6)).enhance(1.12)


def _look_teal_orange(img):
    gray = ImageOps.grayscale(img)
    toned = ImageOps.colorize(gray, "#0b3a44", "#ffd3a0", mid="#c07a48")
    return Image.blend(img, toned, 0.55)


def _look_posterize(img):
    return ImageOps.posterize(img, 3)


def _look_sketch(img):
    gray = ImageOps.grayscale(img)
    edges = ImageOps.invert(gray.filter(ImageFilter.FIND_EDGES))
    edges = ImageOps.autocontrast(edges)
    return Image.merge("RGB", (edges, edges, edges))


LOOKS = (
    ("golden_hour", _look_golden_hour),
    ("cool_blue", _look_cool_blue),
    ("black_white", _look_black_white),
    ("vivid", _look_vivid),
    ("sepia", _look_sepia),
    ("vignette", _look_vignette),
    ("mirrored", _look_mirror),
    ("zoom_crop", _look_zoom),
    ("dreamy", _look_dreamy),
    ("teal_orange", _look_teal_orange),
    ("posterize", _look_posterize),
    ("sketch", _look_sketch),
)


def _synthetic_scene(width: int, height: int) -> Image.Image:
    """A photo-like stand-in for text-to-image requests without any source image."""
    small = Image.new("RGB", (320, 320 * height // max(1, width) or 1))
    sw, sh = small.size
    draw = ImageDraw.Draw(small)
    for y in range(sh):
        t = y / max(1, sh - 1)
        draw.line([(0, y), (sw, y)], fill=(int(90 + 120 * t), int(140 + 60 * t), int(220 - 80 * t)))
    draw.ellipse([sw * 0.6, sh * 0.15, sw * 0.8, sh * 0.15 + sw * 0.2], fill=(255, 226, 150))
    draw.polygon([(0, sh), (0, sh * 0.65), (sw * 0.35, sh * 0.45), (sw * 0.7, sh * 0.7), (sw, sh * 0.55), (sw, sh)],
                 fill=(46, 92, 60))
    noise = Image.effect_noise((sw, sh), 24).convert("RGB")
    small = ImageChops.add(small, noise, scale=1.0, offset=-128)
    return small.resize((width, height), Image.BICUBIC)


def render_series(sources: list[Image.Image], width: int, height: int, count: int) -> list[Image.Image]:
    """``count`` distinct edits of ``sources[0]`` cover-cropped to ``width``×``height``.

    Panel ``i`` gets look ``i % len(LOOKS)``; past the first round of looks a progressively tighter
    zoom crop is added so that every panel stays distinct. Extra sources are composed in as an
    inset picture (cycling through them)."""
    base = ImageOps.fit(sources[0], (width, height), Image.BICUBIC) if sources else _synthetic_scene(width, height)
    extras = sources[1:]
    panels = []
    for i in range(count):
        img = base
        rnd = i // len(LOOKS)
        if rnd:
            img = _zoom(img, 1.0 + 0.12 * rnd, dx=0.5 + 0.1 * ((-1) ** rnd), dy=0.45)
        if extras:
            inset_w = max(8, width * 3 // 10)
            inset_h = max(8, height * 3 // 10)
            inset = ImageOps.fit(extras[i % len(extras)], (inset_w, inset_h), Image.BICUBIC)
            border = max(2, width // 256)
            framed = ImageOps.expand(inset, border=border, fill=(255, 255, 255))
            img = img.copy()
            margin = max(4, width // 40)
            img.paste(framed, (width - framed.size[0] - margin, height - framed.size[1] - margin))
        panels.append(LOOKS[i % len(LOOKS)][1](img))
    return panels


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return PNG_SIGNATURE + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, sim: ProviderSimulator):
        self.sim = sim
        super().__init__(addr, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ProviderSimulator/1.0"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - quiet on purpose
        pass

    def _dispatch(self, method: str):
        try:
            self.server.sim._handle(self, method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    # helpers ------------------------------------------------------------------------------
    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(self, status: int, body: bytes, content_type: str, extra: dict | None = None, head=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def send_json(self, status: int, obj, extra: dict | None = None):
        self.send_bytes(status, _dumps(obj), "application/json", extra)


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------

class ProviderSimulator:
    """WaveSpeed + Atlas Cloud + evolink on one loopback HTTP server (see module docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, generation_seconds: float = 1.0,
                 keys: dict | None = None):
        if host not in ("127.0.0.1",):
            raise ValueError("the provider simulator only binds 127.0.0.1")
        self.host = host
        self.port = port
        self.generation_seconds = float(generation_seconds)
        self.keys = self._complete_keys(keys or {})
        self.retry_backoff: list[float] = [0.2, 0.4, 0.8]
        """Delays before callback retries 1..3 (len = number of retries)."""
        self.callback_timeout = 10.0
        self.evolink_models: set[str] = {"doubao-seedream-5.0-lite"}
        """evolink model ids accepted for Seedream 5.0-lite (the real id is undocumented)."""
        self.callbacks: list[dict] = []
        self.submits: list[dict] = []
        self.tasks: dict[str, dict] = {}
        self.jwks_fetches = 0
        self._faults = copy.deepcopy(FAULT_DEFAULTS)
        self._outputs: dict[tuple[str, int], bytes] = {}
        self._output_gets: dict[tuple[str, int], int] = {}
        self._atlas_keys: list[tuple[str, Ed25519PrivateKey]] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._http = httpx.Client(timeout=30.0, follow_redirects=True, trust_env=False)
        self.rotate_atlas_key()

    # -- keys --------------------------------------------------------------------------------
    @staticmethod
    def _complete_keys(keys: dict) -> dict:
        alnum = string.ascii_letters + string.digits
        ws = dict(keys.get("wavespeed") or {})
        ws.setdefault("api_key", "ws-" + secrets.token_hex(16))
        # valid base64 after the prefix, so a verifier that wrongly base64-decodes it gets a wrong key
        ws.setdefault("webhook_secret", "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
        atlas = dict(keys.get("atlascloud") or {})
        atlas.setdefault("api_key", "apikey-" + secrets.token_hex(16))
        evo = dict(keys.get("evolink") or {})
        evo.setdefault("api_key", "sk-" + "".join(secrets.choice(alnum) for _ in range(40)))
        return {"wavespeed": ws, "atlascloud": atlas, "evolink": evo}

    def rotate_atlas_key(self, private_key: Ed25519PrivateKey | None = None, kid: str | None = None) -> str:
        """Switch to a new Atlas Cloud Ed25519 key (``private_key``, e.g. one a test made, or a fresh one);
        later callbacks are signed with it. Returns the new kid.

        The JWKS then serves the new key first, followed by the older ones."""
        kid = kid or "sim-" + secrets.token_hex(8)
        with self._lock:
            self._atlas_keys.append((kid, private_key or Ed25519PrivateKey.generate()))
        return kid

    @property
    def atlas_kid(self) -> str:
        """Key id of the Atlas Cloud key currently used to sign callbacks."""
        with self._lock:
            return self._atlas_keys[-1][0]

    def atlas_jwks(self) -> dict:
        """The JWKS document served at ``/api/v1/webhooks/jwks.json`` (newest key first)."""
        with self._lock:
            keys = list(reversed(self._atlas_keys))
        out = []
        for kid, priv in keys:
            raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            out.append({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": _b64url(raw), "alg": "EdDSA", "use": "sig"})
        return {"keys": out}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ProviderSimulator:
        """Bind 127.0.0.1 and serve in a daemon thread. Returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"provider-sim:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, abort pending waits of background jobs, close the listening socket."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for worker in list(self._workers):
            worker.join(timeout=2)
        self._workers.clear()

    def close(self) -> None:
        """``stop()`` and release the outgoing HTTP client."""
        self.stop()
        self._http.close()

    def __enter__(self) -> ProviderSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the port is known after ``start()``)."""
        return f"http://{self.host}:{self.port}"

    # -- faults ------------------------------------------------------------------------------
    def set_faults(self, **faults) -> dict:
        """Set faults (names in ``FAULT_DEFAULTS``); unnamed faults keep their value. Returns all faults."""
        checked = {}
        for name, value in faults.items():
            if name not in FAULT_DEFAULTS:
                raise ValueError(f"unknown fault {name!r}; known: {sorted(FAULT_DEFAULTS)}")
            if name in FAULT_CHOICES and value not in FAULT_CHOICES[name]:
                raise ValueError(f"fault {name} must be one of {sorted(FAULT_CHOICES[name])}")
            if name == "submit_errors":
                if not isinstance(value, (list, tuple)) or not all(_is_int(v) and 400 <= v <= 599 for v in value):
                    raise ValueError("submit_errors must be a list of HTTP status codes 400..599")
                value = list(value)
            elif name in ("late_seconds", "slow_chunk_delay"):
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{name} must be a number >= 0")
                value = float(value)
            elif name == "generation_seconds":
                if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
                    raise ValueError("generation_seconds must be a number >= 0 or null")
                value = None if value is None else float(value)
            elif name == "oversized_bytes":
                if not _is_int(value) or value < 64:
                    raise ValueError("oversized_bytes must be an integer >= 64")
            elif name == "not_image_content_type" and not isinstance(value, str):
                raise ValueError("not_image_content_type must be a string")
            checked[name] = value
        with self._lock:
            self._faults.update(checked)
            return copy.deepcopy(self._faults)

    def reset_faults(self) -> dict:
        """Back to normal behaviour for every fault. Returns the faults."""
        with self._lock:
            self._faults = copy.deepcopy(FAULT_DEFAULTS)
            return copy.deepcopy(self._faults)

    @property
    def faults(self) -> dict:
        """A copy of the current faults."""
        with self._lock:
            return copy.deepcopy(self._faults)

    def _take_submit_error(self) -> int | None:
        with self._lock:
            if self._faults["submit_errors"]:
                return self._faults["submit_errors"].pop(0)
        return None

    # -- inspection --------------------------------------------------------------------------
    def state(self) -> dict:
        """Summary served at ``GET /_sim/state``: submits count, callbacks without bodies, tasks."""
        with self._lock:
            return {
                "submits": len(self.submits),
                "callbacks": [{k: v for k, v in c.items() if k != "body"} | {"body_bytes": len(c["body"])}
                              for c in self.callbacks],
                "tasks": {tid: {"provider": t["provider"], "model": t["model"], "status": t["status"],
                                "count": t["count"], "size": [t["width"], t["height"]],
                                "outputs": len(t["outputs"]), "error": t["error"]}
                          for tid, t in self.tasks.items()},
                "faults": copy.deepcopy(self._faults),
                "jwks_fetches": self.jwks_fetches,
                "atlas_kid": self._atlas_keys[-1][0],
            }

    def wait_for_task(self, task_id: str, timeout: float = 10.0) -> dict:
        """Block until ``task_id`` reaches a terminal status; returns a copy of its state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                task = self.tasks.get(task_id)
                if task and task["status"] in ("completed", "failed", "timeout"):
                    return {k: v for k, v in task.items()}
            time.sleep(0.02)
        raise TimeoutError(f"task {task_id} did not finish within {timeout} s")

    # -- request handling --------------------------------------------------------------------
    ROUTES = (
        ("POST", re.compile(r"^/api/v3/bytedance/(?P<model>[^/]+)/edit-sequential$"), "_ws_submit"),
        ("GET", re.compile(r"^/api/v3/predictions/(?P<id>[^/]+)/result$"), "_ws_result"),
        ("GET", re.compile(r"^/api/v3/webhook/secret$"), "_ws_secret"),
        ("POST", re.compile(r"^/api/v1/model/generateImage$"), "_atlas_submit"),
        ("GET", re.compile(r"^/api/v1/model/prediction/(?P<id>[^/]+)$"), "_atlas_result"),
        ("GET", re.compile(r"^/api/v1/webhooks/jwks\.json$"), "_atlas_jwks"),
        ("POST", re.compile(r"^/v1/images/generations$"), "_evo_submit"),
        ("GET", re.compile(r"^/v1/tasks/(?P<id>[^/]+)$"), "_evo_task"),
        ("GET", re.compile(r"^/outputs/(?P<id>[^/]+)/(?P<index>\d+)\.png$"), "_output"),
        ("HEAD", re.compile(r"^/outputs/(?P<id>[^/]+)/(?P<index>\d+)\.png$"), "_output"),
        ("GET", re.compile(r"^/_sim/faults$"), "_sim_faults"),
        ("POST", re.compile(r"^/_sim/faults$"), "_sim_faults"),
        ("DELETE", re.compile(r"^/_sim/faults$"), "_sim_faults"),
        ("GET", re.compile(r"^/_sim/state$"), "_sim_state"),
    )

    def _handle(self, h: _Handler, method: str) -> None:
        parts = urlsplit(h.path)
        path = unquote(parts.path)
        body = h.read_body() if method in ("POST", "PUT", "DELETE") else b""
        h.sim_query = parse_qs(parts.query, keep_blank_values=True)
        h.sim_body = body
        h.sim_path = path
        path_known = False
        for route_method, pattern, name in self.ROUTES:
            match = pattern.match(path)
            if match:
                path_known = True
                if route_method == method:
                    getattr(self, name)(h, method, **match.groupdict())
                    return
        if path_known:
            h.send_json(405, {"code": 405, "message": "Method Not Allowed"})
        elif path.startswith("/v1/"):
            h.send_json(404, {"error": {"code": "not_found", "message": f"no route {path}",
                                        "type": "invalid_request_error"}})
        else:
            h.send_json(404, {"code": 404, "message": f"no route {path}"})

    @staticmethod
    def _bearer_ok(h: _Handler, key: str) -> bool:
        auth = h.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())

    @staticmethod
    def _json_body(h: _Handler) -> dict:
        try:
            body = json.loads(h.sim_body or b"null")
        except ValueError:
            raise _Reject(400, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _Reject(400, "request body must be a JSON object")
        return body

    def _record_submit(self, provider: str, h: _Handler, body, status: int) -> None:
        with self._lock:
            self.submits.append({
                "provider": provider, "path": h.sim_path,
                "query": {k: v[0] if len(v) == 1 else v for k, v in h.sim_query.items()},
                "headers": dict(h.headers.items()), "json": body, "status": status, "at": time.time(),
            })

    def _submit(self, provider: str, h: _Handler, parse, reply, error_reply):
        """Common submit flow: injected error, auth, JSON, validation, task creation, reply."""
        try:
            raw = json.loads(h.sim_body) if h.sim_body else None
        except ValueError:
            raw = None
        injected = self._take_submit_error()
        if injected is not None:
            self._record_submit(provider, h, raw, injected)
            phrase = HTTPStatus(injected).phrase if injected in HTTPStatus._value2member_map_ else "Error"
            extra = {"Retry-After": "1"} if injected == 429 else None
            error_reply(h, _Reject(injected, f"simulated {injected} {phrase}"), extra)
            return
        try:
            if not self._bearer_ok(h, self.keys[provider]["api_key"]):
                raise _Reject(401, "Unauthorized")
            body = self._json_body(h)
            spec = parse(h, body)
        except _Reject as rej:
            self._record_submit(provider, h, raw, rej.status)
            error_reply(h, rej, None)
            return
        self._record_submit(provider, h, raw, 200)
        task = self._new_task(provider, spec)
        if spec.get("sync"):  # WaveSpeed enable_sync_mode: answer with the finished prediction
            self._generate(task["id"])
            with self._lock:
                answer = reply(self.tasks[task["id"]])
            self._spawn(self._deliver_callbacks, task["id"])
        else:
            with self._lock:
                answer = reply(self.tasks[task["id"]])
            self._spawn(self._run_job, task["id"])
        h.send_json(200, answer)

    # WaveSpeed ------------------------------------------------------------------------------
    @staticmethod
    def _ws_error(h: _Handler, rej: _Reject, extra=None):
        h.send_json(rej.status, {"code": rej.status, "message": rej.message}, extra)

    @staticmethod
    def _parse_star_size(value, default="2048*2048") -> tuple[int, int]:
        value = default if value is None else value
        m = re.fullmatch(r"\s*(\d+)\s*\*\s*(\d+)\s*", value) if isinstance(value, str) else None
        if not m:
            raise _Reject(400, f"size must look like 'W*H', got {value!r}")
        w, h = int(m.group(1)), int(m.group(2))
        if not (1024 <= w <= 4096 and 1024 <= h <= 4096):
            raise _Reject(400, f"size {w}*{h}: each side must be within 1024 ~ 4096")
        return w, h

    @staticmethod
    def _common_checks(body: dict, images_field: str, count_field: str) -> tuple[list, int]:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _Reject(400, "prompt is required")
        images = body.get(images_field, [])
        if images is None:
            images = []
        if not isinstance(images, list) or not all(isinstance(u, str) and u for u in images):
            raise _Reject(400, f"{images_field} must be a list of URLs")
        if len(images) > 10:
            raise _Reject(400, f"{images_field}: at most 10 images")
        count = body.get(count_field, 1)
        if not _is_int(count) or not 1 <= count <= 15:
            raise _Reject(400, f"{count_field} must be an integer within 1 ~ 15")
        return images, count

    def _ws_submit(self, h: _Handler, method: str, model: str):
        if model not in WAVESPEED_MODELS:
            self._record_submit("wavespeed", h, None, 404)
            self._ws_error(h, _Reject(404, f"model bytedance/{model}/edit-sequential not found"))
            return

        def parse(h, body):
            images, count = self._common_checks(body, "images", "max_images")
            w, hh = self._parse_star_size(body.get("size"))
            for flag in ("enable_base64_output", "enable_sync_mode"):
                if flag in body and not isinstance(body[flag], bool):
                    raise _Reject(400, f"{flag} must be a boolean")
            if "seed" in body and body["seed"] is not None and not _is_int(body["seed"]):
                raise _Reject(400, "seed must be an integer")
            webhook = (h.sim_query.get("webhook") or [None])[0]
            if webhook is not None and urlsplit(webhook).scheme not in ("http", "https"):
                raise _Reject(400, "webhook must be an http(s) URL")
            return {"model": model, "api_model": f"bytedance/{model}/edit-sequential", "prompt": body["prompt"],
                    "images": images, "count": count, "width": w, "height": hh, "callback_url": webhook,
                    "base64": bool(body.get("enable_base64_output")), "sync": bool(body.get("enable_sync_mode"))}

        self._submit("wavespeed", h, parse, lambda t: {"code": 200, "message": "success", "data": self._ws_view(t)},
                     self._ws_error)

    def _ws_view(self, t: dict) -> dict:
        done = t["status"] in ("completed",)
        inference_ms = 0
        if t["started_at"] and t["completed_at"]:
            inference_ms = int(round((t["completed_at"] - t["started_at"]) * 1000))
        return {
            "id": t["id"], "model": t["api_model"],
            "outputs": list(t["output_refs"]) if done else [],
            "urls": {"get": f"{self.base_url}/api/v3/predictions/{t['id']}/result"},
            "has_nsfw_contents": [t["nsfw"]] * len(t["output_refs"]) if done else [],
            "status": t["status"], "created_at": _iso(t["created_at"]), "error": t["error"] or "",
            "timings": {"inference": inference_ms},
        }

    def _ws_result(self, h: _Handler, method: str, id: str):  # noqa: A002
        if not self._bearer_ok(h, self.keys["wavespeed"]["api_key"]):
            return self._ws_error(h, _Reject(401, "Unauthorized"))
        with self._lock:
            t = self.tasks.get(id)
            view = self._ws_view(t) if t and t["provider"] == "wavespeed" else None
        if view is None:
            return self._ws_error(h, _Reject(404, "prediction not found"))
        h.send_json(200, {"code": 200, "message": "success", "data": view})

    def _ws_secret(self, h: _Handler, method: str):
        if not self._bearer_ok(h, self.keys["wavespeed"]["api_key"]):
            return self._ws_error(h, _Reject(401, "Unauthorized"))
        h.send_json(200, {"code": 200, "message": "success",
                          "data": {"secret": self.keys["wavespeed"]["webhook_secret"]}})

    # Atlas Cloud ----------------------------------------------------------------------------
    @staticmethod
    def _atlas_error(h: _Handler, rej: _Reject, extra=None):
        h.send_json(rej.status, {"code": rej.status, "message": rej.message}, extra)

    def _atlas_submit(self, h: _Handler, method: str):
        def parse(h, body):
            model = body.get("model")
            if model not in ATLAS_MODELS:
                raise _Reject(400, f"model must be one of {list(ATLAS_MODELS)}")
            images, count = self._common_checks(body, "images", "max_images")
            w, hh = self._parse_star_size(body.get("size"))
            webhook = body.get("webhook_url")
            if webhook is not None and (not isinstance(webhook, str)
                                        or urlsplit(webhook).scheme not in ("http", "https")):
                raise _Reject(400, "webhook_url must be an http(s) URL")
            if "enable_base64_output" in body and not isinstance(body["enable_base64_output"], bool):
                raise _Reject(400, "enable_base64_output must be a boolean")
            return {"model": model, "api_model": model, "prompt": body["prompt"], "images": images,
                    "count": count, "width": w, "height": hh, "callback_url": webhook,
                    "base64": bool(body.get("enable_base64_output"))}

        def reply(t):
            return {"code": 200, "message": "success",
                    "data": {"id": t["id"], "status": "processing", "model": t["api_model"], "outputs": [],
                             "created_at": _iso(t["created_at"])}}

        self._submit("atlascloud", h, parse, reply, self._atlas_error)

    @staticmethod
    def _atlas_status(t: dict) -> str:
        # GET statuses documented: processing|completed|succeeded|failed; a timeout reads as failed here.
        return {"completed": "completed", "failed": "failed", "timeout": "failed"}.get(t["status"], "processing")

    def _atlas_result(self, h: _Handler, method: str, id: str):  # noqa: A002
        if not self._bearer_ok(h, self.keys["atlascloud"]["api_key"]):
            return self._atlas_error(h, _Reject(401, "Unauthorized"))
        with self._lock:
            t = self.tasks.get(id)
            if not t or t["provider"] != "atlascloud":
                t = None
            else:
                status = self._atlas_status(t)
                data = {
                    "id": t["id"], "model": t["api_model"], "status": status,
                    "outputs": list(t["output_refs"]) if status == "completed" else [],
                    "error": t["error"] or None,
                    "metrics": {"predict_time": round((t["completed_at"] - t["started_at"]), 3)
                                if t["completed_at"] and t["started_at"] else None},
                    "created_at": _iso(t["created_at"]),
                    "completed_at": _iso(t["completed_at"]) if t["completed_at"] else None,
                }
        if t is None:
            return self._atlas_error(h, _Reject(404, "prediction not found"))
        h.send_json(200, {"code": 200, "message": "success", "data": data})

    def _atlas_jwks(self, h: _Handler, method: str):
        with self._lock:
            self.jwks_fetches += 1
        h.send_json(200, self.atlas_jwks(), {"Cache-Control": "public, max-age=300"})

    # evolink --------------------------------------------------------------------------------
    EVOLINK_ERRORS = {
        400: ("invalid_request", "invalid_request_error"),
        401: ("unauthorized", "authentication_error"),
        402: ("insufficient_quota", "insufficient_quota_error"),
        403: ("permission_denied", "permission_error"),
        404: ("not_found", "invalid_request_error"),
        429: ("rate_limit_exceeded", "rate_limit_error"),
    }

    def _evo_error(self, h: _Handler, rej: _Reject, extra=None):
        code, kind = self.EVOLINK_ERRORS.get(rej.status, ("internal_error", "api_error"))
        h.send_json(rej.status, {"error": {"code": rej.code or code, "message": rej.message, "type": kind}}, extra)

    @staticmethod
    def _evo_size(size, quality) -> tuple[int, int]:
        quality = "2K" if quality is None else quality
        if quality not in EVOLINK_TIERS:
            raise _Reject(400, "quality must be one of 1K, 2K, 4K")
        if size is None or size == "auto":
            side = EVOLINK_TIERS[quality]
            return side, side
        if not isinstance(size, str):
            raise _Reject(400, "size must be a string")
        if size.upper() in EVOLINK_TIERS:
            side = EVOLINK_TIERS[size.upper()]
            return side, side
        m = re.fullmatch(r"(\d+)[xX×](\d+)", size.strip())
        if m:
            w, hh = int(m.group(1)), int(m.group(2))
            if not (1 <= w <= 8192 and 1 <= hh <= 8192) or w * hh > 4096 * 4096:
                raise _Reject(400, f"size {size}: sides up to 8192 and at most 4096x4096 pixels")
            if not (1 / 16 <= w / hh <= 16):
                raise _Reject(400, f"size {size}: aspect ratio out of range")
            return w, hh
        m = re.fullmatch(r"(\d+):(\d+)", size.strip())
        if m and int(m.group(1)) > 0 and int(m.group(2)) > 0:
            ratio = int(m.group(1)) / int(m.group(2))
            if not (1 / 3 <= ratio <= 3):
                raise _Reject(400, f"size {size}: aspect ratio must be within 1:3 .. 3:1")
            area = EVOLINK_TIERS[quality] ** 2
            w = max(16, int(round(math.sqrt(area * ratio) / 16)) * 16)
            hh = max(16, int(round(math.sqrt(area / ratio) / 16)) * 16)
            return w, hh
        raise _Reject(400, f"size must be 1K, 2K, 4K, WxH or a ratio like 16:9, got {size!r}")

    @staticmethod
    def _check_callback_url(url) -> None:
        if not isinstance(url, str) or len(url) > 2048:
            raise _Reject(400, "callback_url must be a URL of at most 2048 characters")
        parts = urlsplit(url)
        if parts.scheme == "http":
            if not _is_loopback_host(parts.hostname):
                raise _Reject(400, "callback_url must use HTTPS")
        elif parts.scheme == "https":
            try:
                ip = ipaddress.ip_address(parts.hostname or "")
            except ValueError:
                ip = None
            if ip is not None and not ip.is_loopback and (ip.is_private or ip.is_link_local or ip.is_reserved):
                raise _Reject(400, "callback_url must not point to an internal address")
            if not parts.hostname:
                raise _Reject(400, "callback_url has no host")
        else:
            raise _Reject(400, "callback_url must use HTTPS")

    def _evo_submit(self, h: _Handler, method: str):
        def parse(h, body):
            model = body.get("model", "doubao-seedream-4.0")
            if model not in EVOLINK_FIXED_MODELS and model not in self.evolink_models:
                raise _Reject(400, f"model {model!r} is not supported", code="model_not_found")
            images, count = self._common_checks(body, "image_urls", "n")
            if len(images) + count > 15:
                raise _Reject(400, "reference images + generated images must not exceed 15")
            w, hh = self._evo_size(body.get("size"), body.get("quality"))
            if body.get("prompt_priority", "standard") not in ("standard", "fast"):
                raise _Reject(400, "prompt_priority must be standard or fast")
            callback = body.get("callback_url")
            if callback is not None:
                self._check_callback_url(callback)
            return {"model": model, "api_model": model, "prompt": body["prompt"], "images": images,
                    "count": count, "width": w, "height": hh, "callback_url": callback, "base64": False}

        def reply(t):
            return {"created": int(t["created_at"]), "id": t["id"], "model": t["api_model"],
                    "object": "image.generation.task", "progress": 0, "status": "pending",
                    "task_info": {"can_cancel": True, "estimated_time": 45}, "type": "image",
                    "usage": {"billing_rule": "per_call", "credits_reserved": 1.8, "user_group": "default"}}

        self._submit("evolink", h, parse, reply, self._evo_error)

    def _evo_view(self, t: dict) -> dict:
        status = {"created": "pending", "processing": "processing", "completed": "completed"}.get(t["status"], "failed")
        progress = {"pending": 0, "processing": 50, "completed": 100, "failed": 100}[status]
        error = None
        if status == "failed":
            error = {"code": "task_timeout" if t["status"] == "timeout" else "generation_failed",
                     "message": t["error"] or "generation failed"}
        return {"id": t["id"], "object": "image.generation.task", "model": t["api_model"], "status": status,
                "progress": progress, "created": int(t["created_at"]),
                "results": list(t["output_refs"]) if status == "completed" else [],
                "error": error, "type": "image", "task_info": {"can_cancel": status == "pending", "estimated_time": 45}}

    def _evo_task(self, h: _Handler, method: str, id: str):  # noqa: A002
        if not self._bearer_ok(h, self.keys["evolink"]["api_key"]):
            return self._evo_error(h, _Reject(401, "Invalid API key"))
        with self._lock:
            t = self.tasks.get(id)
            view = self._evo_view(t) if t and t["provider"] == "evolink" else None
        if view is None:
            return self._evo_error(h, _Reject(404, f"task {id} not found", code="task_not_found"))
        h.send_json(200, view)

    # outputs --------------------------------------------------------------------------------
    def _output(self, h: _Handler, method: str, id: str, index: str):  # noqa: A002
        key = (id, int(index))
        head = method == "HEAD"
        with self._lock:
            task = self.tasks.get(id)
            data = self._outputs.get(key)
            mode = task["faults"]["outputs"] if task else "normal"
            faults = task["faults"] if task else self._faults
            exists = task is not None and task["status"] == "completed" and 0 <= key[1] < task["count"]
            if exists and not head:
                self._output_gets[key] = self._output_gets.get(key, 0) + 1
            gets = self._output_gets.get(key, 0)
        if not exists:
            return h.send_bytes(404, b"Not Found", "text/plain", head=head)
        if mode == "flaky" and gets <= 1 and not head:
            return h.send_bytes(500, b"Internal Server Error (simulated flaky output)", "text/plain")
        if mode == "not_image":
            page = (b"<!DOCTYPE html><html><head><title>Access denied</title></head><body>"
                    b"<h1>403 Forbidden</h1><p>simulated non-image output</p></body></html>")
            return h.send_bytes(200, page, faults["not_image_content_type"], head=head)
        if mode == "oversized":
            total = int(faults["oversized_bytes"])
            prefix = _png_header(task["width"], task["height"])[:total]
            h.send_response(200)
            h.send_header("Content-Type", "image/png")
            h.send_header("Content-Length", str(total))
            h.end_headers()
            if head:
                return
            h.wfile.write(prefix)
            remaining = total - len(prefix)
            filler = b"\0" * 65536
            while remaining > 0 and not self._stopping.is_set():
                n = min(remaining, len(filler))
                h.wfile.write(filler[:n])
                remaining -= n
            if remaining:
                h.close_connection = True
            return
        if data is None:
            return h.send_bytes(404, b"Not Found", "text/plain", head=head)
        if mode == "slow":
            h.send_response(200)
            h.send_header("Content-Type", "image/png")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if head:
                return
            delay = float(faults["slow_chunk_delay"])
            for start in range(0, len(data), 16384):
                if start and self._stopping.wait(delay):
                    h.close_connection = True
                    return
                h.wfile.write(data[start:start + 16384])
                h.wfile.flush()
            return
        h.send_bytes(200, data, "image/png", head=head)

    # simulator control ----------------------------------------------------------------------
    def _sim_faults(self, h: _Handler, method: str):
        if method == "DELETE":
            return h.send_json(200, self.reset_faults())
        if method == "GET":
            return h.send_json(200, self.faults)
        try:
            body = json.loads(h.sim_body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("faults must be a JSON object")
            h.send_json(200, self.set_faults(**body))
        except ValueError as exc:
            h.send_json(400, {"code": 400, "message": str(exc)})

    def _sim_state(self, h: _Handler, method: str):
        h.send_json(200, self.state())

    # -- jobs --------------------------------------------------------------------------------
    def _new_id(self, provider: str) -> str:
        if provider == "evolink":
            alnum = string.ascii_lowercase + string.digits
            return f"task-unified-{int(time.time())}-" + "".join(secrets.choice(alnum) for _ in range(8))
        return uuid.uuid4().hex

    def _new_task(self, provider: str, spec: dict) -> dict:
        with self._lock:
            task = {
                "id": self._new_id(provider), "provider": provider, "model": spec["model"],
                "api_model": spec["api_model"], "prompt": spec["prompt"], "images": list(spec["images"]),
                "count": spec["count"], "width": spec["width"], "height": spec["height"],
                "callback_url": spec.get("callback_url"), "base64": spec.get("base64", False),
                "status": "created", "error": "", "created_at": time.time(), "started_at": None,
                "completed_at": None, "outputs": [], "output_refs": [], "nsfw": False,
                "faults": copy.deepcopy(self._faults),
            }
            task["faults"]["submit_errors"] = []
            self.tasks[task["id"]] = task
            return task

    def _spawn(self, target, *args) -> None:
        worker = threading.Thread(target=target, args=args, daemon=True, name=f"provider-sim-job:{args[0]}")
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def _run_job(self, task_id: str) -> None:
        self._generate(task_id)
        self._deliver_callbacks(task_id)

    def _fetch_image(self, url: str) -> Image.Image:
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            data = base64.b64decode(payload) if header.endswith(";base64") else unquote(payload).encode("latin-1")
        else:
            with self._http.stream("GET", url) as resp:
                if resp.status_code // 100 != 2:
                    raise RuntimeError(f"downloading {url[:200]} answered HTTP {resp.status_code}")
                buf = bytearray()
                for chunk in resp.iter_bytes():
                    buf += chunk
                    if len(buf) > MAX_INPUT_BYTES:
                        raise RuntimeError(f"image {url[:200]} is larger than {MAX_INPUT_BYTES} bytes")
                data = bytes(buf)
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except Exception as exc:  # noqa: BLE001 - any decoder failure is an unusable input
            raise RuntimeError(f"image {url[:200]} could not be decoded: {exc}") from None
        img = ImageOps.exif_transpose(img)
        if img.mode != "RGB":
            img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "LA", "RGBA") else img.convert("RGB")
        return img

    def _generate(self, task_id: str) -> None:
        with self._lock:
            task = self.tasks[task_id]
            task["status"] = "processing"
            task["started_at"] = time.time()
            faults = task["faults"]
            seconds = faults["generation_seconds"]
            seconds = self.generation_seconds if seconds is None else seconds
            images, w, hh, count = list(task["images"]), task["width"], task["height"], task["count"]
        if self._stopping.wait(seconds):
            return
        status, error, refs, nsfw = "completed", "", [], False
        try:
            sources = [self._fetch_image(u) for u in images]
        except Exception as exc:  # noqa: BLE001 - any fetch failure fails the task
            status, error = "failed", f"failed to download input image: {exc}"
            sources = []
        if status == "completed":
            result = faults["task_result"]
            if result == "failed":
                status, error = "failed", "simulated generation failure"
            elif result == "timeout":
                status, error = "timeout", "simulated generation timeout"
            else:
                nsfw = result == "nsfw"
                mode = faults["outputs"]
                if mode in ("oversized", "not_image"):
                    blobs = [b""] * count  # served by the fault itself, nothing to render
                else:
                    blobs = [_png_bytes(p) for p in render_series(sources, w, hh, count)]
                with self._lock:
                    for i, blob in enumerate(blobs):
                        if blob:
                            self._outputs[(task_id, i)] = blob
                for i, blob in enumerate(blobs):
                    if task["base64"] and blob:
                        refs.append("data:image/png;base64," + base64.b64encode(blob).decode("ascii"))
                    else:
                        refs.append(f"{self.base_url}/outputs/{task_id}/{i}.png")
        with self._lock:
            task.update(status=status, error=error, output_refs=refs, nsfw=nsfw, completed_at=time.time(),
                        outputs=[f"{self.base_url}/outputs/{task_id}/{i}.png" for i in range(len(refs))])

    # -- callbacks ---------------------------------------------------------------------------
    def _callback_message(self, task_id: str, wavespeed_status: str | None = None) -> tuple[bytes, dict]:
        """Body bytes and headers of the provider's callback for the task's current state, freshly signed."""
        with self._lock:
            t = self.tasks[task_id]
            provider = t["provider"]
            now = time.time()
            if provider == "wavespeed":
                obj = self._ws_view(t)
                if wavespeed_status:
                    obj.update(status=wavespeed_status, outputs=[], has_nsfw_contents=[], error="")
                obj["executionTime"] = obj["timings"]["inference"]
                body = _dumps(obj)
                wid = "msg_" + secrets.token_hex(16)
                ts = str(int(now))
                key = self.keys["wavespeed"]["webhook_secret"].removeprefix("whsec_").encode("utf-8")
                sig = hmac.new(key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).hexdigest()
                headers = {"Content-Type": "application/json", "webhook-id": wid, "webhook-timestamp": ts,
                           "webhook-signature": f"v3,{sig}"}
            elif provider == "atlascloud":
                ok = t["status"] == "completed"
                obj = {"session_id": t["id"], "event_type": "image.task.terminal", "status": "OK" if ok else "ERROR",
                       "created_at": int(now * 1000),
                       "payload": {"model": t["api_model"], "status": t["status"],
                                   "outputs": list(t["output_refs"]) if ok else []},
                       "error": None if ok else (t["error"] or t["status"])}
                body = _dumps(obj)
                ts = str(int(now))
                kid, priv = self._atlas_keys[-1]
                sig = priv.sign(f"{ts}.".encode() + body)
                headers = {"Content-Type": "application/json", "X-AtlasCloud-Webhook-Event": "image.task.terminal",
                           "X-AtlasCloud-Webhook-Id": "evt_" + secrets.token_hex(16),
                           "X-AtlasCloud-Webhook-Timestamp": ts, "X-AtlasCloud-Webhook-Key-Id": kid,
                           "X-AtlasCloud-Webhook-Signature-Ed25519": _b64url(sig)}
            else:
                body = _dumps(self._evo_view(t))
                headers = {"Content-Type": "application/json"}
            return body, headers

    def _deliver_callbacks(self, task_id: str) -> None:
        with self._lock:
            task = self.tasks[task_id]
            url, mode, late = task["callback_url"], task["faults"]["callback"], task["faults"]["late_seconds"]
            provider, status = task["provider"], task["status"]
        if not url or mode == "lost" or status not in ("completed", "failed", "timeout") or self._stopping.is_set():
            return
        body, headers = self._callback_message(task_id)
        if mode == "late":
            if self._stopping.wait(late):
                return
            body, headers = self._callback_message(task_id)  # signed when actually sent
        if mode == "duplicate":
            for _ in range(3):
                self._post_callback(provider, task_id, url, body, headers)
            return
        self._post_callback(provider, task_id, url, body, headers)
        if mode == "out_of_order":
            if provider == "wavespeed":
                body2, headers2 = self._callback_message(task_id, wavespeed_status="processing")
                self._post_callback(provider, task_id, url, body2, headers2)
            else:
                if self._stopping.wait(late):
                    return
                self._post_callback(provider, task_id, url, body, headers)

    def _post_callback(self, provider: str, task_id: str, url: str, body: bytes, headers: dict) -> bool:
        """POST one callback, retrying per ``retry_backoff`` on a non-2xx answer or a connection failure."""
        delays = [0.0] + list(self.retry_backoff)
        for attempt, delay in enumerate(delays):
            if delay and self._stopping.wait(delay):
                return False
            status, error = None, None
            try:
                resp = self._http.post(url, content=body, headers=headers, timeout=self.callback_timeout)
                status = resp.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.callbacks.append({"provider": provider, "task_id": task_id, "url": url, "status": status,
                                       "headers": dict(headers), "body": body, "at": time.time(),
                                       "attempt": attempt, "error": error})
            if status is not None and 200 <= status < 300:
                return True
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m local.simulator --port 5060``: serve in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="Local WaveSpeed / Atlas Cloud / evolink simulator")
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--generation-seconds", type=float, default=1.0)
    parser.add_argument("--keys", help="JSON file with {wavespeed:{api_key,webhook_secret},atlascloud:{api_key},"
                                       "evolink:{api_key}}; random keys when omitted")
    args = parser.parse_args(argv)
    keys = None
    if args.keys:
        with open(args.keys, encoding="utf-8") as fh:
            keys = json.load(fh)
    sim = ProviderSimulator(port=args.port, generation_seconds=args.generation_seconds, keys=keys)
    sim.start()

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(json.dumps({"base_url": sim.base_url, "keys": sim.keys, "atlas_kid": sim.atlas_kid,
                      "jwks_url": f"{sim.base_url}/api/v1/webhooks/jwks.json"}, indent=2), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
