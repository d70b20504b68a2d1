"""Tests of the local provider simulator (local/simulator.py).

Everything runs on loopback: a tiny http.server serves the source photo, another one receives the
callbacks. Signatures are recomputed here from the documented recipes (shared/providers.md), not
with the simulator's own code.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import io
import itertools
import json
import pathlib
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image, ImageChops, ImageDraw, ImageOps, UnidentifiedImageError

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local.simulator import ProviderSimulator  # noqa: E402

WS_KEY, WS_SECRET = "ws-test-key", "whsec_dGVzdC1zZWNyZXQtbm90LWJhc2U2NC1kZWNvZGVk"
ATLAS_KEY, EVO_KEY = "atlas-test-key", "evo-test-key"
_counter = itertools.count()


# ------------------------------------------------------------------------------------------
# loopback helpers
# ------------------------------------------------------------------------------------------

def _photo_png() -> bytes:
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


def _second_png() -> bytes:
    img = Image.new("RGB", (400, 600), (200, 80, 60))
    d = ImageDraw.Draw(img)
    d.rectangle([50, 100, 350, 500], fill=(30, 60, 160))
    d.ellipse([120, 200, 280, 360], fill=(240, 240, 90))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class _Serving:
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

        self.serving = _Serving(Handler)

    def url(self, tag: str) -> str:
        return f"{self.serving.url}/cb/{tag}"

    def wait(self, tag: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        def matching():
            return [c for c in self.calls if c["path"] == f"/cb/{tag}"]

        with self.cond:
            self.cond.wait_for(lambda: len(matching()) >= count, timeout=timeout)
            got = matching()
        assert len(got) >= count, f"expected {count} callbacks for {tag}, got {len(got)}"
        return got


@pytest.fixture(scope="module")
def images():
    files = {"/photo.png": (_photo_png(), "image/png"), "/second.jpg": (_second_png(), "image/jpeg")}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            path = self.path.split("?")[0]
            if path not in files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data, ctype = files[path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    serving = _Serving(Handler)
    yield {"photo": serving.url + "/photo.png?X-Amz-Signature=abc", "second": serving.url + "/second.jpg",
           "missing": serving.url + "/missing.png", "photo_bytes": files["/photo.png"][0]}
    serving.close()


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.serving.close()


@pytest.fixture(scope="module")
def sim_module():
    keys = {"wavespeed": {"api_key": WS_KEY, "webhook_secret": WS_SECRET},
            "atlascloud": {"api_key": ATLAS_KEY}, "evolink": {"api_key": EVO_KEY}}
    sim = ProviderSimulator(generation_seconds=0.1, keys=keys)
    sim.retry_backoff = [0.02, 0.04, 0.08]
    with sim:
        yield sim


@pytest.fixture()
def sim(sim_module):
    sim_module.reset_faults()
    yield sim_module
    sim_module.reset_faults()


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=20.0, trust_env=False) as c:
        yield c


def _tag(name: str) -> str:
    return f"{name}-{next(_counter)}"


def _bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


# ------------------------------------------------------------------------------------------
# verification done here, independently, from the recipes
# ------------------------------------------------------------------------------------------

def _verify_wavespeed(headers: dict, body: bytes) -> None:
    wid, ts, sig = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    assert abs(time.time() - int(ts)) < 60
    key = WS_SECRET[len("whsec_"):].encode("utf-8")  # plain text, NOT base64-decoded
    expected = hmac.new(key, wid.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert sig == "v3," + expected
    assert headers["content-type"].startswith("application/json")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _verify_atlas(client: httpx.Client, base: str, headers: dict, body: bytes) -> None:
    jwks = client.get(f"{base}/api/v1/webhooks/jwks.json").json()
    kid = headers["x-atlascloud-webhook-key-id"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "=" not in jwk["x"]
    public = Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"]))
    ts = headers["x-atlascloud-webhook-timestamp"]
    assert abs(time.time() - int(ts)) < 60
    sig_text = headers["x-atlascloud-webhook-signature-ed25519"]
    assert "=" not in sig_text
    signature = _b64url_decode(sig_text)
    assert len(signature) == 64
    public.verify(signature, ts.encode() + b"." + body)  # raises InvalidSignature if wrong
    with pytest.raises(InvalidSignature):
        public.verify(signature, ts.encode() + b"." + body + b" ")


def _download_series(client: httpx.Client, urls: list[str], size: tuple[int, int]) -> list[Image.Image]:
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


def _correlation(a: Image.Image, b: Image.Image) -> float:
    xs = list(ImageOps.grayscale(a).resize((32, 32)).tobytes())
    ys = list(ImageOps.grayscale(b).resize((32, 32)).tobytes())
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    vx = sum((x - mx) ** 2 for x in xs) ** 0.5
    vy = sum((y - my) ** 2 for y in ys) ** 0.5
    return cov / (vx * vy)


# ------------------------------------------------------------------------------------------
# WaveSpeed
# ------------------------------------------------------------------------------------------

def _ws_submit(client, sim, sources, cb=None, model="seedream-v4", key=WS_KEY, **overrides):
    body = {"prompt": "Generate a series of 3 images of the astronaut", "images": sources,
            "size": "1280*1024", "max_images": 3, "enable_base64_output": False, "enable_sync_mode": False}
    body.update(overrides)
    url = f"{sim.base_url}/api/v3/bytedance/{model}/edit-sequential"
    if cb:
        url += f"?webhook={quote(cb, safe='')}"
    return client.post(url, json=body, headers=_bearer(key))


def test_wavespeed_roundtrip(sim, images, receiver, client):
    tag = _tag("ws")
    r = _ws_submit(client, sim, [images["photo"]], receiver.url(tag), model="seedream-v4.5")
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["code"] == 200 and reply["message"] == "success"
    data = reply["data"]
    assert data["status"] == "created" and data["outputs"] == [] and data["has_nsfw_contents"] == []
    assert data["model"] == "bytedance/seedream-v4.5/edit-sequential"
    assert data["urls"]["get"] == f"{sim.base_url}/api/v3/predictions/{data['id']}/result"
    assert data["error"] == "" and data["timings"] == {"inference": 0} and data["created_at"].endswith("Z")
    assert sim.submits[-1]["query"]["webhook"] == receiver.url(tag)

    (call,) = receiver.wait(tag)
    _verify_wavespeed(call["headers"], call["body"])
    event = json.loads(call["body"])
    assert "code" not in event and "data" not in event  # the prediction object itself
    assert event["id"] == data["id"] and event["status"] == "completed" and event["error"] == ""
    assert len(event["outputs"]) == 3 and event["has_nsfw_contents"] == [False, False, False]
    assert isinstance(event["executionTime"], int) and event["timings"]["inference"] >= 0

    result = client.get(data["urls"]["get"], headers=_bearer(WS_KEY)).json()["data"]
    assert result["status"] == "completed" and result["outputs"] == event["outputs"]

    panels = _download_series(client, event["outputs"], (1280, 1024))
    source = ImageOps.fit(Image.open(io.BytesIO(images["photo_bytes"])).convert("RGB"), (1280, 1024))
    assert _correlation(panels[0], source) > 0.8  # an edit of the photo, not a synthetic picture


def test_wavespeed_secret_auth_and_validation(sim, images, client):
    r = client.get(f"{sim.base_url}/api/v3/webhook/secret", headers=_bearer(WS_KEY))
    assert r.json() == {"code": 200, "message": "success", "data": {"secret": WS_SECRET}}
    r = client.get(f"{sim.base_url}/api/v3/webhook/secret", headers=_bearer("wrong"))
    assert r.status_code == 401 and r.json() == {"code": 401, "message": "Unauthorized"}

    r = _ws_submit(client, sim, [images["photo"]], key="wrong")
    assert r.status_code == 401 and r.json() == {"code": 401, "message": "Unauthorized"}
    for overrides in ({"size": "512*512"}, {"max_images": 16}, {"prompt": ""}, {"size": "2048x2048"},
                      {"images": ["u"] * 11}, {"max_images": True}):
        r = _ws_submit(client, sim, [images["photo"]], **overrides)
        assert r.status_code == 400, overrides
        assert r.json()["code"] == 400 and r.json()["message"]
    r = _ws_submit(client, sim, [images["photo"]], model="seedream-v9")
    assert r.status_code == 404 and r.json()["code"] == 404


def test_wavespeed_input_download_failure(sim, images, receiver, client):
    tag = _tag("wsfail")
    r = _ws_submit(client, sim, [images["missing"]], receiver.url(tag), max_images=1, size="1024*1024")
    assert r.status_code == 200
    (call,) = receiver.wait(tag)
    _verify_wavespeed(call["headers"], call["body"])
    event = json.loads(call["body"])
    assert event["status"] == "failed" and event["outputs"] == [] and "404" in event["error"]


def test_wavespeed_nsfw_and_out_of_order(sim, images, receiver, client):
    sim.set_faults(task_result="nsfw", callback="out_of_order")
    tag = _tag("wsooo")
    r = _ws_submit(client, sim, [images["photo"]], receiver.url(tag), max_images=2, size="1024*1024")
    assert r.status_code == 200
    first, second = receiver.wait(tag, 2)
    for call in (first, second):
        _verify_wavespeed(call["headers"], call["body"])
    done, late = json.loads(first["body"]), json.loads(second["body"])
    assert done["status"] == "completed" and done["has_nsfw_contents"] == [True, True]
    assert late["status"] == "processing" and late["id"] == done["id"]
    assert first["headers"]["webhook-id"] != second["headers"]["webhook-id"]


def test_submit_errors_are_consumed_in_order(sim, images, client):
    sim.set_faults(submit_errors=[429, 500])
    r1 = _ws_submit(client, sim, [images["photo"]])
    assert r1.status_code == 429 and r1.json()["code"] == 429
    r2 = client.post(f"{sim.base_url}/v1/images/generations", headers=_bearer(EVO_KEY),
                     json={"model": "doubao-seedream-4.0", "prompt": "p"})
    assert r2.status_code == 500
    assert set(r2.json()["error"]) == {"code", "message", "type"}
    assert sim.faults["submit_errors"] == []
    r3 = _ws_submit(client, sim, [images["photo"]], max_images=1, size="1024*1024")
    assert r3.status_code == 200


# ------------------------------------------------------------------------------------------
# Atlas Cloud
# ------------------------------------------------------------------------------------------

def _atlas_submit(client, sim, body_overrides=None, key=ATLAS_KEY, cb=None, images=None):
    body = {"model": "bytedance/seedream-v4/edit-sequential", "prompt": "A series of 2 images",
            "images": images or [], "max_images": 2, "size": "1024*1536", "enable_base64_output": False,
            "webhook_url": cb}
    if cb is None:
        del body["webhook_url"]
    body.update(body_overrides or {})
    return client.post(f"{sim.base_url}/api/v1/model/generateImage", json=body, headers=_bearer(key))


def test_atlas_roundtrip(sim, images, receiver, client):
    tag = _tag("atlas")
    r = _atlas_submit(client, sim, cb=receiver.url(tag), images=[images["photo"], images["second"]])
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "processing" and data["outputs"] == []
    assert data["model"] == "bytedance/seedream-v4/edit-sequential"

    (call,) = receiver.wait(tag)
    headers = call["headers"]
    assert headers["x-atlascloud-webhook-event"] == "image.task.terminal"
    assert headers["x-atlascloud-webhook-id"]
    _verify_atlas(client, sim.base_url, headers, call["body"])
    event = json.loads(call["body"])
    assert event["session_id"] == data["id"] and event["event_type"] == "image.task.terminal"
    assert event["status"] == "OK" and event["error"] is None and isinstance(event["created_at"], int)
    assert event["created_at"] > 1_000_000_000_000  # milliseconds
    assert event["payload"]["status"] == "completed" and len(event["payload"]["outputs"]) == 2

    pred = client.get(f"{sim.base_url}/api/v1/model/prediction/{data['id']}", headers=_bearer(ATLAS_KEY)).json()
    assert pred["code"] == 200 and pred["data"]["status"] == "completed"
    assert pred["data"]["outputs"] == event["payload"]["outputs"]
    assert pred["data"]["metrics"]["predict_time"] >= 0.1
    _download_series(client, event["payload"]["outputs"], (1024, 1536))

    assert _atlas_submit(client, sim, key="nope").status_code == 401
    assert _atlas_submit(client, sim, {"model": "bytedance/other"}).status_code == 400


def test_atlas_key_rotation_and_failure(sim, images, receiver, client):
    old_kid = sim.atlas_kid
    before = sim.jwks_fetches
    client.get(f"{sim.base_url}/api/v1/webhooks/jwks.json")
    assert sim.jwks_fetches == before + 1
    new_kid = sim.rotate_atlas_key()
    assert new_kid != old_kid and sim.atlas_kid == new_kid
    sim.set_faults(task_result="timeout")
    tag = _tag("atlasrot")
    assert _atlas_submit(client, sim, cb=receiver.url(tag), images=[images["photo"]]).status_code == 200
    (call,) = receiver.wait(tag)
    assert call["headers"]["x-atlascloud-webhook-key-id"] == new_kid
    _verify_atlas(client, sim.base_url, call["headers"], call["body"])
    event = json.loads(call["body"])
    assert event["status"] == "ERROR" and event["payload"]["status"] == "timeout" and event["error"]
    kids = [k["kid"] for k in client.get(f"{sim.base_url}/api/v1/webhooks/jwks.json").json()["keys"]]
    assert kids[0] == new_kid and old_kid in kids


# ------------------------------------------------------------------------------------------
# evolink
# ------------------------------------------------------------------------------------------

def _evo_submit(client, sim, cb=None, key=EVO_KEY, **overrides):
    body = {"model": "doubao-seedream-4.5", "prompt": "A series of 2 images", "n": 2, "size": "1024x768",
            "image_urls": [], "prompt_priority": "standard", "callback_url": cb}
    if cb is None:
        del body["callback_url"]
    body.update(overrides)
    return client.post(f"{sim.base_url}/v1/images/generations", json=body, headers=_bearer(key))


def test_evolink_roundtrip(sim, images, receiver, client):
    tag = _tag("evo")
    r = _evo_submit(client, sim, cb=receiver.url(tag), image_urls=[images["photo"]])
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["id"].startswith("task-unified-") and len(task["id"].rsplit("-", 1)[1]) == 8
    assert task["object"] == "image.generation.task" and task["status"] == "pending" and task["progress"] == 0
    assert task["type"] == "image" and task["usage"]["billing_rule"] == "per_call"
    assert task["task_info"] == {"can_cancel": True, "estimated_time": 45}

    (call,) = receiver.wait(tag)
    assert not any(h.startswith(("webhook-", "x-atlascloud")) for h in call["headers"])
    event = json.loads(call["body"])
    current = client.get(f"{sim.base_url}/v1/tasks/{task['id']}", headers=_bearer(EVO_KEY)).json()
    assert event == current
    assert event["status"] == "completed" and event["progress"] == 100 and event["error"] is None
    _download_series(client, event["results"], (1024, 768))


def test_evolink_validation_and_models(sim, images, client):
    r = _evo_submit(client, sim, key="nope")
    assert r.status_code == 401 and set(r.json()["error"]) == {"code", "message", "type"}
    for overrides in ({"n": 6, "image_urls": [images["photo"]] * 10}, {"n": 0}, {"prompt": ""},
                      {"callback_url": "http://example.com/cb"}, {"size": "huge"}, {"model": "gpt-image-1"},
                      {"prompt_priority": "slow"}):
        r = _evo_submit(client, sim, **overrides)
        assert r.status_code == 400, overrides
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"], overrides
    assert _evo_submit(client, sim, model="doubao-seedream-5.0-lite", n=1).status_code == 200
    sim.evolink_models = {"seedream-5-lite-custom"}
    try:
        assert _evo_submit(client, sim, model="doubao-seedream-5.0-lite", n=1).status_code == 400
        assert _evo_submit(client, sim, model="seedream-5-lite-custom", n=1).status_code == 200
    finally:
        sim.evolink_models = {"doubao-seedream-5.0-lite"}
    r = client.get(f"{sim.base_url}/v1/tasks/task-unified-0-missing0", headers=_bearer(EVO_KEY))
    assert r.status_code == 404


# ------------------------------------------------------------------------------------------
# faults
# ------------------------------------------------------------------------------------------

def test_duplicate_callback_delivers_three_identical(sim, receiver, client):
    sim.set_faults(callback="duplicate")
    tag = _tag("dup")
    assert _evo_submit(client, sim, cb=receiver.url(tag), n=1, size="1K").status_code == 200
    calls = receiver.wait(tag, 3)
    time.sleep(0.1)
    calls = receiver.wait(tag, 3)
    assert len(calls) == 3 and len({c["body"] for c in calls}) == 1


def test_duplicate_wavespeed_keeps_signature(sim, images, receiver, client):
    sim.set_faults(callback="duplicate")
    tag = _tag("dupws")
    r = _ws_submit(client, sim, [images["photo"]], receiver.url(tag), max_images=1, size="1024*1024")
    assert r.status_code == 200
    calls = receiver.wait(tag, 3)
    assert len({c["headers"]["webhook-id"] for c in calls}) == 1
    for c in calls:
        _verify_wavespeed(c["headers"], c["body"])


def test_callback_retries_until_2xx(sim, images, receiver, client):
    tag = _tag("retry")
    receiver.fail_next = 2
    assert _evo_submit(client, sim, cb=receiver.url(tag), n=1, size="1K").status_code == 200
    calls = receiver.wait(tag, 3)
    assert [c["answered"] for c in calls] == [500, 500, 200]
    task_id = json.loads(calls[0]["body"])["id"]
    deadline = time.monotonic() + 5
    while len(log := [c for c in sim.callbacks if c["task_id"] == task_id]) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [c["status"] for c in log] == [500, 500, 200]


def test_not_image_output(sim, receiver, client):
    sim.set_faults(outputs="not_image")
    tag = _tag("notimg")
    assert _evo_submit(client, sim, cb=receiver.url(tag), n=1, size="1K").status_code == 200
    (call,) = receiver.wait(tag)
    r = client.get(json.loads(call["body"])["results"][0])
    assert r.status_code == 200 and not r.content.startswith(b"\x89PNG")
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(r.content))


def test_flaky_output(sim, receiver, client):
    sim.set_faults(outputs="flaky")
    tag = _tag("flaky")
    assert _evo_submit(client, sim, cb=receiver.url(tag), n=1, size="1K").status_code == 200
    (call,) = receiver.wait(tag)
    url = json.loads(call["body"])["results"][0]
    assert client.get(url).status_code == 500
    second = client.get(url)
    assert second.status_code == 200 and Image.open(io.BytesIO(second.content)).size == (1024, 1024)


def test_oversized_output_streams(sim, receiver, client):
    sim.set_faults(outputs="oversized", oversized_bytes=3 * 1024 * 1024)
    tag = _tag("big")
    assert _evo_submit(client, sim, cb=receiver.url(tag), n=1, size="1K").status_code == 200
    (call,) = receiver.wait(tag)
    with client.stream("GET", json.loads(call["body"])["results"][0]) as r:
        assert r.status_code == 200 and int(r.headers["content-length"]) == 3 * 1024 * 1024
        first = next(r.iter_bytes())
        assert first.startswith(b"\x89PNG\r\n\x1a\n")


def test_http_fault_and_state_endpoints(sim, client):
    r = client.post(f"{sim.base_url}/_sim/faults", json={"callback": "lost", "submit_errors": [503]})
    assert r.status_code == 200 and r.json()["callback"] == "lost"
    assert sim.faults["submit_errors"] == [503]
    assert client.post(f"{sim.base_url}/_sim/faults", json={"nope": 1}).status_code == 400
    assert client.post(f"{sim.base_url}/_sim/faults", json={"callback": "weird"}).status_code == 400
    state = client.get(f"{sim.base_url}/_sim/state").json()
    assert state["submits"] == len(sim.submits) and state["faults"]["callback"] == "lost"
    assert all("body" not in c for c in state["callbacks"])
    assert client.delete(f"{sim.base_url}/_sim/faults").json()["callback"] == "normal"
    assert sim.faults["submit_errors"] == []


def test_lost_callback_still_completes(sim, receiver, client):
    sim.set_faults(callback="lost")
    tag = _tag("lost")
    r = _evo_submit(client, sim, cb=receiver.url(tag), n=1, size="1K")
    task = sim.wait_for_task(r.json()["id"])
    assert task["status"] == "completed"
    time.sleep(0.2)
    assert not [c for c in receiver.calls if c["path"] == f"/cb/{tag}"]


def test_slow_output_and_late_callback(sim, receiver, client):
    sim.set_faults(outputs="slow", slow_chunk_delay=0.01, callback="late", late_seconds=0.3)
    tag = _tag("slow")
    submitted = time.monotonic()
    r = _evo_submit(client, sim, cb=receiver.url(tag), n=1, size="1K")
    (call,) = receiver.wait(tag)
    assert time.monotonic() - submitted >= 0.4  # 0.1 s generation + 0.3 s late
    with client.stream("GET", json.loads(call["body"])["results"][0]) as resp:
        chunks = list(resp.iter_raw())
    data = b"".join(chunks)
    assert len(data) == int(resp.headers["content-length"])
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)
    assert r.json()["id"] == json.loads(call["body"])["id"]


def test_wavespeed_sync_mode_and_evolink_ratio(sim, images, client):
    r = _ws_submit(client, sim, [images["photo"]], max_images=1, size="1024*1024", enable_sync_mode=True)
    data = r.json()["data"]
    assert data["status"] == "completed" and len(data["outputs"]) == 1
    _download_series(client, data["outputs"], (1024, 1024))
    r = _evo_submit(client, sim, n=1, size="16:9", quality="1K", image_urls=[images["second"]])
    task = sim.wait_for_task(r.json()["id"])
    assert task["width"] > task["height"] and abs(task["width"] / task["height"] - 16 / 9) < 0.05


def test_simulator_is_independent_of_seedream():
    tree = ast.parse((ROOT / "local" / "simulator.py").read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert "seedream" not in roots
    assert roots <= set(sys.stdlib_module_names) | {"PIL", "httpx", "cryptography", "__future__"}


def test_standalone_prints_base_url_and_keys():
    proc = subprocess.Popen([sys.executable, "-m", "local.simulator", "--port", "0", "--generation-seconds", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not (lines and lines[-1].startswith("}")):
            line = proc.stdout.readline()
            assert line, "simulator exited early"
            lines.append(line)
        info = json.loads("".join(lines))
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert info["keys"]["wavespeed"]["webhook_secret"].startswith("whsec_")
        r = httpx.get(info["base_url"] + "/api/v3/webhook/secret", trust_env=False,
                      headers=_bearer(info["keys"]["wavespeed"]["api_key"]))
        assert r.json()["data"]["secret"] == info["keys"]["wavespeed"]["webhook_secret"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
