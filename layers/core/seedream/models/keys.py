"""API shapes of API keys (``/v1/keys``); the stored shape is ``seedream.keystore.KeyRecord``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..keystore import KeyRecord


class ApiKeyView(BaseModel):
    """A key as ``GET /v1/keys`` shows it: never the key, nor its hash."""

    key_id: str = Field(description="16 hex characters; the key is sk_<key_id>_<secret>")
    prefix: str = Field(description="sk_<key_id>_: how the key begins, to recognise it")
    owner: str = Field(description="The IAM caller (ARN) the key acts as: it sees and makes that caller's jobs")
    created_at: str
    last_used_at: str | None = Field(default=None, description="When the authorizer last checked the key (not on "
                                                               "requests its cached answer let through: up to 300 s)")
    revoked: bool
    revoked_at: str | None = None

    @classmethod
    def of(cls, record: KeyRecord) -> ApiKeyView:
        """The view of a stored key: its ``sk_<key_id>_`` prefix, never the secret or its hash."""
        return cls(key_id=record.key_id, prefix=f"sk_{record.key_id}_", owner=record.owner,
                   created_at=record.created_at, last_used_at=record.last_used_at, revoked=record.revoked,
                   revoked_at=record.revoked_at)


class CreatedKey(ApiKeyView):
    """``POST /v1/keys``'s answer: the key itself, shown this once (only its SHA-256 is stored)."""

    key: str = Field(description="sk_<key_id>_<secret>: send it as 'Authorization: Bearer <key>'; it cannot be "
                                 "shown again")


class ApiKeyList(BaseModel):
    """``GET /v1/keys``'s answer."""

    keys: list[ApiKeyView] = Field(description="The caller's keys, newest first, revoked ones included")
