"""Per-job callback tokens.

The webhook URL a provider receives carries ``?token=<random>``; only the token's SHA-256 is
stored on the job, and a callback's token is compared to it in constant time. A new token is
made for every hand-off to a provider, so a callback meant for an earlier attempt no longer
authenticates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 of the token, lowercase hex (64 characters): the only form that is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str | None, stored_hash: str | None) -> bool:
    """True when ``token`` hashes to ``stored_hash``; constant-time, False on any missing part."""
    if not token or not stored_hash:
        return False
    return hmac.compare_digest(token_hash(token), stored_hash)
