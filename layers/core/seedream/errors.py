"""Error values with codes.

Every failure the product reports carries a stable ``code`` (snake_case), a message a
person can act on, and optional ``details``. The same code reaches the HTTP caller
(``{"error": {"code", "message", "details"}}``), the job record (``job.error``) and the
``Job Failed`` event, unchanged.
"""

from __future__ import annotations

from typing import Any


class JobError(Exception):
    """Base error: ``code`` (str), ``message`` (str), ``http_status`` (int), ``details`` (list|dict|None)."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if http_status:
            self.http_status = http_status
        self.details = details

    def to_body(self) -> dict:
        """The API error document: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def to_record(self) -> dict:
        """The job's ``error`` attribute: ``{"code", "message"}``."""
        return {"code": self.code, "message": self.message}


class InvalidRequest(JobError):
    """The caller's input breaks a rule (ours or a provider's documented limit). HTTP 400/422."""

    code = "invalid_request"
    http_status = 422


class JobNotFound(JobError):
    code = "job_not_found"
    http_status = 404


class Unauthorized(JobError):
    """A callback failed authentication (token, signature, timestamp or key id). HTTP 401."""

    code = "unauthorized"
    http_status = 401


class ProviderRejected(JobError):
    """The provider refused the job for good (4xx other than 429). Not retried."""

    code = "provider_rejected"
    http_status = 502


class ProviderUnavailable(JobError):
    """The provider could not take the job now (429, 5xx, timeout, refused connection). Retried."""

    code = "provider_unavailable"
    http_status = 503


class ProviderFailed(JobError):
    """The provider accepted the job and then reported it failed, timed out or flagged it."""

    code = "provider_error"
    http_status = 502


class OutputRejected(JobError):
    """An output URL broke a fetch rule (scheme, host, private address, size, not an image). Not retried."""

    code = "output_rejected"
    http_status = 502


class OutputUnavailable(JobError):
    """An output could not be downloaded now (network error, 5xx). Retried; the job stays retryable."""

    code = "output_unavailable"
    http_status = 503
