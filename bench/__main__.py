"""``make bench``: ingest of one large output, streamed (ours) vs buffered whole (baseline);
then the webhook's answer time (``bench/webhook.py``).

Setup, all on 127.0.0.1: a moto server in a subprocess (so the S3 copy it keeps is not traced
here), and an HTTP server in this process that streams a valid PNG header followed by filler
(``OUTPUT_MIB``, default 48 MiB, the size of a 4096×4096 PNG of a detailed image).

- streamed: ``seedream.fetch.Fetcher`` → ``Blobs.upload_stream`` (boto3 transfer manager,
  8 MiB multipart), the path ``ingest`` takes;
- baseline: ``httpx.get(url).content`` → ``put_object``, the obvious way.

Printed per variant: wall time (best of ``ROUNDS``) and peak Python heap (``tracemalloc``), then
streamed/baseline ratios. Lower is better.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import httpx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "layers", "core"))

from seedream.blobs import Blobs  # noqa: E402
from seedream.fetch import Fetcher  # noqa: E402

MIB = 1024 * 1024
OUTPUT_BYTES = int(float(os.environ.get("OUTPUT_MIB", 48)) * MIB)
ROUNDS = int(os.environ.get("ROUNDS", 3))


def png_header(width: int = 4096, height: int = 4096) -> bytes:
    """PNG signature, IHDR, and the start of one IDAT chunk that the filler bytes then fill."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return head + struct.pack(">I", OUTPUT_BYTES - len(head) - 8) + b"IDAT"


class Output(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        head = png_header()
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.send_header("content-length", str(OUTPUT_BYTES))
        self.end_headers()
        self.wfile.write(head)
        left, block = OUTPUT_BYTES - len(head), b"\x00" * MIB
        while left > 0:
            self.wfile.write(block[: min(left, MIB)])
            left -= MIB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(fn) -> tuple[float, int]:
    best = float("inf")
    peak = 0
    for _ in range(ROUNDS):
        tracemalloc.start()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return best, peak


def main() -> int:
    moto_port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Output)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/out.png"
    try:
        endpoint = f"http://127.0.0.1:{moto_port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench")
        for _ in range(100):
            try:
                s3.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.1)
        blobs = Blobs(s3, "bench")
        http = httpx.Client(timeout=60)
        fetcher = Fetcher(http, max_bytes=OUTPUT_BYTES + MIB, allow_loopback_http=True)

        def streamed():
            download, close = fetcher.open(url)
            try:
                blobs.upload_stream("outputs/bench/00.png", download.stream, download.content_type)
            finally:
                close()

        def buffered():
            data = http.get(url).content
            s3.put_object(Bucket="bench", Key="outputs/bench/00.png", Body=data, ContentType="image/png")

        print(f"ingest of one {OUTPUT_BYTES / MIB:.0f} MiB output into S3 (moto on loopback), best of {ROUNDS}")
        base_time, base_peak = measure(buffered)
        ours_time, ours_peak = measure(streamed)
        print(f"  baseline  buffered whole : {base_time:7.3f} s   peak heap {base_peak / MIB:7.1f} MiB")
        print(f"  ours      streamed       : {ours_time:7.3f} s   peak heap {ours_peak / MIB:7.1f} MiB")
        print(f"  ratio ours/baseline      : time {ours_time / base_time:5.2f}x   peak heap {ours_peak / base_peak:5.2f}x")
    finally:
        server.shutdown()
        moto.terminate()
        moto.wait(timeout=10)
    return 0


if __name__ == "__main__":
    status = main()
    print()
    from bench.webhook import run as webhook_bench

    webhook_bench()
    sys.exit(status)
