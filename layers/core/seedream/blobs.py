"""S3: the stack's bucket as every function sees it — existence checks, presigned URLs, clean-up.
Uploads of outputs are ingest's own (``uploads``).

Keys: ``outputs/{job_id}/{index:02d}.{ext}`` (deterministic, so a retried ingest overwrites the
same objects) and ``inputs/...`` for source images uploaded by clients.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from botocore.exceptions import ClientError


def output_key(job_id: str, index: int, extension: str) -> str:
    """The S3 key of output ``index`` (0-based) of a job: ``outputs/{job_id}/{index:02d}.{extension}``."""
    return f"outputs/{job_id}/{index:02d}.{extension}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``."""
    parts = urlsplit(uri)
    return parts.netloc, parts.path.lstrip("/")


DELETE_ATTEMPTS = 3
"""``DeleteObjects`` calls per page of keys before a key it keeps refusing is given up (``Blobs.delete_prefix``)."""


class Blobs:
    """The stack's bucket. ``s3`` is a botocore S3 client."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def delete_prefix(self, prefix: str) -> list[str]:
        """Delete every object under ``prefix`` (used to leave nothing half-stored); returns the keys still there.

        ``DeleteObjects`` answers 200 and lists the keys it could not delete in ``Errors`` (S3 API reference,
        DeleteObjects: e.g. ``InternalError``, ``SlowDown``); those are sent again, up to ``DELETE_ATTEMPTS`` times
        in all. A failed call (throttled, denied) raises ``ClientError``."""
        left: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for _ in range(DELETE_ATTEMPTS):
                if not keys:
                    break
                reply = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                keys = [{"Key": error["Key"]} for error in reply.get("Errors", [])]
            left += [key["Key"] for key in keys]
        return left

    def presign_get(self, uri_or_key: str, seconds: int) -> str:
        """Presigned GET URL for an object of this bucket, valid ``seconds``."""
        bucket, key = parse_s3_uri(uri_or_key) if uri_or_key.startswith("s3://") else (self.bucket, uri_or_key)
        return self.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)

    def read(self, key: str, version_id: str | None, limit: int) -> tuple[bytes, int] | None:
        """``(the first limit bytes, the whole size)`` of an object of this bucket (of ``version_id`` when given);
        None when it, or that version, does not exist (any other S3 error is raised)."""
        try:
            reply = self.s3.get_object(Bucket=self.bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404"):
                return None
            raise
        body = reply["Body"]
        try:
            data = body.read(limit)
        finally:
            body.close()
        return data, int(reply.get("ContentLength", len(data)))

    def exists(self, uri: str) -> bool:
        """Whether the object at ``s3://bucket/key`` exists (one HeadObject; any error, a 403 too, counts as no)."""
        bucket, key = parse_s3_uri(uri)
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True
