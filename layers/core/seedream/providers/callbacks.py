"""Reading a provider's callback (or status) body into our terms: the JSON object, the terminal status as a
``CompletionNotice`` (``NotTerminal`` otherwise), the provider's error as text, a header by any case."""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..errors import InvalidRequest, Unauthorized
from ..models.messages import CompletionNotice
from .base import NotTerminal


def malformed(message: str) -> InvalidRequest:
    """The error for a callback body we cannot read: HTTP 400, code ``callback_malformed``, nothing changes."""
    return InvalidRequest(message, code="callback_malformed", http_status=400)


def callback_object(body: bytes) -> dict:
    """A callback body as a JSON object (a ``{"data": {...}}`` envelope without ``id`` is unwrapped).

    Raises ``InvalidRequest`` (``callback_malformed``)."""
    try:
        document = json.loads(body)
    except ValueError:
        raise malformed("callback body is not JSON") from None
    if isinstance(document, dict) and isinstance(document.get("data"), dict) and "id" not in document:
        document = document["data"]
    if not isinstance(document, dict):
        raise malformed("callback body is not a JSON object")
    return document


def terminal_notice(provider: str, task_id: object, status: str, succeeded: set[str], failed: set[str],
                    **fields) -> CompletionNotice:
    """Our notice for a provider status; raises ``NotTerminal`` unless ``status`` is in ``succeeded`` or ``failed``."""
    if status not in succeeded | failed:
        raise NotTerminal(status)
    return CompletionNotice(provider=provider, provider_task_id=str(task_id), provider_status=status,
                            status="succeeded" if status in succeeded else "failed", **fields)


def error_text(error: object) -> str | None:
    """A provider's error (string or ``{"message"|"code"}`` object) as text, at most 1000 characters."""
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or (json.dumps(error) if error else "")
    return str(error)[:1000] if error else None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``name``'s value in ``headers``, whatever the case of either; None when absent.

    ``record_callback`` hands adapters the event's headers as Powertools' ``CaseInsensitiveDict`` (what
    ``APIGatewayProxyEventV2.headers`` is; API Gateway v2 lower-cases names): a plain ``get``. Any other mapping
    (an adapter called directly, as its unit tests do) is read through one."""
    from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict

    return (headers if isinstance(headers, CaseInsensitiveDict) else CaseInsensitiveDict(headers)).get(name)


def fresh_timestamp(value: str, name: str, now: float, tolerance: float) -> int:
    """A callback's signed timestamp header ``name`` (unix seconds) as an int. Raises ``Unauthorized``
    (``timestamp_out_of_range``) when it is not a number or lies more than ``tolerance`` s from ``now`` (replays)."""
    try:
        sent_at = int(value.strip())
    except ValueError:
        raise Unauthorized(f"{name} is not unix seconds", code="timestamp_out_of_range") from None
    if abs(now - sent_at) > tolerance:
        raise Unauthorized(f"{name} is more than {tolerance:g} s from now", code="timestamp_out_of_range")
    return sent_at


def url_list(entries: object, what: str, *, strings: bool) -> list[str]:
    """A provider's list of outputs as URLs: each entry a ``{"url": ...}`` object, or (``strings``) a URL string.
    Raises ``ValueError`` naming ``what`` when it is not a list or an entry has no non-empty string URL."""
    if not isinstance(entries, list):
        raise ValueError(f"{what} is not a list")
    urls = []
    for entry in entries:
        url = entry.get("url") if isinstance(entry, dict) else entry if strings else None
        if not isinstance(url, str) or not url:
            raise ValueError(f"{what} entry {str(entry)[:120]!r} has no url")
        urls.append(url)
    return urls
