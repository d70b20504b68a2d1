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
    """The API answered 4xx/5xx: ``{"error": {"code", "message", "details"}}`` (or API Gateway's ``{"message"}``).

    One line, ``code: message [HTTP status]``; when ``details`` name two problems or more, that line says what was
    refused and each problem follows on a line of its own (``  field: message``), each said once."""

    def __init__(self, status: int, code: str | None, message: str, details=None):
        self.status, self.code, self.details = status, code, details
        self.detail = message
        problems = [(d.get("field"), str(d.get("message") or "")) if isinstance(d, dict) else (None, str(d))
                    for d in details] if isinstance(details, list) else []
        if len(problems) >= 2:
            head = _before(message, problems[0]) or f"{len(problems)} problems"
            lines = ["  " + ": ".join(str(part) for part in (field, text) if part) for field, text in problems]
            super().__init__("\n".join([f"{code + ': ' if code else ''}{head} [HTTP {status}]", *lines]))
            return
        text = f"{code}: {message}" if code else message
        parts = [": ".join(str(part) for part in (field, detail) if part) for field, detail in problems]
        parts = [part for part in parts if part not in message and part.split(": ", 1)[-1] not in message]
        if parts:
            text += " (" + "; ".join(parts) + ")"
        super().__init__(f"{text} [HTTP {status}]")


def _before(message: str, problem: tuple[str | None, str]) -> str:
    """What ``message`` says before it names its first problem ("no provider takes this job"), or ""."""
    field, text = problem
    found = [message.find(part) for part in (f"{field}: {text}", text) if part and part in message]
    return message[:min(found)].rstrip(" :;—") if found else message
