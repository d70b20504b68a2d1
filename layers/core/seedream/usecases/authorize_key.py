"""Check an ``Authorization: Bearer sk_…`` header for the API key authorizer (``functions/authorizer``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..apikeys import key_id_of, key_matches
from ..clock import now_iso
from ..services import Services


@dataclass(frozen=True)
class Verdict:
    """``owner`` and ``key_id`` when the key is good; otherwise ``reason`` (``not_a_key``, ``key_unknown``,
    ``key_mismatch``, ``key_revoked``), for the log and the metric only: API Gateway answers 403 for all."""

    owner: str | None = None
    key_id: str | None = None
    reason: str | None = None


def authorize_key(svc: Services, authorization: str | None) -> Verdict:
    """The verdict on an ``Authorization`` header value: one ``GetItem`` of the key id, a constant-time compare
    of the key's SHA-256 with the stored one, and on success ``last_used_at`` set to now (one ``UpdateItem``)."""
    svc.need("keys")
    presented = key_id_of(authorization)
    if presented is None:
        return Verdict(reason="not_a_key")
    key_id, key = presented
    record = svc.keys.find(key_id)
    if record is None:
        return Verdict(key_id=key_id, reason="key_unknown")
    if not key_matches(key, record.secret_sha256):
        return Verdict(key_id=key_id, reason="key_mismatch")
    if record.revoked:
        return Verdict(key_id=key_id, reason="key_revoked")
    svc.keys.touch(key_id, now_iso())
    return Verdict(owner=record.owner, key_id=key_id)
