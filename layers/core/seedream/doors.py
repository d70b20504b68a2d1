"""The S3 door's layout in the stack's bucket (the EventBridge door's is its events: ``models.events``).

::

    requests/<name>.json         a request manifest: the fields of POST /v1/jobs; uploading it asks for a job
    requests/<name>/<file>       source images the manifest names by a relative path ("a.png")
    results/<name>.json          the job document when the job ends, whatever its status (``JobDocument``)
    results/<name>.error.json    the API's error body when the manifest was refused (no job was made)

``<name>`` is the manifest's key between ``requests/`` and ``.json`` and may hold ``/``
(``requests/batch-7/cat.json`` → ``results/batch-7/cat.json``). Upload the images first, then the manifest:
the manifest's upload is what starts the job. An ``images`` entry is a relative path (under
``requests/<name>/``), an ``s3://`` URI of the stack's bucket, or an ``https://`` URL.
"""

from __future__ import annotations

REQUESTS = "requests/"
RESULTS = "results/"
MANIFEST = ".json"
ERROR = ".error.json"


def manifest_name(key: str) -> str | None:
    """``requests/<name>.json`` → ``<name>``; None for any other key."""
    if not (key.startswith(REQUESTS) and key.endswith(MANIFEST)) or len(key) <= len(REQUESTS) + len(MANIFEST):
        return None
    return key[len(REQUESTS):-len(MANIFEST)]


def result_key(name: str) -> str:
    """The S3 door's answer for manifest ``requests/<name>.json``: ``results/<name>.json``."""
    return f"{RESULTS}{name}{MANIFEST}"


def error_key(name: str) -> str:
    """The S3 door's refusal of manifest ``requests/<name>.json``: ``results/<name>.error.json``."""
    return f"{RESULTS}{name}{ERROR}"


def image_key(name: str, relative: str) -> str | None:
    """The key of an image a manifest names by a relative path, or None when the path is not one
    (empty, absolute, a ``.``/``..``/empty segment, control characters, over 1,024 characters)."""
    segments = relative.split("/")
    if not relative or len(relative) > 1024 or any(s in ("", ".", "..") for s in segments) \
            or any(ord(c) < 32 or ord(c) == 127 for c in relative):
        return None
    return f"{REQUESTS}{name}/{relative}"
