"""Guarded streaming download of provider outputs.

Rules, checked before a byte is stored (``OutputRejected``, never retried):
- ``https://`` only; ``http://`` to a loopback host only when ``allow_loopback_http`` (local stack);
- host on ``output_host_allowlist`` when one is configured (``.example.com`` = any subdomain);
- every address the host resolves to is public: no private, loopback, link-local, reserved,
  multicast or unspecified address (redirects are followed by hand, at most 3, each re-checked);
- the connection goes to an address the check vetted, never to a second resolution (no DNS
  rebinding window): ``open`` pins the host to the vetted addresses for the request's thread and
  the download client's ``PinnedTransport`` connects through ``PinnedBackend``, which dials only
  pinned addresses (in the resolver's order, the next one if a connect fails) and refuses a host
  with no pin. TLS is unchanged: SNI, certificate verification and the ``Host`` header use the
  URL's host. Each redirect hop is checked and pinned anew. A kept-alive connection is reused only
  for its own host (httpcore pools by origin) and was dialled to an address vetted when it opened.
  Loopback ``http://`` on the local stack is pinned to the host as written (nothing is resolved
  or checked there);
- at most ``max_output_bytes`` (Content-Length first, then counted while streaming);
- the first bytes (at most 1 MiB) are a PNG, JPEG or WebP whose size they state (``output_not_image``): a PNG or
  JPEG fed to Pillow's incremental ``ImageFile.Parser`` as they arrive; a WebP read by ``imagesize`` from its
  container header (RFC 9649: ``VP8 ``, ``VP8L`` or ``VP8X``), since Pillow sizes a WebP only from the whole
  file (libwebp's decoder), which a 4K output can make several MiB; more pixels than Pillow's
  decompression-bomb limit is ``output_too_large``, refused before the rest of the body is read.
Network errors, timeouts, 429 and 5xx raise ``OutputUnavailable`` so the ingest message is retried.
"""

from __future__ import annotations

import hashlib
import io
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import httpcore
import httpx
import imagesize
from PIL import Image, ImageFile

from .errors import OutputRejected, OutputUnavailable
from .netrules import DestinationForbidden, vetted_addresses

