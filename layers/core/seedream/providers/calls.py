"""HTTP calls to a provider: the lazily made client (``Http``), JSON calls with the key, and the provider's answer
mapped to our errors (429/5xx/network → ``ProviderUnavailable`` with its ``Retry-After``; another 4xx →
``ProviderRejected``, flagged when its message names a limit so ``auto`` fails over)."""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from ..errors import ProviderRejected, ProviderUnavailable

if TYPE_CHECKING:
    import httpx


class Http:
    """A provider's HTTP client, made on first use and shared by the adapters of one function.

    Importing httpx and making a client (which loads the CA bundle) cost ~50 ms of cold start; the
    api never calls a provider and the webhook only to fetch a WaveSpeed secret or the Atlas Cloud
    JWKS, so those functions import httpx only if they make one. ``transport`` is injectable (tests
    pass an ``httpx.MockTransport``); ``verify`` is an ``ssl.SSLContext`` or a callable returning one.
    """

    def __init__(self, timeout_seconds: float, *, transport: httpx.BaseTransport | None = None, verify=True):
        self.timeout_seconds = timeout_seconds
        self.transport = transport
        self.verify = verify
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        """The ``httpx.Client`` (timeout ``timeout_seconds``, connect ≤ 5 s), made on first use."""
        if self._client is None:
            import httpx

            verify = self.verify() if callable(self.verify) else self.verify
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout_seconds, connect=min(5.0, self.timeout_seconds)),
                                        transport=self.transport, verify=verify)
        return self._client

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        """``client.request``; raises httpx's errors as they are (``_call`` maps them)."""
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs) -> httpx.Response:
        """``request("GET", url, ...)``."""
        return self.client.request("GET", url, **kwargs)


LIMIT_WORDS = re.compile(r"\b(size|pixels?|width|height|ratio|max(imum)?|min(imum)?|limit|exceed\w*|at most|"
                         r"between|range|within|too (many|large|long|small)|not supported|unsupported|"
                         r"(less|greater) than)\b", re.I)
"""Words by which a provider's 4xx names a limit the request broke (``auto`` then fails over); fal's validation
answers say "ensure this value is less than or equal to 6"."""


def post_json(client: Http, provider: str, url: str, api_key: str, body: dict, *, scheme: str = "Bearer") -> dict:
    """POST JSON with a key (``Authorization: <scheme> <key>``); returns the JSON reply. Maps failures to our errors."""
    return _call(client, provider, "POST", url, api_key, scheme=scheme, json=body)


def get_json(client: Http, provider: str, url: str, api_key: str, *, scheme: str = "Bearer") -> dict:
    """GET with the key (``Authorization: <scheme> <api_key>``); the JSON reply. Errors as :func:`post_json`."""
    return _call(client, provider, "GET", url, api_key, scheme=scheme)


def _call(client: Http, provider: str, method: str, url: str, api_key: str, *, scheme: str = "Bearer",
          **kwargs) -> dict:
    import httpx

    try:
        response = client.request(method, url, headers={"Authorization": f"{scheme} {api_key}"}, **kwargs)
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(f"{provider} timed out: {exc}", code="provider_timeout") from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"{provider} could not be reached: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        unavailable = ProviderUnavailable(f"{provider} answered HTTP {response.status_code}: {_message(response)}",
                                          code="provider_rate_limited" if response.status_code == 429 else None)
        unavailable.retry_after = retry_after_seconds(response.headers.get("retry-after"))
        raise unavailable
    if response.status_code >= 400:
        message = _message(response)
        rejected = ProviderRejected(f"{provider} refused the job (HTTP {response.status_code}): {message}")
        rejected.names_limit = bool(LIMIT_WORDS.search(message))
        raise rejected
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderUnavailable(f"{provider} answered HTTP {response.status_code} with a body that is not JSON") from exc


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) in seconds from now, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        for key in ("message", "error", "msg", "detail"):
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:300]


