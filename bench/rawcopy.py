"""The raw copy the ingest baselines run: ``httpx`` streaming GET → ``s3.upload_fileobj``, in parallel.

Same concurrency (``DOWNLOAD_CONCURRENCY`` outputs at once) and the same transfer settings as ingest
(``TRANSFER``, both imported from ``seedream.uploads``, given to boto3 as its ``TransferConfig``);
no checks, no records, no events.
"""

from __future__ import annotations

import io
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "core"))

from seedream.uploads import DOWNLOAD_CONCURRENCY, TRANSFER  # noqa: E402

BOTO3_TRANSFER = TransferConfig(multipart_threshold=TRANSFER.multipart_threshold,
                                multipart_chunksize=TRANSFER.multipart_chunksize,
                                max_concurrency=TRANSFER.max_request_concurrency)
BOTO3_TRANSFER.max_in_memory_upload_chunks = TRANSFER.max_in_memory_upload_chunks


class _Body(io.RawIOBase):
    """A response's chunks as a readable raw stream."""

    def __init__(self, chunks):
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def s3_client():
    return boto3.client("s3", config=Config(s3={"addressing_style": "path"}))


def copy_all(urls: list[str], bucket: str, prefix: str, s3=None, http: httpx.Client | None = None) -> int:
    """Copy every URL to ``{prefix}{index:02d}.png``; returns the bytes copied."""
    s3 = s3 or s3_client()
    http = http or httpx.Client(timeout=60)

    def one(indexed: tuple[int, str]) -> int:
        index, url = indexed
        with http.stream("GET", url) as response:
            response.raise_for_status()
            body = io.BufferedReader(_Body(response.iter_raw(1024 * 1024)), buffer_size=1024 * 1024)
            s3.upload_fileobj(body, bucket, f"{prefix}{index:02d}.png", Config=BOTO3_TRANSFER,
                              ExtraArgs={"ContentType": response.headers.get("content-type", "application/octet-stream")})
            return response.num_bytes_downloaded

    with ThreadPoolExecutor(max_workers=DOWNLOAD_CONCURRENCY) as pool:
        return sum(pool.map(one, enumerate(urls)))
