"""Large provider outputs for the ingest bench: noisy 4096×4096 PNGs, made once, served over loopback.

``ensure_pngs()`` writes ``AMPLITUDES`` distinct PNGs of uniform noise (narrow noise compresses
better, so the sizes spread over 20–48 MB) to ``.bench/outputs/`` once. ``OutputServer`` runs
``python -m bench.outputs`` in its own process (so serving does not compete with the stack in the
bench process for the GIL): ``GET /out/<anything>/<k>.png`` sends PNG ``k mod AMPLITUDES`` with
``sendfile``. The server binds 127.0.0.1 and exits when its parent goes away or after ``TTL`` s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .common import CACHE, ROOT

FOLDER = CACHE / "outputs"
SIDE = 4096
AMPLITUDES = (4, 12, 40, 110)  # noise width per channel value: ≈21, 31, 40 and 47 MB as PNG
TTL = 3600


def png_path(amplitude: int) -> Path:
    return FOLDER / f"noise-{SIDE}-a{amplitude}.png"


def ensure_pngs(say=print) -> list[Path]:
    paths = [png_path(a) for a in AMPLITUDES]
    missing = [(a, p) for a, p in zip(AMPLITUDES, paths, strict=True) if not p.exists()]
    if missing:
        import random

        from PIL import Image

        FOLDER.mkdir(parents=True, exist_ok=True)
        say(f"ingest: making {len(missing)} noisy {SIDE}×{SIDE} PNGs in {FOLDER.relative_to(ROOT)} (once)")
        for amplitude, path in missing:
            low = 128 - amplitude // 2
            table = bytes(low + i % amplitude for i in range(256))
            noise = random.Random(amplitude).randbytes(SIDE * SIDE * 3).translate(table)
            partial = path.with_suffix(".tmp")
            Image.frombytes("RGB", (SIDE, SIDE), noise).save(partial, "PNG", compress_level=1)
            partial.replace(path)
    sizes = [p.stat().st_size for p in paths]
    if not all(20e6 <= s <= 48e6 for s in sizes):
        raise SystemExit(f"bench: output PNG sizes {sizes} are not all within 20–48 MB")
    return paths


class OutputServer:
    """The PNGs on ``url`` (``http://127.0.0.1:<port>``), served by a child process until ``stop()``."""

    def __init__(self):
        ensure_pngs()
        self.process = subprocess.Popen([sys.executable, "-m", "bench.outputs"], cwd=ROOT, stdout=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise SystemExit(f"bench: the output server did not start ({line!r})")
        self.url = f"http://127.0.0.1:{line}"

    def urls(self, tag: str, count: int) -> list[str]:
        return [f"{self.url}/out/{tag}/{k}.png" for k in range(count)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    paths: list[Path] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        match = re.fullmatch(r"/out/[\w.-]+/(\d+)\.png", self.path)
        if not match:
            self.send_error(404)
            return
        path = self.paths[int(match.group(1)) % len(self.paths)]
        with path.open("rb") as file:
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(path.stat().st_size))
            self.end_headers()
            self.wfile.flush()
            self.connection.sendfile(file)


def serve() -> None:
    _Handler.paths = [png_path(a) for a in AMPLITUDES]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    parent, deadline = os.getppid(), time.monotonic() + TTL

    def watchdog():
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(1)
        server.shutdown()

    threading.Thread(target=watchdog, daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve()
