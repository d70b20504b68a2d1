"""Sending one attempt of a webhook message: the destination guard, the Standard Webhooks signature, the POST.

- **Destination** (``destination``): the URL's text was held to the door's rules when the job came in
  (``models.requests.webhook_problem``); here the host is resolved and every address must be public
  (``netrules.is_public_ip``), and the connection goes to an address so vetted, never to a second
  resolution (``fetch.PinnedBackend``, as output downloads are pinned). ``http://`` to a loopback host
  only when ``allow_loopback_http`` (the local stack); a host off ``host_allowlist``, when one is set, is refused
  (the local stack sets one no public host is on). A destination refused here is never contacted.
- **Signature**: ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` — one
  ``v1,<base64>`` per signing key, space-separated — made with the ``standardwebhooks`` library over the exact
  body bytes (https://github.com/standard-webhooks/standard-webhooks, ``spec/standard-webhooks.md``).
- **Answer** (``Answer``): only a 2xx is delivered. A 3xx is a failure and never followed; 410 Gone stops the
  job's deliveries; a ``Retry-After`` (RFC 9110 §10.2.3) of a 429 or 503 is kept for the next attempt's delay;
  no answer within ``timeout`` seconds (default 15) is a failure. The response body is never read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from .fetch import PinnedBackend, PinnedTransport, Resolver, system_resolver
from .netrules import DestinationForbidden, vetted_addresses
from .providers.calls import retry_after_seconds

USER_AGENT = "seedream-jobs-webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What one attempt came to. ``delivered``: a 2xx. Otherwise ``error`` is ``<code>: <detail>`` with code
    ``http_status``, ``redirect``, ``webhook_gone`` (410), ``timeout``, ``connect_failed`` or ``webhook_url_forbidden``;
    ``status_code`` the receiver's HTTP status if it answered; ``retry_after`` the seconds a 429/503 asked for."""

    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        """The receiver answered 2xx."""
        return self.error is None

    @property
    def gone(self) -> bool:
        """The receiver answered 410 Gone: no later message of the job is sent (Standard Webhooks)."""
        return self.status_code == 410

    @property
    def forbidden(self) -> bool:
        """The destination broke the webhook URL rules (``netrules``) at this attempt: never retried."""
        return bool(self.error and self.error.startswith("webhook_url_forbidden"))


def signature(keys: Sequence[str], webhook_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` header: ``v1,<base64>`` per key (``whsec_…``), space-separated, in the keys' order.
    ``timestamp`` is an aware datetime; its whole seconds are what is signed."""
    return " ".join(Webhook(key).sign(webhook_id, timestamp, body) for key in keys)


class WebhookSender:
    """POSTs signed messages. ``client`` is an ``httpx.Client`` without redirects; ``pins`` the ``PinnedBackend`` of its
    transport (None only for a client that makes no connection of its own: tests with ``httpx.MockTransport``)."""

    def __init__(self, client: httpx.Client, *, allow_loopback_http: bool = False, resolver: Resolver = system_resolver,
                 pins: PinnedBackend | None = None, timeout: float = 15.0, host_allowlist: tuple[str, ...] = (),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client = client
        self.clock = clock
        self.allow_loopback_http = allow_loopback_http
        self.host_allowlist = host_allowlist
        self.resolver = resolver
        self.pins = pins
        self.timeout = timeout

    def destination(self, url: str) -> list[str]:
        """The addresses to connect to for ``url`` (``netrules.vetted_addresses``, with this sender's loopback rule and
        host allowlist). Raises ``DestinationForbidden``; ``OSError`` when the name does not resolve now."""
        try:
            return vetted_addresses(url, self.resolver, allow_loopback_http=self.allow_loopback_http,
                                    host_allowlist=self.host_allowlist)
        except DestinationForbidden as exc:
            raise DestinationForbidden(f"the webhook URL {exc}") from None

    def send(self, url: str, webhook_id: str, body: str, keys: Sequence[str]) -> Answer:
        """One attempt: POST ``body`` (JSON text) to ``url`` signed with ``keys`` and stamped with the time it is sent
        (``clock``: receivers refuse a ``webhook-timestamp`` more than 5 minutes off); never raises for the
        receiver's sake."""
        try:
            addresses = self.destination(url)
        except DestinationForbidden as exc:
            return Answer(error=f"webhook_url_forbidden: {exc}")
        except OSError as exc:
            return Answer(error=f"connect_failed: cannot resolve the host: {exc}")
        timestamp = self.clock()
        headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": webhook_id,
                   "webhook-timestamp": str(int(timestamp.timestamp())),
                   "webhook-signature": signature(keys, webhook_id, timestamp, body)}
        try:
            request = self.client.build_request("POST", url, content=body.encode("utf-8"), headers=headers,
                                                timeout=self.timeout)
            if self.pins is not None:  # the host as httpcore will dial it (IDNA-encoded)
                self.pins.pin(request.url.raw_host.decode("ascii"), addresses)
            response = self.client.send(request, stream=True)
        except httpx.TimeoutException:
            return Answer(error=f"timeout: no answer within {self.timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Answer(error=f"connect_failed: {str(exc)[:300] or type(exc).__name__}")
        response.close()  # the body is never read: a receiver's answer is its status
        status = response.status_code
        if 200 <= status < 300:
            return Answer(status_code=status)
        if status == 410:
            return Answer(status_code=status, error="webhook_gone: HTTP 410, no further message of this job is sent")
        if 300 <= status < 400:
            return Answer(status_code=status, error=f"redirect: HTTP {status} (redirects are not followed)")
        retry_after = retry_after_seconds(response.headers.get("retry-after")) if status in (429, 503) else None
        return Answer(status_code=status, error=f"http_status: HTTP {status}", retry_after=retry_after)


def pinned_sender(*, timeout: float, verify, **rules) -> WebhookSender:
    """A ``WebhookSender`` whose client connects only to the addresses ``destination`` vetted (``fetch.PinnedTransport``);
    ``rules`` are its keyword arguments (``allow_loopback_http``, ``resolver``, ``host_allowlist``)."""
    pins = PinnedBackend()
    client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False,
                          transport=PinnedTransport(pins, verify=verify))
    return WebhookSender(client, pins=pins, timeout=timeout, **rules)
