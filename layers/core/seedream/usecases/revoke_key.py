"""Revoke one of an IAM caller's API keys: ``DELETE /v1/keys/{key_id}``."""

from __future__ import annotations

from ..apikeys import KEY_ID_FORM
from ..clock import now_iso
from ..errors import KeyNotFound
from ..models.keys import ApiKeyView
from ..services import Services


def revoke_key(svc: Services, key_id: str, owner: str | None) -> ApiKeyView:
    """Revoke ``owner``'s key ``key_id`` (again: no change) and return it. The authorizer refuses it from its next
    check; an answer API Gateway cached for it (``ReauthorizeEvery``, 300 s) still lets it through until it
    expires. Raises ``KeyNotFound`` (404) when ``owner`` has no such key."""
    svc.need("keys")
    record = svc.keys.revoke(key_id, owner, now_iso()) if owner and KEY_ID_FORM.fullmatch(key_id) else None
    if record is None:
        raise KeyNotFound(f"you have no API key {key_id!r} (seedream keys list shows yours)")
    return ApiKeyView.of(record)
