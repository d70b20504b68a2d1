"""List a caller's jobs, newest first: ``GET /v1/jobs?status=&limit=&cursor=``."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from ..errors import InvalidRequest
from ..models import JobStatus
from ..models.views import JobView
from ..services import Services

STATUSES = JobStatus.__args__
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class JobsPage:
    """A page of a caller's jobs, newest first; ``next_cursor`` (opaque) fetches the next, None at the end."""

    jobs: list[JobView]
    next_cursor: str | None


def list_jobs(svc: Services, owner: str | None, status: str | None = None, limit: str | int | None = None,
              cursor: str | None = None) -> JobsPage:
    """A page of ``owner``'s jobs (1..100, default 20), newest first, optionally of one ``status``; pass the
    page's ``next_cursor`` back as ``cursor`` for the next one (None: no more). The cursor is opaque and
    only good for the caller it was given to. Raises ``InvalidRequest`` (400) for a bad parameter."""
    svc.need("store", "blobs")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", http_status=400,
                             details=[{"field": "status", "message": f"one of {', '.join(STATUSES)}"}])
    size = DEFAULT_LIMIT if limit is None else _whole_number(limit)
    if not 1 <= size <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}", http_status=400,
                             details=[{"field": "limit", "message": f"1..{MAX_LIMIT}"}])
    if owner is None:
        return JobsPage([], None)
    start = _decode(cursor, owner) if cursor else None
    records, last = svc.store.by_owner(owner, size, status, start)
    presign = lambda uri: svc.blobs.presign_get(uri, svc.settings.presign_seconds)  # noqa: E731
    return JobsPage([JobView.of(r, presign) for r in records], _encode(last) if last else None)


def _whole_number(value: str | int) -> int:
    """``value`` as an int if it is one, or the decimal digits of one (ASCII only: not ``""``, ``" 5"``, ``"+5"``,
    ``"1_0"`` or ``"５"``, which ``int()`` would take), else 0 (also for more digits than any limit has: ``int()``
    raises past 4,300)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        return int(digits) if len(digits) <= 6 else 0
    return 0


def _encode(key: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, owner: str) -> dict:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not (isinstance(key, dict) and set(key) == {"job_id", "owner", "created_at"} and key.get("owner") == owner
            and all(isinstance(v, str) for v in key.values())):
        raise InvalidRequest("cursor is not one this API gave you; start again without it", http_status=400,
                             code="invalid_cursor", details=[{"field": "cursor", "message": "unknown cursor"}])
    return key
