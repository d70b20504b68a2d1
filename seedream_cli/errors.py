"""The errors the command line reports as one line on stderr, with their exit status."""

from __future__ import annotations

import click

USAGE = 2
"""A usage error, an API error, an unreachable stack or a time-out."""
JOB_FAILED = 1
"""The job ended ``failed`` or ``cancelled``."""
CHECK_FAILED = 1
"""``seedream doctor``: a check does not hold."""
INTERRUPTED = 130


class CliError(click.ClickException):
    """Reported as ``seedream: error: <message>``; exit status 2 unless told otherwise."""

    exit_code = USAGE

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ApiError(CliError):
    """The API answered 4xx/5xx: ``{"error": {"code", "message", "details"}}`` (or API Gateway's ``{"message"}``)."""

    def __init__(self, status: int, code: str | None, message: str, details=None):
        self.status, self.code, self.details = status, code, details
        self.detail = message
        text = f"{code}: {message}" if code else message
        if isinstance(details, list):
            parts = [f"{d.get('field')}: {d.get('message')}" if isinstance(d, dict) and d.get("field") else str(d)
                     for d in details]
            parts = [part for part in parts if part not in message]  # the message often is the first detail
            if parts:
                text += " (" + "; ".join(parts[:5]) + ("; …" if len(parts) > 5 else "") + ")"
        super().__init__(f"{text} [HTTP {status}]")
