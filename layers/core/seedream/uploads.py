"""S3 uploads of provider outputs (ingest only): streamed through s3transfer's ``TransferManager``,
then checked again when a retried ingest resumes.

``TransferManager`` is what boto3's ``upload_fileobj`` drives; calling it directly spares every
function the import of boto3 itself. Parts of 8 MiB, at most 3 held in memory per upload
(s3transfer keeps 10 by default): an upload's memory stays near 24 MiB whatever the image size,
and ingest runs ``DOWNLOAD_CONCURRENCY`` of them at once (measured by ``make bench``).
"""

from __future__ import annotations

import io

from botocore.exceptions import ClientError
from s3transfer.manager import TransferConfig, TransferManager

from .blobs import parse_s3_uri

TRANSFER = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024,
                          max_request_concurrency=3, max_in_memory_upload_chunks=3)
DOWNLOAD_CONCURRENCY = 4
"""Outputs downloaded and uploaded at once by ingest."""


class Uploader:
    """Writes outputs into the stack's bucket. ``s3`` is a botocore S3 client."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def upload_stream(self, key: str, stream, content_type: str) -> tuple[str, str]:
        """Stream a file-like object to ``key`` (multipart above 8 MiB); returns its ``s3://`` URI and ETag.

        A raw stream is wrapped in a ``BufferedReader`` so each read fills a whole part: s3transfer
        treats a short read of a non-seekable stream as a (tiny) part of its own.
        """
        if isinstance(stream, io.RawIOBase):
            stream = io.BufferedReader(stream, buffer_size=1024 * 1024)
        with TransferManager(self.s3, TRANSFER) as manager:
            manager.upload(stream, self.bucket, key, extra_args={"ContentType": content_type}).result()
        etag = self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"]
        return f"s3://{self.bucket}/{key}", etag

    def holds(self, uri: str, etag: str, size: int) -> bool:
        """True when the object at ``uri`` is still the one written with ``etag`` and has ``size`` bytes."""
        bucket, key = parse_s3_uri(uri)
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key, IfMatch=etag)
        except ClientError:
            return False
        return head["ContentLength"] == size
