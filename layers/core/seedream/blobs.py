"""S3: outputs streamed in through boto3's transfer manager, presigned URLs out.

Keys: ``outputs/{job_id}/{index:02d}.{ext}`` (deterministic, so a retried ingest overwrites
the same objects) and ``inputs/...`` for source images uploaded by clients.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig

# 8 MiB parts, at most 3 held in memory (s3transfer keeps 10 by default): an upload's memory stays
# near 24 MiB whatever the image size (measured by `make bench`).
TRANSFER = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=3)
TRANSFER.max_in_memory_upload_chunks = 3
DOWNLOAD_CONCURRENCY = 4  # outputs downloaded and uploaded at once by ingest


def output_key(job_id: str, index: int, extension: str) -> str:
    return f"outputs/{job_id}/{index:02d}.{extension}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``."""
    parts = urlsplit(uri)
    return parts.netloc, parts.path.lstrip("/")


class Blobs:
    """The stack's bucket. ``s3`` is a boto3 S3 client."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def upload_stream(self, key: str, stream, content_type: str) -> str:
        """Stream a file-like object to ``key`` (multipart above 8 MiB); returns its ``s3://`` URI.

        A raw stream is wrapped in a ``BufferedReader`` so each read fills a whole part: s3transfer
        treats a short read of a non-seekable stream as a (tiny) part of its own.
        """
        if isinstance(stream, io.RawIOBase):
            stream = io.BufferedReader(stream, buffer_size=1024 * 1024)
        self.s3.upload_fileobj(stream, self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=TRANSFER)
        return f"s3://{self.bucket}/{key}"

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix`` (used to leave nothing half-stored)."""
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def presign_get(self, uri_or_key: str, seconds: int) -> str:
        """Presigned GET URL for an object of this bucket, valid ``seconds``."""
        bucket, key = parse_s3_uri(uri_or_key) if uri_or_key.startswith("s3://") else (self.bucket, uri_or_key)
        return self.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)

    def exists(self, uri: str) -> bool:
        bucket, key = parse_s3_uri(uri)
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.ClientError:
            return False
        return True
