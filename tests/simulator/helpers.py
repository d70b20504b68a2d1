"""Helpers for the simulator tests: loopback servers, submits per provider, independent verification.

Signatures are checked here from the documented recipes (``tests/support/signing.py`` for
WaveSpeed's HMAC, ``cryptography`` for Atlas Cloud's Ed25519), never with the simulator's code.
"""

from __future__ import annotations

import base64
import io
import itertools
import pathlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image, ImageChops, ImageDraw, ImageOps

from tests.support.signing import wavespeed_signature
from tests.support.waits import wait_until

ROOT = pathlib.Path(__file__).resolve().parents[2]
WS_KEY, WS_SECRET = "ws-test-key", "whsec_dGVzdC1zZWNyZXQtbm90LWJhc2U2NC1kZWNvZGVk"
ATLAS_KEY, EVO_KEY, REP_KEY = "atlas-test-key", "evo-test-key", "r8_test-key"
FAL_KEY = "fal-test-id:fal-test-secret"
KEYS = {"wavespeed": {"api_key": WS_KEY, "webhook_secret": WS_SECRET},
        "atlascloud": {"api_key": ATLAS_KEY}, "evolink": {"api_key": EVO_KEY}, "replicate": {"api_key": REP_KEY},
        "fal": {"api_key": FAL_KEY}, "modelark": {"api_key": "ark-test-key"}}
_counter = itertools.count()


def tag(name: str) -> str:
    return f"{name}-{next(_counter)}"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def wait_job_done(task_id: str, timeout: float = 10.0) -> None:
    """Wait until the task's background thread (generation and callback delivery) has ended: after
    that the simulator sends nothing more for the task."""
    name = f"provider-sim-job:{task_id}"
    wait_until(lambda: not any(t.name == name and t.is_alive() for t in threading.enumerate()), timeout)


# -- loopback servers ---------------------------------------------------------------------------

def photo_png() -> bytes:
    photo = ROOT / "examples" / "astronaut.png"
    if photo.exists():
        img = Image.open(photo).convert("RGB").resize((600, 400))
    else:  # photo-like fallback: shapes plus noise
        img = Image.new("RGB", (600, 400), (120, 160, 210))
        d = ImageDraw.Draw(img)
        d.ellipse([380, 40, 480, 140], fill=(250, 220, 120))
        d.polygon([(0, 400), (0, 260), (200, 180), (420, 280), (600, 220), (600, 400)], fill=(50, 100, 60))
        img = ImageChops.add(img, Image.effect_noise((600, 400), 20).convert("RGB"), offset=-128)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def second_jpeg() -> bytes:
    img = Image.new("RGB", (400, 600), (200, 80, 60))
    d = ImageDraw.Draw(img)
    d.rectangle([50, 100, 350, 500], fill=(30, 60, 160))
    d.ellipse([120, 200, 280, 360], fill=(240, 240, 90))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class Serving:
    """A ThreadingHTTPServer on 127.0.0.1:0 in a daemon thread."""

    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Receiver:
    """Records callbacks; ``fail_next`` answers 500 that many times first."""

    def __init__(self):
        self.calls: list[dict] = []
        self.cond = threading.Condition()
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    receiver.calls.append({"path": self.path, "body": body, "answered": 500 if failing else 200,
                                           "headers": {k.lower(): v for k, v in self.headers.items()}})
                    receiver.cond.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.serving = Serving(Handler)

    def url(self, name: str) -> str:
        return f"{self.serving.url}/cb/{name}"

    def received(self, name: str) -> list[dict]:
        with self.cond:
            return [c for c in self.calls if c["path"] == f"/cb/{name}"]

    def wait(self, name: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.received(name)) >= count, timeout=timeout)
        got = self.received(name)
        assert len(got) >= count, f"expected {count} callbacks for {name}, got {len(got)}"
        return got


# -- submits ------------------------------------------------------------------------------------

def ws_submit(client, sim, sources, cb=None, model="seedream-v4", key=WS_KEY, **overrides):
    body = {"prompt": "Generate a series of 3 images of the astronaut", "images": sources,
            "size": "1280*1024", "max_images": 3, "enable_base64_output": False, "enable_sync_mode": False}
    body.update(overrides)
    url = f"{sim.base_url}/api/v3/bytedance/{model}/edit-sequential"
    if cb:
        url += f"?webhook={quote(cb, safe='')}"
    return client.post(url, json=body, headers=bearer(key))


