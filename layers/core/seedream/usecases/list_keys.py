"""List an IAM caller's API keys: ``GET /v1/keys`` (never a key, nor its hash)."""

from __future__ import annotations

from ..models.keys import ApiKeyList, ApiKeyView
from ..services import Services


def list_keys(svc: Services, owner: str | None) -> ApiKeyList:
    """``owner``'s keys, newest first, revoked ones included; none without an owner."""
    svc.need("keys")
    return ApiKeyList(keys=[ApiKeyView.of(record) for record in svc.keys.by_owner(owner)] if owner else [])
