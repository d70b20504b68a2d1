"""Error values with codes.

Every failure the product reports carries a stable ``code`` (snake_case), a message a person
can act on, and optional ``details``. The same code reaches the HTTP caller
(``{"error": {"code", "message", "details"}}``), the job record (``job.error``) and the
``Job Failed`` event, unchanged. One code per meaning: a code never names both a retryable
and a final condition. ``http_status`` is how a handler presents the error over HTTP.

- ``InvalidRequest``: ``invalid_request``, ``invalid_json``, ``provider_limit_exceeded``, ``provider_not_enabled``,
  ``callback_malformed`` — the caller's (or a callback's) input breaks a rule; nothing changes.
- ``JobNotFound``: ``job_not_found``.
- ``KeyNotFound``: ``key_not_found`` — no API key of the caller's with that id.
- ``Unauthorized``: ``token_invalid``, ``signature_missing``, ``signature_invalid``,
  ``timestamp_out_of_range``, ``key_unknown``, ``signature_unverifiable`` — a callback failed
  authentication; nothing changes.
- ``ProviderRejected``: ``provider_rejected`` — the provider refused the job for good (4xx).
- ``ProviderUnavailable``: ``provider_unavailable``, ``provider_rate_limited``, ``provider_timeout``
  — the provider cannot take or answer it now; retried.
- ``ProviderFailed``: ``provider_error`` — accepted, then reported failed, timed out or NSFW.
- ``OutputRejected``: ``output_url_forbidden``, ``output_too_large``, ``output_not_image``,
  ``output_gone`` (the URL answered 4xx: expired or missing), ``outputs_expired`` (past the time the provider
  documents deleting its outputs, e.g. Replicate's hour: nothing is fetched any more) — final.
- ``OutputUnavailable``: ``output_unavailable`` — network error, 429 or 5xx; retried.
- ``ServiceUnavailable``: ``queue_unavailable`` — one of our own AWS dependencies failed; the caller retries.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DETAILS = 20
MAX_DETAIL_BYTES = 1024
MAX_MESSAGE_CHARS = 2000


def capped(details: Any) -> Any:
    """At most ``MAX_DETAILS`` entries of at most ``MAX_DETAIL_BYTES`` each (a longer one keeps its field and a
    shortened message), so no request can make the error document large."""
    if not isinstance(details, list):
        return details
    kept = []
    for entry in details[:MAX_DETAILS]:
        if len(json.dumps(entry, default=str)) > MAX_DETAIL_BYTES and isinstance(entry, dict):
            entry = {k: (str(v)[:200] + "…" if len(str(v)) > 200 else v) for k, v in entry.items()}
        kept.append(entry)
    if len(details) > MAX_DETAILS:
        kept.append({"field": "body", "message": f"and {len(details) - MAX_DETAILS} more problems"})
    return kept


class JobError(Exception):
    """Base error: ``code`` (str), ``message`` (str), ``http_status`` (int), ``details`` (list|dict|None)."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, http_status: int | None = None):
        message = message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "…"
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if http_status:
            self.http_status = http_status
        self.details = capped(details)

    def to_body(self) -> dict:
        """The API error document: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(JobError):
    """The caller's input breaks a rule (ours or a provider's documented limit). HTTP 400/422."""

    code = "invalid_request"
    http_status = 422


class JobNotFound(JobError):
    """No job with that id, or one of another caller (HTTP 404: a caller cannot tell the two apart)."""

    code = "job_not_found"
    http_status = 404


class KeyNotFound(JobError):
    """No API key of the caller's with that id (another caller's key is not found either). HTTP 404."""

    code = "key_not_found"
    http_status = 404


class Unauthorized(JobError):
    """A callback failed authentication (token, signature, timestamp or key id). HTTP 401."""

    code = "unauthorized"
    http_status = 401


class ProviderRejected(JobError):
    """The provider refused the job for good (4xx other than 429). Not retried at that provider;
    ``names_limit`` when its message names a limit (size, count, range...): ``auto`` then tries the next."""

    code = "provider_rejected"
    http_status = 502
    names_limit = False


class ProviderUnavailable(JobError):
    """The provider could not take the job now (429, 5xx, timeout, refused connection). Retried.

    ``retry_after``: seconds the provider asked us to wait (its ``Retry-After`` header, RFC 9110 §10.2.3),
    or None. A 429 (``provider_rate_limited``) is back-pressure: ``usecases.submit`` waits, it does not fail."""

    code = "provider_unavailable"
    http_status = 503
    retry_after: float | None = None

    @property
    def throttled(self) -> bool:
        """A 429 (``provider_rate_limited``): back-pressure, waited out, never a failure of the job."""
        return self.code == "provider_rate_limited"


class ProviderFailed(JobError):
    """The provider accepted the job and then reported it failed, timed out or flagged it."""

    code = "provider_error"
    http_status = 502


class OutputRejected(JobError):
    """An output broke a fetch rule (scheme, host, private address, size, not an image) or its URL
    answered 4xx (``output_gone``: expired or missing). Final: the job fails."""

    code = "output_url_forbidden"
    http_status = 502


class OutputUnavailable(JobError):
    """An output could not be downloaded now (network error, 429, 5xx). Retried; the job stays retryable."""

    code = "output_unavailable"
    http_status = 503


class ServiceUnavailable(JobError):
    """One of our own AWS dependencies (a queue) failed; nothing was stored and the caller should retry."""

    code = "queue_unavailable"
    http_status = 503