Resolver = Callable[[str, int], list[str]]
FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")
HEAD_LIMIT = 1024 * 1024
WEBP_HEADER_BYTES = 30
"""RIFF header (12 bytes) + the first chunk's header (8) + what states the canvas size: ``VP8X`` bytes 24–29,
``VP8L`` 21–24, ``VP8 `` 26–29 (RFC 9649, WebP Image Format §2.5–2.7)."""
MAX_REDIRECTS = 3


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (``socket.getaddrinfo``), in its order, without repeats."""
    return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)))


class PinnedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that connects a host only to the addresses pinned for it.

    ``pin(host, addresses)`` records, for the calling thread, the addresses the guard vetted for
    ``host`` (replacing the thread's earlier pin); httpx's sync client connects in the thread that
    sends the request, so the pin set just before ``send`` is the one its connect sees.
    ``connect_tcp(host, port)`` dials those addresses in order through ``inner`` (default
    ``httpcore.SyncBackend``) and raises ``httpcore.ConnectError`` for a host with no pin: it
    never resolves a name itself. TLS is started by httpcore on the returned stream with
    ``server_hostname`` = the URL's host, so SNI and certificate checks are those of the name.
    """

    def __init__(self, inner: httpcore.NetworkBackend | None = None):
        self.inner = inner or httpcore.SyncBackend()
        self._local = threading.local()

    def pin(self, host: str, addresses: Sequence[str]) -> None:
        """The vetted addresses of ``host`` for this thread's next download (the only ones it may dial)."""
        self._local.pins = {host.lower(): tuple(addresses)}

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        """A connection to the first pinned address of ``host`` that answers; raises ``httpcore.ConnectError`` for a
        host with no pin (it never resolves a name) or the last failure."""
        addresses = getattr(self._local, "pins", {}).get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"no vetted address for {host!r}: not connecting")
        failure: Exception | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                              socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        """Refused: downloads only use TCP. Raises ``httpcore.ConnectError``."""
        raise httpcore.ConnectError("unix sockets are not used for downloads")

    def sleep(self, seconds: float) -> None:
        """The inner backend's sleep (httpcore's retries)."""
        self.inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool dials through ``backend`` (a ``PinnedBackend``).

    Environment proxies are not used (a proxy would resolve the name itself). The pool is
    httpcore's own, rebuilt with ``network_backend``, which ``HTTPTransport`` does not take
    (``_pool`` is the attribute its ``handle_request`` uses; ``tests/unit/test_fetch.py`` guards it)."""

    def __init__(self, backend: PinnedBackend, *, verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)):
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend)


class _Stream(io.RawIOBase):
    """Readable view over ``head`` + the rest of a response, hashing, counting and capping as it goes."""

    def __init__(self, head: bytes, rest: Iterator[bytes], max_bytes: int, url: str):
        self._pending = head
        self._rest = rest
        self._max = max_bytes
        self._url = url
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self._account(head)

    def _account(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        if self.bytes > self._max:
            raise OutputRejected(f"output {self._url[:120]} is larger than {self._max} bytes", code="output_too_large")
        self.sha256.update(chunk)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                chunk = next(self._rest)
            except StopIteration:
                return 0
            except httpx.HTTPError as exc:
                raise OutputUnavailable(f"download of {self._url[:120]} broke off: {exc}") from exc
            self._account(chunk)
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@dataclass
class Download:
    """An open, checked output: ``stream`` (file-like), ``content_type``, ``extension``, ``width``/``height`` (px)."""

    url: str
    stream: _Stream
    content_type: str
    extension: str
    width: int
    height: int


class Fetcher:
    """Opens output URLs under the rules above. ``client`` is an ``httpx.Client``; ``resolver`` is injectable for tests.

    ``pins`` is the ``PinnedBackend`` of ``client``'s ``PinnedTransport`` (see ``pinned_fetcher``);
    without it nothing is pinned, which only suits a client that makes no connection of its own
    (tests with ``httpx.MockTransport``)."""

    def __init__(self, client: httpx.Client, *, max_bytes: int, allow_loopback_http: bool = False,
                 host_allowlist: tuple[str, ...] = (), resolver: Resolver = system_resolver,
                 pins: PinnedBackend | None = None):
        self.client = client
        self.max_bytes = max_bytes
        self.allow_loopback_http = allow_loopback_http
        self.host_allowlist = host_allowlist
        self.resolver = resolver
        self.pins = pins

    def check_url(self, url: str) -> list[str]:
        """Raise ``OutputRejected`` (``output_url_forbidden``) unless ``url`` may be fetched
        (``netrules.vetted_addresses``: scheme, allowlist, resolved addresses), ``OutputUnavailable`` when its host
        does not resolve now. Returns the addresses to connect to: the vetted ones, or the host itself for loopback
        ``http://``."""
        try:
            return vetted_addresses(url, self.resolver, allow_loopback_http=self.allow_loopback_http,
                                    host_allowlist=self.host_allowlist)
        except DestinationForbidden as exc:
            raise OutputRejected(f"output URL {url[:120]!r} {exc}", code="output_url_forbidden") from None
        except OSError as exc:
            raise OutputUnavailable(f"cannot resolve the host of output URL {url[:120]!r}: {exc}") from exc

    def open(self, url: str) -> tuple[Download, Callable[[], None]]:
        """Open ``url``; returns the download and a ``close`` callable. Raises ``OutputRejected``/``OutputUnavailable``."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            addresses = self.check_url(current)
            try:
                request = self.client.build_request("GET", current)
            except httpx.InvalidURL as exc:
                raise OutputRejected(f"output URL {current[:120]!r} does not parse: {exc}",
                                     code="output_url_forbidden") from exc
            try:
                if self.pins is not None:  # the host as httpcore will dial it (IDNA-encoded)
                    self.pins.pin(request.url.raw_host.decode("ascii"), addresses)
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise OutputUnavailable(f"cannot download {current[:120]}: {exc}") from exc
            if response.is_redirect and "location" in response.headers:
                response.close()
                try:
                    current = urljoin(current, response.headers["location"])
                except ValueError as exc:
                    raise OutputRejected(f"output {current[:120]} redirected to a URL that does not parse: {exc}",
                                         code="output_url_forbidden") from exc
                continue
            break
        else:
            raise OutputRejected(f"output {url[:120]} redirected more than {MAX_REDIRECTS} times", code="output_url_forbidden")
        try:
            return self._checked(current, response), response.close
        except BaseException:
            response.close()
            raise

    def _checked(self, url: str, response: httpx.Response) -> Download:
        if response.status_code == 429 or response.status_code >= 500:
            raise OutputUnavailable(f"output {url[:120]} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise OutputRejected(f"output {url[:120]} answered HTTP {response.status_code}", code="output_gone")
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise OutputRejected(f"output {url[:120]} is {length} bytes, over the {self.max_bytes}-byte limit",
                                 code="output_too_large")
        chunks = response.iter_bytes(64 * 1024)
        parser, head = ImageFile.Parser(), b""  # Pillow's consumer: fed chunk by chunk until it names the image
        named: tuple[str, int, int] | None = None  # (format, width, height)
        while named is None:
            try:
                chunk = next(chunks)
            except StopIteration:
                chunk = b""
            except httpx.HTTPError as exc:
                raise OutputUnavailable(f"download of {url[:120]} broke off: {exc}") from exc
            head += chunk
            if len(head) >= 12 and not head.startswith(MAGIC):
                raise OutputRejected(f"output {url[:120]} is not a PNG, JPEG or WebP image", code="output_not_image")
            if head[8:12] == b"WEBP":
                named = _webp_size(head, url) if len(head) >= WEBP_HEADER_BYTES or not chunk else None
            else:
                try:
                    parser.feed(chunk)
                except Image.DecompressionBombError as exc:  # more pixels than Pillow will decode (~179 MP)
                    raise OutputRejected(f"output {url[:120]} is too many pixels to be an output: {exc}",
                                         code="output_too_large") from exc
                if parser.image is not None:
                    named = (parser.image.format, *parser.image.size)
            if named is None and (not chunk or len(head) >= HEAD_LIMIT):
                raise OutputRejected(f"output {url[:120]} is not a readable PNG, JPEG or WebP image",
                                     code="output_not_image")
        image_format, width, height = named
        if image_format not in FORMATS:
            raise OutputRejected(f"output {url[:120]} is a {image_format} image, not a PNG, JPEG or WebP",
                                 code="output_not_image")
        content_type, extension = FORMATS[image_format]
        stream = _Stream(head, chunks, self.max_bytes, url)
        return Download(url, stream, content_type, extension, width, height)


def _webp_size(head: bytes, url: str) -> tuple[str, int, int]:
    """``("WEBP", width, height)`` read by ``imagesize`` from a WebP's first bytes (``WEBP_HEADER_BYTES`` suffice);
    raises ``OutputRejected`` ``output_not_image`` when they state no size, ``output_too_large`` past Pillow's
    decompression-bomb limit (the PNG/JPEG rule: more than twice ``Image.MAX_IMAGE_PIXELS``, ~179 MP)."""
    try:
        width, height = imagesize.get(io.BytesIO(head))
    except ValueError:  # (imagesize: a malformed header)
        width = height = -1
    if width <= 0 or height <= 0:
        raise OutputRejected(f"output {url[:120]} is not a readable PNG, JPEG or WebP image", code="output_not_image")
    if Image.MAX_IMAGE_PIXELS and width * height > 2 * Image.MAX_IMAGE_PIXELS:
        raise OutputRejected(f"output {url[:120]} is too many pixels to be an output ({width}x{height})",
                             code="output_too_large")
    return "WEBP", width, height


def pinned_fetcher(*, timeout: httpx.Timeout, verify: ssl.SSLContext | bool = True, **rules) -> Fetcher:
    """A ``Fetcher`` whose client connects only to the addresses its checks vetted (``PinnedTransport``).

    ``rules`` are ``Fetcher``'s keyword arguments (``max_bytes``, ``allow_loopback_http``, ``host_allowlist``,
    ``resolver``)."""
    pins = PinnedBackend()
    client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False,
                          transport=PinnedTransport(pins, verify=verify))
    return Fetcher(client, pins=pins, **rules)
