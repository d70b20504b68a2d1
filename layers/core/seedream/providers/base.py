"""The one Protocol every provider adapter implements (``Provider``), what a submit returns (``SubmitResult``) and
the optional capabilities the core looks for (``provider_cancel``, ``read_status_of``).

An adapter is the only code that knows a provider's paths, field names, status values and
signature scheme. The core calls it with our models and gets our models back. The helpers adapters share are
in their own rooms: ``limits`` (documented limits and prices, the door's check), ``calls`` (the HTTP client and
JSON calls, with a provider's 4xx/429/5xx mapped to our errors) and ``callbacks`` (reading a callback body).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..models.messages import CompletionNotice
from .limits import ModelLimits

if TYPE_CHECKING:
    from ..models.requests import JobRequest

Credentials = Callable[[], Mapping[str, str]]
"""Returns this provider's entry of the provider secret: ``{"api_key": ..., "webhook_secret": ...}``."""


@dataclass(frozen=True)
class SubmitResult:
    """What a provider answered a submit with: its task id and status, and the URLs it gave for the task
    (``provider_urls``, e.g. fal.ai's ``status_url``/``response_url``/``cancel_url``: kept on the job and used
    as given, never rebuilt; empty for providers whose task URLs are fixed paths)."""

    provider_task_id: str
    provider_status: str
    provider_urls: Mapping[str, str] = field(default_factory=dict)


class NotTerminal(Exception):
    """A callback that reports a non-final status (``processing`` ...): acknowledged, nothing recorded."""


class Provider(Protocol):
    """What the use cases call on a provider adapter; an adapter implements all of it.

    Two optional parts, which only the adapters that need them have (the others are unchanged):

    - ``read_status(provider_task_id, provider_urls=...)``: an adapter whose ``SubmitResult`` carries
      ``provider_urls`` is handed them back by the sweep (the job keeps them); others get the task id alone.
    - ``cancel(provider_task_id, provider_urls) -> str``: ask the provider to stop the task (fal.ai documents a
      cancel URL); returns the provider's answer (e.g. ``CANCELLATION_REQUESTED``), raises ``ProviderUnavailable``
      or ``ProviderRejected``. Find it with :func:`provider_cancel`.
    """

    name: str
    callback_mechanism: str
    signature_scheme: str
    models: dict[str, ModelLimits]
    """Our model name → its limits and price at this provider (``PROVIDER_LIMITS`` may replace fields)."""
    credentials: Credentials
    """This provider's entry of the provider secret; raises ``JobError`` (``misconfigured``) without an ``api_key``."""

    def limits(self, model: str) -> ModelLimits:
        """Documented limits and price of ``model`` at this provider."""

    def check(self, request: JobRequest) -> None:
        """Raise ``InvalidRequest`` (``provider_limit_exceeded``) naming every limit ``request`` breaks (``check_limits``)."""

    def submit(self, request: JobRequest, image_urls: list[str], callback_url: str) -> SubmitResult:
        """Hand the job to the provider. Raises ``ProviderRejected`` (4xx) or ``ProviderUnavailable`` (429, 5xx, network)."""

    def verify_callback(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise ``Unauthorized`` unless the callback carries the provider's valid, fresh signature."""

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CompletionNotice:
        """The callback in our terms; raises ``NotTerminal`` or ``InvalidRequest`` (``callback_malformed``)."""

    def resolve(self, notice: CompletionNotice) -> CompletionNotice:
        """The authoritative result for a notice (evolink reads its task API; the others return ``notice``).
        Raises ``NotTerminal`` when the provider does not confirm the completion yet."""

    def read_status(self, provider_task_id: str) -> CompletionNotice:
        """One read of the task at the provider's status API (the reconcile sweep's only call): the
        completion (``via="reconcile"``), or ``NotTerminal`` while it runs; ``ProviderUnavailable`` /
        ``ProviderRejected`` when the read fails."""


def provider_cancel(provider: object) -> Callable[[str, Mapping[str, str]], str] | None:
    """The adapter's optional ``cancel(provider_task_id, provider_urls)``, or None when the provider has none."""
    cancel = getattr(provider, "cancel", None)
    return cancel if callable(cancel) else None


def read_status_of(provider: Provider, provider_task_id: str, provider_urls: Mapping[str, str] | None) -> CompletionNotice:
    """``provider.read_status`` for a job: with the task's ``provider_urls`` when the job kept some (the
    adapters that return them take them back), else with the task id alone."""
    if provider_urls:
        return provider.read_status(provider_task_id, provider_urls=provider_urls)
    return provider.read_status(provider_task_id)


