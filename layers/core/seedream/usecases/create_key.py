"""Make an API key for an IAM caller: ``POST /v1/keys``."""

from __future__ import annotations

from ..apikeys import key_hash, new_key
from ..clock import now_iso
from ..errors import InvalidRequest
from ..keystore import KeyRecord
from ..models.keys import ApiKeyView, CreatedKey
from ..services import Services


def create_key(svc: Services, owner: str | None) -> CreatedKey:
    """A new key acting as ``owner`` (the IAM caller's ARN); the answer holds the key, which is not stored (its
    SHA-256 is). Raises ``InvalidRequest`` (403, ``iam_caller_required``) without an IAM caller."""
    svc.need("keys")
    if not owner:
        raise InvalidRequest("API keys are made by an IAM caller: sign the request with SigV4", http_status=403,
                             code="iam_caller_required")
    key_id, key = new_key()
    record = KeyRecord(key_id=key_id, owner=owner, secret_sha256=key_hash(key), created_at=now_iso())
    svc.keys.add(record)
    return CreatedKey(**ApiKeyView.of(record).model_dump(), key=key)
