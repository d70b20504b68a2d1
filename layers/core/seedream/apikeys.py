"""API keys for callers outside AWS: their form, how they are hashed and how a presented key is checked.

A key is ``sk_<key_id>_<secret>``: ``key_id`` is 16 lowercase hex characters (8 random bytes; shown in
listings and logs), ``secret`` 48 lowercase hex characters (24 random bytes, 192 bits; hex so that a double click
selects the whole key). Only the SHA-256 of the
whole key is stored (``secret_sha256``, 64 hex characters); the key itself is shown once, when it is made.
A presented key is compared to the stored hash with ``hmac.compare_digest`` (constant time), as callback
tokens are (``seedream.tokens``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "sk_"
KEY_FORM = re.compile(r"sk_([0-9a-f]{16})_([0-9a-f]{48})")
"""The whole key: ``sk_`` + key id + ``_`` + secret."""
KEY_ID_FORM = re.compile(r"[0-9a-f]{16}")


def new_key() -> tuple[str, str]:
    """A fresh ``(key_id, key)``: ``key`` is ``sk_<key_id>_<secret>`` (68 characters)."""
    key_id = secrets.token_hex(8)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_hex(24)}"


def key_hash(key: str) -> str:
    """SHA-256 of the whole key, lowercase hex (64 characters): the only form that is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(authorization: str | None) -> tuple[str, str] | None:
    """``(key_id, key)`` of an ``Authorization: Bearer sk_…`` header value, or None when it is not one
    (another scheme, a malformed key). The scheme is case-insensitive (RFC 9110 §11.1), the key is not."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    match = KEY_FORM.fullmatch(key.strip()) if scheme.lower() == "bearer" else None
    return (match.group(1), match.group(0)) if match else None


def key_matches(key: str, stored_hash: str | None) -> bool:
    """True when ``key`` hashes to ``stored_hash``; constant-time (``hmac.compare_digest``), False when none is stored."""
    if not stored_hash:
        return False
    return hmac.compare_digest(key_hash(key), stored_hash)
