"""Independent signers for provider callbacks: one recipe per provider, written from the providers'
documents, never imported from ``seedream``. Every test that signs a callback uses these.

- WaveSpeed (docs "Webhooks"): headers ``webhook-id``, ``webhook-timestamp`` (unix seconds),
  ``webhook-signature: v3,<hex>``; hex = HMAC-SHA256 over ``f"{id}.{timestamp}." + raw body``,
  keyed with the secret **minus its ``whsec_`` prefix, used as UTF-8 text** (not base64-decoded,
  unlike Standard Webhooks).
- Atlas Cloud (third-party client code for its webhooks): headers ``X-AtlasCloud-Webhook-Id``,
  ``-Timestamp`` (unix s), ``-Key-Id`` (kid), ``-Signature-Ed25519`` = base64url without padding of
  the Ed25519 signature over ``f"{timestamp}." + raw body``; public keys published as an OKP/Ed25519
  JWKS chosen by kid.
- evolink signs nothing (its callback is authenticated by the per-job URL token only).
- Replicate (docs "Verify webhooks", Standard Webhooks): headers ``webhook-id``, ``webhook-timestamp`` (unix s),
  ``webhook-signature: v1,<base64>``; HMAC-SHA256 over ``f"{id}.{timestamp}." + raw body`` keyed with the
  **base64-decoded** part of the secret after ``whsec_``.
- fal.ai (its webhook docs, and several clients): see ``FalSigner``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def wavespeed_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """``v3,<hex>`` for ``body``: HMAC-SHA256 keyed with the secret minus ``whsec_`` as text."""
    key = secret.removeprefix("whsec_").encode("utf-8")
    return "v3," + hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def webhook_headers(signature, body: bytes, webhook_id: str | None, timestamp: int | str | None) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` (default now) and ``webhook-signature: signature(id, timestamp, body)``."""
    webhook_id = webhook_id or "msg_" + secrets.token_hex(8)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": ts,
            "webhook-signature": signature(webhook_id, ts, body)}


def wavespeed_headers(secret: str, body: bytes, *, webhook_id: str | None = None,
                      timestamp: int | str | None = None) -> dict[str, str]:
    """The three signature headers WaveSpeed sends with ``body`` (timestamp defaults to now)."""
    return webhook_headers(lambda i, t, b: wavespeed_signature(secret, i, t, b), body, webhook_id, timestamp)


def replicate_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64>`` for ``body``: HMAC-SHA256 keyed with the base64-decoded secret after ``whsec_``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def replicate_headers(secret: str, body: bytes, *, webhook_id: str | None = None,
                      timestamp: int | str | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers Replicate sends with ``body`` (timestamp defaults to now)."""
    return webhook_headers(lambda i, t, b: replicate_signature(secret, i, t, b), body, webhook_id, timestamp)


class AtlasSigner:
    """An Atlas Cloud webhook signing key: ``headers(body)`` signs, ``jwks()`` publishes the public key."""

    def __init__(self, kid: str | None = None, key: Ed25519PrivateKey | None = None):
        self.kid = kid or "test-" + secrets.token_hex(6)
        self.key = key or Ed25519PrivateKey.generate()

    def signature(self, timestamp: int | str, body: bytes, *, padded: bool = False) -> str:
        """base64url of the Ed25519 signature over ``f"{timestamp}." + body`` (``padded``: keep the ``=``)."""
        raw = self.key.sign(f"{timestamp}.".encode() + body)
        return base64.urlsafe_b64encode(raw).decode("ascii") if padded else b64url(raw)

    def headers(self, body: bytes, *, timestamp: int | str | None = None, kid: str | None = None,
                webhook_id: str | None = None, padded: bool = False,
                signature_header: str = "X-AtlasCloud-Webhook-Signature-Ed25519") -> dict[str, str]:
        """The headers Atlas Cloud sends with ``body`` (timestamp defaults to now); ``signature_header``
        may be the bare ``X-AtlasCloud-Webhook-Signature`` the signature is expected to move to."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {"content-type": "application/json", "X-AtlasCloud-Webhook-Event": "image.task.terminal",
                "X-AtlasCloud-Webhook-Id": webhook_id or "evt_" + secrets.token_hex(8),
                "X-AtlasCloud-Webhook-Timestamp": ts, "X-AtlasCloud-Webhook-Key-Id": kid or self.kid,
                signature_header: self.signature(ts, body, padded=padded)}

    def jwk(self) -> dict:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "x": b64url(raw), "alg": "EdDSA", "use": "sig"}

    def jwks(self, *others: AtlasSigner) -> dict:
        """A JWKS document holding this key (and ``others``)."""
        return {"keys": [self.jwk(), *(o.jwk() for o in others)]}


class FalSigner:
    """A fal.ai webhook signing key (fal's webhook docs; the recipe several clients agree on): headers
    ``X-Fal-Webhook-Request-Id``, ``-User-Id``, ``-Timestamp`` (unix s), ``-Signature`` = hex of the Ed25519
    signature over ``request_id\\nuser_id\\ntimestamp\\nsha256_hex(body)``; public keys published as a JWKS
    (no key id in the webhook: a verifier tries each key)."""

    def __init__(self, key: Ed25519PrivateKey | None = None, user_id: str = "test-user"):
        self.key = key or Ed25519PrivateKey.generate()
        self.user_id = user_id

    def headers(self, body: bytes, request_id: str, *, timestamp: int | str | None = None,
                user_id: str | None = None, signed_request_id: str | None = None) -> dict[str, str]:
        """The headers fal sends with ``body`` for ``request_id`` (timestamp defaults to now); ``signed_request_id``
        signs another id than the header names (a forgery)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        user = user_id or self.user_id
        message = "\n".join((signed_request_id or request_id, user, ts, hashlib.sha256(body).hexdigest())).encode()
        return {"content-type": "application/json", "X-Fal-Webhook-Request-Id": request_id,
                "X-Fal-Webhook-User-Id": user, "X-Fal-Webhook-Timestamp": ts,
                "X-Fal-Webhook-Signature": self.key.sign(message).hex()}

    def jwk(self) -> dict:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "kid": "fal-" + b64url(raw)[:8], "x": b64url(raw), "alg": "EdDSA",
                "use": "sig"}

    def jwks(self, *others: FalSigner) -> dict:
        return {"keys": [self.jwk(), *(o.jwk() for o in others)]}
