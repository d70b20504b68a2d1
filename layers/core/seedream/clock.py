"""Time as the jobs table writes it: ISO 8601 UTC with milliseconds and a ``Z`` (``2026-11-21T10:00:00.123Z``).

Strings of this one shape sort in time order, which the ``OpenJobsByDeadline`` index relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now_iso() -> str:
    """Current UTC time as ISO 8601 with milliseconds and ``Z`` (``2026-11-21T10:00:00.123Z``)."""
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with milliseconds and ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time as written by ``now_iso``/``iso`` (``Z`` suffix) → an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def after(text: str, seconds: float) -> str:
    """The ISO time ``seconds`` after the ISO time ``text``."""
    return iso(parse_iso(text) + timedelta(seconds=seconds))
