"""The deployment's webhook signing keys: one Secrets Manager secret (``WEBHOOK_SECRET_ARN``), made by the template
with a random key, read through a plain botocore client and cached ``max_age`` seconds per function instance.

The secret is JSON: ``{"key": "<base64>", "previous_keys": ["<base64>", ...]}``. ``key`` signs every message and is
what ``GET /v1/webhooks/default/secret`` gives callers; each of ``previous_keys`` signs it too (a second
``v1,`` signature in ``webhook-signature``), so receivers still holding an old key keep verifying while they move
to the new one (README, "Rotating the webhook secret"). Keys are Standard Webhooks secrets: base64 of 24-64 random
bytes, written with or without the ``whsec_`` prefix; they are always handed out with it
(https://github.com/standard-webhooks/standard-webhooks, ``spec/standard-webhooks.md``, "Signature scheme").
CloudFormation's ``GenerateSecretString`` makes the first key: 64 letters and digits, which are base64 of 48 bytes
(~380 bits of entropy). Values are never logged.
"""

from __future__ import annotations

import binascii
import json
import threading
import time
from base64 import b64decode
from collections.abc import Callable

from .errors import JobError

SECRET_MAX_AGE_SECONDS = 300
PREFIX = "whsec_"
MIN_KEY_BYTES = 24


class WebhookSecret:
    """``keys()`` → the signing keys, current first, each ``whsec_…``; ``current()`` → the one callers verify with.

    ``secretsmanager`` is a callable that gives the botocore client (made on first read: the api builds this part but
    reads it only for ``GET /v1/webhooks/default/secret``)."""

    def __init__(self, secretsmanager: Callable[[], object], secret_id: str, max_age: float = SECRET_MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.secretsmanager = secretsmanager
        self.secret_id = secret_id
        self.max_age = max_age
        self.clock = clock
        self._keys: list[str] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def keys(self) -> list[str]:
        """The keys, current first, read again once older than ``max_age``. Raises ``JobError`` (``misconfigured``)
        when the secret is not the JSON above or a key is not base64 of at least 24 bytes."""
        with self._lock:
            if self._keys is None or self.clock() - self._read_at >= self.max_age:
                reply = self.secretsmanager().get_secret_value(SecretId=self.secret_id)
                self._keys = parse_keys(reply.get("SecretString") or "")
                self._read_at = self.clock()
            return list(self._keys)

    def current(self) -> str:
        """The newest signing key (``whsec_…``): the one callers fetch with ``GET /v1/webhooks/default/secret``."""
        return self.keys()[0]


def parse_keys(text: str) -> list[str]:
    """The secret's JSON → ``["whsec_<current>", "whsec_<previous>", ...]``; raises ``JobError`` (``misconfigured``)."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("key"), str):
        raise JobError('the webhook secret is not {"key": "<base64>", "previous_keys": [...]}', code="misconfigured")
    previous = document.get("previous_keys") or []
    if not isinstance(previous, list) or not all(isinstance(k, str) for k in previous):
        raise JobError("the webhook secret's previous_keys is not a list of keys", code="misconfigured")
    keys = []
    for key in [document["key"], *previous]:
        bare = key.strip().removeprefix(PREFIX)
        try:
            raw = b64decode(bare + "=" * (-len(bare) % 4), validate=True)  # padding optional
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) < MIN_KEY_BYTES:
            raise JobError(f"a key of the webhook secret is not base64 of at least {MIN_KEY_BYTES} bytes",
                           code="misconfigured")
        keys.append(PREFIX + bare)
    return list(dict.fromkeys(keys))
