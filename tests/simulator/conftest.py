"""Fixtures for the simulator tests: one simulator per module, a loopback image server and a
loopback callback receiver. Everything binds 127.0.0.1; no request leaves the machine."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from local.simulator import ProviderSimulator

from .helpers import KEYS, Receiver, Serving, photo_png, second_jpeg


@pytest.fixture(scope="module")
def images():
    files = {"/photo.png": (photo_png(), "image/png"), "/second.jpg": (second_jpeg(), "image/jpeg")}

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

    serving = Serving(Handler)
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
    sim = ProviderSimulator(generation_seconds=0.1, keys=KEYS)
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
