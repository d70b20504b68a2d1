"""A provider's webhook JWKS (Ed25519 public keys), cached per function instance and refetched sparingly.

Shared by the adapters whose callbacks are signed with Ed25519 keys a provider publishes as a JWKS
(RFC 7517 / RFC 8037: ``kty=OKP``, ``crv=Ed25519``, base64url ``x`` of 32 bytes): Atlas Cloud
(keys chosen by ``kid``) and fal.ai (no key id in the callback: every published key is tried).

Policy: fetched on first need, never per callback; refetched at most once when a callback names a key
(or, without a key id, carries a signature) no cached key matches — key rotation — and never more often
than once per ``min_refresh_seconds`` (measured with the ``now`` the caller passes), so forged callbacks
cannot make us hammer the provider's JWKS endpoint. A JWKS that cannot be fetched or holds no usable key
raises ``Unauthorized`` with code ``signature_unverifiable``: answered 401, nothing changes, the provider
retries. ``cryptography`` is imported on first use, so functions that never verify do not load it.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from ..errors import Unauthorized

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from .calls import Http


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without ``=`` padding; raises ``ValueError`` on anything else."""
    stripped = text.strip().rstrip("=")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None


def parse_jwks(document: object) -> dict[str, Ed25519PublicKey]:
    """``kid`` -> public key for every usable Ed25519 key (``kty=OKP``, ``crv=Ed25519``, 32-byte ``x``).
    A key without a ``kid`` is kept under its ``x`` (fal.ai's keys are tried in turn, not chosen by id)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys: dict[str, Ed25519PublicKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue
        kid, x = entry.get("kid"), entry.get("x")
        if not isinstance(x, str) or (kid is not None and (not isinstance(kid, str) or not kid)):
            continue
        try:
            raw = b64url_decode(x)
        except ValueError:
            continue
        if len(raw) != 32:
            continue
        keys[kid or x] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


class JwksCache:
    """The Ed25519 keys of one JWKS URL (see the module docstring). ``fetches`` counts JWKS requests made.

    ``provider`` names the provider in error messages; ``http`` is the function's provider client (no
    ``Authorization`` header is sent: the JWKS is public and our key must not go to a configured URL)."""

    def __init__(self, http: Http, url: str, provider: str, min_refresh_seconds: float):
        self.http = http
        self.url = url
        self.provider = provider
        self.min_refresh_seconds = min_refresh_seconds
        self.fetches = 0
        self._keys: dict[str, Ed25519PublicKey] | None = None
        self._last_fetch_at: float | None = None

    def fetch(self, now: float) -> dict[str, Ed25519PublicKey]:
        """Fetch the JWKS now (callers check ``may_fetch``); raises ``Unauthorized`` (``signature_unverifiable``)."""
        import httpx

        self._last_fetch_at = now
        self.fetches += 1
        try:
            response = self.http.get(self.url)
        except httpx.HTTPError as exc:
            raise Unauthorized(f"{self.provider} JWKS could not be fetched: {exc}",
                               code="signature_unverifiable") from exc
        if response.status_code != 200:
            raise Unauthorized(f"{self.provider} JWKS answered HTTP {response.status_code}",
                               code="signature_unverifiable")
        try:
            keys = parse_jwks(response.json())
        except ValueError:
            raise Unauthorized(f"{self.provider} JWKS is not JSON", code="signature_unverifiable") from None
        if not keys:
            raise Unauthorized(f"{self.provider} JWKS holds no Ed25519 key", code="signature_unverifiable")
        self._keys = keys
        return keys

    def may_fetch(self, now: float) -> bool:
        """True when a (re)fetch is allowed now: never fetched, or the last one ``min_refresh_seconds`` ago."""
        return self._last_fetch_at is None or now - self._last_fetch_at >= self.min_refresh_seconds

    def cached(self, now: float) -> dict[str, Ed25519PublicKey]:
        """The cached keys, fetched on first need; raises ``Unauthorized`` when none can be had."""
        if self._keys is not None:
            return self._keys
        if self.may_fetch(now):
            return self.fetch(now)
        raise Unauthorized(f"{self.provider} JWKS is unavailable (recent fetch failed)", code="signature_unverifiable")

    def refreshed(self, now: float) -> dict[str, Ed25519PublicKey] | None:
        """The keys after one refetch when the rate limit allows it (a key may have rotated in), else None."""
        return self.fetch(now) if self.may_fetch(now) else None

    def key(self, kid: str, now: float) -> Ed25519PublicKey:
        """The key named ``kid``: from the cache, else after one (rate-limited) refetch. Raises ``Unauthorized``
        (``key_unknown`` when the JWKS does not hold it, ``signature_unverifiable`` when it cannot be fetched)."""
        if self._keys is not None and kid in self._keys:
            return self._keys[kid]
        if self.may_fetch(now):
            self.fetch(now)
        elif self._keys is None:
            raise Unauthorized(f"{self.provider} JWKS is unavailable (recent fetch failed)",
                               code="signature_unverifiable")
        key = (self._keys or {}).get(kid)
        if key is not None:
            return key
        raise Unauthorized(f"{self.provider} key id {kid[:64]!r} is not in the JWKS", code="key_unknown")
