"""Provider keys and webhook secrets: one Secrets Manager secret (JSON, one object per provider),
read through a plain botocore client and cached ``max_age`` seconds per function instance.

Powertools' ``SecretsProvider`` does the same, but importing it imports boto3 (~30 ms more of
every cold start, a tenth of the webhook's); this is the part of it we use. Values are never logged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from .errors import JobError

SECRET_MAX_AGE_SECONDS = 300


class ProviderSecret:
    """``entry(provider)`` → that provider's object of the secret, e.g. ``{"api_key", "webhook_secret"}``."""

    def __init__(self, secretsmanager, secret_id: str, max_age: float = SECRET_MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.secretsmanager = secretsmanager
        self.secret_id = secret_id
        self.max_age = max_age
        self.clock = clock
        self.reads = 0
        self._document: dict | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def document(self) -> dict:
        """The whole secret (JSON object), read again once it is older than ``max_age``."""
        with self._lock:
            if self._document is None or self.clock() - self._read_at >= self.max_age:
                reply = self.secretsmanager.get_secret_value(SecretId=self.secret_id)
                self.reads += 1
                try:
                    document = json.loads(reply.get("SecretString") or "{}")
                except ValueError:
                    raise JobError("the provider secret is not JSON", code="misconfigured") from None
                self._document = document if isinstance(document, dict) else {}
                self._read_at = self.clock()
            return self._document

    def entry(self, provider: str) -> dict:
        """This provider's entry; raises ``JobError`` (``misconfigured``) when it has no ``api_key``."""
        entry = self.document().get(provider) or {}
        if not entry.get("api_key"):
            raise JobError(f"the provider secret has no api_key for {provider}", code="misconfigured")
        return entry

    def credentials_for(self, provider: str) -> Callable[[], dict]:
        """A ``Credentials`` callable for ``provider``'s adapter."""
        return lambda: self.entry(provider)