def atlas_submit(client, sim, body_overrides=None, key=ATLAS_KEY, cb=None, images=None):
    body = {"model": "bytedance/seedream-v4/edit-sequential", "prompt": "A series of 2 images",
            "images": images or [], "max_images": 2, "size": "1024*1536", "enable_base64_output": False,
            "webhook_url": cb}
    if cb is None:
        del body["webhook_url"]
    body.update(body_overrides or {})
    return client.post(f"{sim.base_url}/api/v1/model/generateImage", json=body, headers=bearer(key))


def evo_submit(client, sim, cb=None, key=EVO_KEY, **overrides):
    body = {"model": "doubao-seedream-4.5", "prompt": "A series of 2 images", "n": 2, "size": "1024x768",
            "image_urls": [], "prompt_priority": "standard", "callback_url": cb}
    if cb is None:
        del body["callback_url"]
    body.update(overrides)
    return client.post(f"{sim.base_url}/v1/images/generations", json=body, headers=bearer(key))


def submit_small(client, sim, provider: str, cb=None) -> str:
    """One 1024×1024 output from ``provider`` (no input images); returns the task id."""
    if provider == "wavespeed":
        r = ws_submit(client, sim, [], cb, max_images=1, size="1024*1024")
        return r.json()["data"]["id"]
    if provider == "atlascloud":
        r = atlas_submit(client, sim, {"max_images": 1, "size": "1024*1024"}, cb=cb)
        return r.json()["data"]["id"]
    if provider == "replicate":
        body = {"input": {"prompt": "A series of 1 image", "size": "1K", "sequential_image_generation": "auto",
                          "max_images": 1}} | ({"webhook": cb, "webhook_events_filter": ["completed"]} if cb else {})
        return client.post(f"{sim.base_url}/v1/models/bytedance/seedream-4/predictions", json=body,
                           headers=bearer(REP_KEY)).json()["id"]
    r = evo_submit(client, sim, cb, n=1, size="1K")
    return r.json()["id"]


STATUS_PATHS = {"wavespeed": ("/api/v3/predictions/{}/result", WS_KEY),
                "atlascloud": ("/api/v1/model/prediction/{}", ATLAS_KEY),
                "evolink": ("/v1/tasks/{}", EVO_KEY),
                "replicate": ("/v1/predictions/{}", REP_KEY)}


def read_status(client, sim, provider: str, task_id: str, key: str | None = None) -> httpx.Response:
    """GET the provider's status endpoint for ``task_id`` (with the right key unless ``key``)."""
    path, right_key = STATUS_PATHS[provider]
    return client.get(sim.base_url + path.format(task_id), headers=bearer(key or right_key))


def reported_status(response: httpx.Response) -> str:
    body = response.json()
    return body["data"]["status"] if "data" in body else body["status"]


# -- independent verification -------------------------------------------------------------------

def verify_wavespeed(headers: dict, body: bytes) -> None:
    wid, ts, sig = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    assert abs(time.time() - int(ts)) < 60
    assert sig == wavespeed_signature(WS_SECRET, wid, ts, body)  # secret as text, NOT base64-decoded
    assert headers["content-type"].startswith("application/json")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_atlas(client: httpx.Client, base: str, headers: dict, body: bytes,
                 signature_header: str = "x-atlascloud-webhook-signature-ed25519") -> None:
    jwks = client.get(f"{base}/api/v1/webhooks/jwks.json").json()
    kid = headers["x-atlascloud-webhook-key-id"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "=" not in jwk["x"]
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    ts = headers["x-atlascloud-webhook-timestamp"]
    assert abs(time.time() - int(ts)) < 60
    sig_text = headers[signature_header]
    assert "=" not in sig_text
    signature = b64url_decode(sig_text)
    assert len(signature) == 64
    public.verify(signature, ts.encode() + b"." + body)  # raises InvalidSignature if wrong
    with pytest.raises(InvalidSignature):
        public.verify(signature, ts.encode() + b"." + body + b" ")


def download_series(client: httpx.Client, urls: list[str], size: tuple[int, int]) -> list[Image.Image]:
    imgs = []
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/png"
        assert int(r.headers["content-length"]) == len(r.content)
        img = Image.open(io.BytesIO(r.content))
        img.load()
        assert img.format == "PNG" and img.size == size
        imgs.append(img.convert("RGB"))
    for a, b in itertools.combinations(imgs, 2):
        assert ImageChops.difference(a, b).getbbox() is not None, "two panels are identical"
    return imgs


def correlation(a: Image.Image, b: Image.Image) -> float:
    xs = list(ImageOps.grayscale(a).resize((32, 32)).tobytes())
    ys = list(ImageOps.grayscale(b).resize((32, 32)).tobytes())
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs) ** 0.5
    vy = sum((y - my) ** 2 for y in ys) ** 0.5
    return cov / (vx * vy)
