"""``Services``: what a function's use cases work with, built once per cold start by ``seedream.wiring``.

A function builds only the parts it uses; a part it does not build is ``None``, and a use case
that needs it fails loudly (``MissingPart``) instead of reaching AWS through a half-built object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .blobs import Blobs
    from .bus import Bus
    from .connections import Connections
    from .fetch import Fetcher
    from .idempotency import Idempotency
    from .keystore import KeyStore
    from .ledger import CallbackLedger
    from .providers.base import Provider
    from .queues import Queues
    from .replies import Replies
    from .socket_api import SocketApi
    from .store import JobStore
    from .uploads import Uploader
    from .webhook_secret import WebhookSecret
    from .webhook_sender import WebhookSender


class MissingPart(RuntimeError):
    """A use case asked for a part its function's wiring does not build."""


@dataclass
class Services:
    """The parts one function was built with (``seedream.wiring``): ``settings`` and each part it named, None
    otherwise. A use case states what it needs with :meth:`need`, which names any missing part."""

    settings: Settings
    store: JobStore | None = None
    ledger: CallbackLedger | None = None
    queues: Queues | None = None
    blobs: Blobs | None = None
    uploader: Uploader | None = None
    bus: Bus | None = None
    providers: Mapping[str, Provider] = field(default_factory=dict)
    fetcher: Fetcher | None = None
    replies: Replies | None = None
    webhook_secret: WebhookSecret | None = None
    webhook_sender: WebhookSender | None = None
    keys: KeyStore | None = None
    connections: Connections | None = None
    socket_api: SocketApi | None = None
    idempotency: Idempotency | None = None

    def need(self, *parts: str) -> Services:
        """Raise ``MissingPart`` unless every named part is built; returns self."""
        missing = [part for part in parts if not getattr(self, part)]
        if missing:
            raise MissingPart(f"this function's wiring does not build {', '.join(missing)}")
        return self
