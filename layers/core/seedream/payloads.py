"""JSON request bodies read at the door, before any model sees them: size and nesting capped.

``read_json(raw)`` raises ``InvalidRequest``: 413 ``body_too_large`` above ``MAX_BODY_BYTES``
(256 KiB); 400 ``invalid_json`` when the body is not UTF-8 JSON or nests deeper than
``MAX_DEPTH`` levels (checked by a scan before parsing, so ``[[[[…`` cannot exhaust the stack).
``check_depth(value)`` holds a value parsed elsewhere (an EventBridge event's ``detail``) to the same nesting.
"""

from __future__ import annotations

import json

from .errors import InvalidRequest

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 16


def depth_of(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def check_depth(value: object) -> object:
    """``value`` (parsed JSON) if it nests at most ``MAX_DEPTH`` levels, as ``read_json`` counts them; raises
    ``InvalidRequest`` 400 ``invalid_json`` otherwise. Walked without recursion."""
    level = [value] if isinstance(value, dict | list) else []  # the containers at the next depth
    for _ in range(MAX_DEPTH):
        if not level:
            return value
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, dict | list)]
    if not level:
        return value
    raise InvalidRequest(f"the body nests deeper than {MAX_DEPTH} levels", code="invalid_json", http_status=400)


def too_large(size: int) -> InvalidRequest:
    """The error for a body of ``size`` bytes, over ``MAX_BODY_BYTES`` (413 ``body_too_large``)."""
    return InvalidRequest(f"the body is {size} bytes; at most {MAX_BODY_BYTES} are accepted",
                          code="body_too_large", http_status=413)


def read_json(raw: bytes | str | None) -> object:
    """The parsed body. Raises ``InvalidRequest`` (413 ``body_too_large``, 400 ``invalid_json``)."""
    data = raw.encode("utf-8") if isinstance(raw, str) else (raw or b"")
    if len(data) > MAX_BODY_BYTES:
        raise too_large(len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not UTF-8 text", code="invalid_json", http_status=400) from None
    if depth_of(text) > MAX_DEPTH:
        raise InvalidRequest(f"the body nests deeper than {MAX_DEPTH} levels", code="invalid_json", http_status=400)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", code="invalid_json", http_status=400) from None
