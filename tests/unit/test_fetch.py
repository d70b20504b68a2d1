"""The guarded output download: each rule's decision, with a stubbed resolver (no request leaves the process).

The pinning tests connect for real, but only to TLS and HTTP servers they start on 127.0.0.1: the
test dialer under ``PinnedBackend`` records the address it is asked for, reaches the loopback server
in place of the two public addresses the stub resolvers vet, and refuses anything else (no packet
goes to a public or private address).
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import random
import ssl
import struct
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from seedream.errors import OutputRejected, OutputUnavailable
from seedream.fetch import Fetcher, PinnedBackend, PinnedTransport, pinned_fetcher
from seedream.settings import Settings
from seedream.wiring import _fetcher

from .usecase_helpers import png_bytes

PUBLIC = "93.184.216.34"


def fetcher(handler=None, resolve=None, **kw) -> Fetcher:
    handler = handler or (lambda request: httpx.Response(200, content=png_bytes(300, 200)))
    resolver = resolve or (lambda host, port: [PUBLIC])
    return Fetcher(httpx.Client(transport=httpx.MockTransport(handler)), max_bytes=kw.pop("max_bytes", 1 << 20),
                   resolver=resolver, **kw)


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.3.4", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1",
                                     "224.0.0.1", "192.0.2.10"])
def test_hosts_resolving_to_non_public_addresses_are_refused(address):
    with pytest.raises(OutputRejected) as caught:
        fetcher(resolve=lambda host, port: [address]).check_url("https://cdn.example.com/a.png")
    assert caught.value.code == "output_url_forbidden"


def test_one_private_address_among_public_ones_is_enough_to_refuse():
    with pytest.raises(OutputRejected):
        fetcher(resolve=lambda host, port: [PUBLIC, "10.1.2.3"]).check_url("https://cdn.example.com/a.png")


def test_public_https_is_allowed_and_the_allowlist_is_enforced():
    fetcher().check_url("https://cdn.example.com/a.png")
    allow = fetcher(host_allowlist=(".example.com", "files.test"))
    allow.check_url("https://img.cdn.example.com/a.png")
    allow.check_url("https://files.test/a.png")
    with pytest.raises(OutputRejected):
        allow.check_url("https://evil.test/a.png")


@pytest.mark.parametrize("url", ["http://cdn.example.com/a.png", "ftp://cdn.example.com/a.png", "file:///etc/passwd",
                                 "http://127.0.0.1:9/a.png"])
def test_only_https_unless_loopback_is_allowed_locally(url):
    with pytest.raises(OutputRejected):
        fetcher().check_url(url)


def test_loopback_http_is_allowed_only_on_the_local_stack():
    fetcher(allow_loopback_http=True).check_url("http://127.0.0.1:9/a.png")
    with pytest.raises(OutputRejected):
        fetcher(allow_loopback_http=True).check_url("http://10.0.0.1/a.png")


def test_redirects_are_rechecked_at_every_hop():
    def handler(request):
        if request.url.host == "cdn.example.com":
            return httpx.Response(302, headers={"location": "https://internal.example.com/secret"})
        return httpx.Response(200, content=png_bytes())

    resolve = lambda host, port: ["10.0.0.9"] if host == "internal.example.com" else [PUBLIC]  # noqa: E731
    with pytest.raises(OutputRejected):
        fetcher(handler, resolve).open("https://cdn.example.com/a.png")


def test_a_good_image_streams_with_size_hash_and_dimensions():
    download, close = fetcher().open("https://cdn.example.com/a.png")
    data = download.stream.read()
    close()
    assert Image.open(io.BytesIO(data)).size == (300, 200) == (download.width, download.height)
    assert download.content_type == "image/png" and download.extension == "png"
    assert download.stream.bytes == len(data)


def test_declared_and_streamed_sizes_over_the_cap_are_refused():
    big = png_bytes(300, 200) + b"\0" * 5000
    with pytest.raises(OutputRejected) as declared:
        fetcher(lambda r: httpx.Response(200, content=big), max_bytes=4000).open("https://cdn.example.com/a.png")
    assert declared.value.code == "output_too_large"

    def undeclared(request):
        return httpx.Response(200, content=iter([big[:2000], big[2000:]]))  # chunked: no Content-Length

    with pytest.raises(OutputRejected) as streamed:  # while sniffing the head or while streaming the rest
        download, close = fetcher(undeclared, max_bytes=4000).open("https://cdn.example.com/a.png")
        download.stream.read()
    assert streamed.value.code == "output_too_large"

    def long_tail(request):  # the head is fine, the cap is crossed later in the stream
        return httpx.Response(200, content=iter([png_bytes(300, 200)] + [b"\0" * 10_000] * 20))

    download, close = fetcher(long_tail, max_bytes=100_000).open("https://cdn.example.com/a.png")
    assert download.stream.bytes < 100_000  # only the 64 KiB head has been read so far
    with pytest.raises(OutputRejected) as tail:
        download.stream.read()
    close()
    assert tail.value.code == "output_too_large"


def test_non_images_are_refused_before_anything_is_stored():
    with pytest.raises(OutputRejected) as caught:
        fetcher(lambda r: httpx.Response(200, content=b"<html>" * 100)).open("https://cdn.example.com/a.png")
    assert caught.value.code == "output_not_image"


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature, IHDR chunk (8-bit RGB) declaring ``width`` × ``height`` pixels, and the start of its
    (1 GiB) IDAT chunk: what a reader has before the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
            + struct.pack(">I", 2**30) + b"IDAT")


def endless_after(head: bytes, pulled: list) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering ``head``, then data that never ends; each chunk pulled past the head is noted in
    ``pulled`` (a refusal from the header may read at most one)."""

    def endless(request):
        def body():
            yield head
            while True:
                pulled.append(1)
                yield b"\0" * 65536

        return httpx.Response(200, content=body())

    return endless


def test_an_image_of_more_pixels_than_pillow_decodes_is_refused_from_its_header():
    pulled = []
    endless = endless_after(png_header(20_000, 20_000), pulled)  # 400 MP: over Pillow's decompression-bomb limit
    with pytest.raises(OutputRejected) as caught:
        fetcher(endless, max_bytes=10**9).open("https://cdn.example.com/a.png")
    assert caught.value.code == "output_too_large" and len(pulled) <= 1


def webp_bytes(width: int, height: int) -> bytes:
    """A lossless WebP of noise (it does not compress): ~``3 × width × height`` bytes."""
    noise = Image.frombytes("RGB", (width, height), random.Random(7).randbytes(width * height * 3))
    out = io.BytesIO()
    noise.save(out, "WEBP", lossless=True)
    return out.getvalue()


def webp_header(width: int, height: int) -> bytes:
    """An extended WebP's RIFF header and ``VP8X`` chunk stating a ``width`` × ``height`` canvas (RFC 9649 §2.7)."""
    return (b"RIFF" + struct.pack("<I", 2**30) + b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\0" * 4
            + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))


def test_a_webp_larger_than_the_head_pillow_reads_streams_with_its_size_from_the_header():
    data = webp_bytes(700, 600)
    assert len(data) > 1024 * 1024  # Pillow would size it only once it had all of it
    download, close = fetcher(lambda r: httpx.Response(200, content=iter([data[i:i + 65536] for i in range(
        0, len(data), 65536)])), max_bytes=8 << 20).open("https://cdn.example.com/a.webp")
    assert download.stream.bytes == 65536  # named from the first chunk
    stored = download.stream.read()
    close()
    assert stored == data and (download.width, download.height) == (700, 600) == Image.open(io.BytesIO(stored)).size
    assert (download.content_type, download.extension) == ("image/webp", "webp")


@pytest.mark.parametrize("head, code", [
    (webp_header(16384, 16384), "output_too_large"),  # 268 MP: over Pillow's decompression-bomb limit (~179 MP)
    (b"RIFF\0\0\0\0WEBPICCP" + b"\0" * 40, "output_not_image"),  # its first chunk none of VP8 , VP8L, VP8X
])
def test_a_webp_header_over_the_pixel_limit_or_without_a_size_is_refused_before_its_body(head, code):
    pulled = []
    with pytest.raises(OutputRejected) as caught:
        fetcher(endless_after(head, pulled), max_bytes=10**9).open("https://cdn.example.com/a.webp")
    assert caught.value.code == code and len(pulled) <= 1


@pytest.mark.parametrize("status, error", [(500, OutputUnavailable), (503, OutputUnavailable),
                                           (429, OutputUnavailable), (404, OutputRejected), (403, OutputRejected)])
def test_transient_answers_are_retryable_and_missing_outputs_are_not(status, error):
    with pytest.raises(error):
        fetcher(lambda r: httpx.Response(status)).open("https://cdn.example.com/a.png")


def test_network_errors_are_retryable():
    def refuse(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(OutputUnavailable):
        fetcher(refuse).open("https://cdn.example.com/a.png")


# -- the connection goes to the vetted address ---------------------------------------------------
VETTED = PUBLIC  # what the stub resolvers answer first; the test dialer stands the loopback origin in for it
OTHER_VETTED = "93.184.215.14"
DEAD = "93.184.216.99"  # refused by the test dialer: a vetted address that does not answer


def _certificates(names: list[str]) -> tuple[bytes, bytes, bytes]:
    """(CA certificate PEM, leaf certificate PEM, leaf key PEM) for a leaf valid for ``names``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fetch test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), leaf.public_bytes(pem),
            leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class Origin:
    """A loopback HTTPS (or HTTP) server: ``/a.png`` and ``/b.png`` are PNGs, ``/hop`` redirects to
    ``https://other.example.com/b.png``; records the SNI names and ``Host`` headers it saw."""

    def __init__(self, tmp_path, tls: bool = True):
        self.sni: list[str | None] = []
        self.hosts: list[str] = []
        self.client_context: ssl.SSLContext | None = None
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                origin.hosts.append(self.headers["Host"])
                if self.path == "/hop":
                    self.send_response(302)
                    self.send_header("Location", "https://other.example.com/b.png")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = png_bytes(30, 20)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            ca, leaf, key = _certificates(["cdn.example.com", "other.example.com"])
            (tmp_path / "leaf.pem").write_bytes(leaf + key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tmp_path / "leaf.pem")
            context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.client_context = ssl.create_default_context(cadata=ca.decode())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin(tmp_path):
    server = Origin(tmp_path)
    yield server
    server.close()


class Dialer(httpcore.SyncBackend):
    """The test's network under ``PinnedBackend``: records every (host, port) it is asked to dial.
    A name is resolved with ``resolver`` (as a resolving connect would); only the stand-in public
    addresses on port 443 are connected, to the loopback origin; anything else is refused."""

    def __init__(self, origin_port: int, resolver):
        self.origin_port = origin_port
        self.resolver = resolver
        self.asked: list[tuple[str, int]] = []
        self.reached: list[str] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.asked.append((host, port))
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            address = self.resolver(host, port)[0]
        self.reached.append(address)
        if address in (VETTED, OTHER_VETTED) and port == 443:
            return super().connect_tcp("127.0.0.1", self.origin_port, timeout, local_address, socket_options)
        raise httpcore.ConnectError(f"test dialer: {address}:{port} is not the loopback origin")


class Rebinding:
    """A resolver whose answer changes after the first call for a host: the vetted address first, then private."""

    def __init__(self, first: dict[str, list[str]], later: str = "127.0.0.1"):
        self.first, self.later = first, later
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return list(self.first[host]) if self.calls.count(host) == 1 else [self.later]


def pinned(origin: Origin, resolver, **kw) -> tuple[Fetcher, Dialer]:
    dialer = Dialer(origin.port, resolver)
    pins = PinnedBackend(dialer)
    client = httpx.Client(transport=PinnedTransport(pins, verify=origin.client_context), trust_env=False,
                          timeout=5.0)
    return Fetcher(client, max_bytes=1 << 20, resolver=resolver, pins=pins, **kw), dialer


@pytest.mark.parametrize("later", ["127.0.0.1", "10.0.0.1"])
def test_the_connection_goes_to_the_vetted_address_even_if_dns_changes_its_answer(origin, later):
    resolver = Rebinding({"cdn.example.com": [VETTED]}, later)
    fetcher, dialer = pinned(origin, resolver)
    download, close = fetcher.open("https://cdn.example.com/a.png")
    assert (download.width, download.height) == (30, 20) and download.stream.read()
    close()
    assert dialer.asked == [(VETTED, 443)] and dialer.reached == [VETTED]
    assert resolver.calls == ["cdn.example.com"]  # the check's resolution is the only one
    # TLS and HTTP still speak to the name: SNI, certificate (valid only for the names) and Host
    assert origin.sni == ["cdn.example.com"] and origin.hosts == ["cdn.example.com"]


def test_without_a_pin_the_same_dialer_would_have_resolved_again_and_reached_the_rebound_address(origin):
    """The control: httpcore's own pool over the same dialer dials the name, whose answer has changed."""
    resolver = Rebinding({"cdn.example.com": [VETTED]}, "10.0.0.1")
    resolver("cdn.example.com", 443)  # the guard's check
    dialer = Dialer(origin.port, resolver)
    unpinned = httpcore.ConnectionPool(ssl_context=origin.client_context, network_backend=dialer)
    with unpinned, pytest.raises(httpcore.ConnectError):
        unpinned.request("GET", "https://cdn.example.com/a.png")
    assert dialer.asked == [("cdn.example.com", 443)] and dialer.reached == ["10.0.0.1"]


def test_every_redirect_hop_is_checked_and_pinned_anew(origin):
    resolver = Rebinding({"cdn.example.com": [VETTED], "other.example.com": [OTHER_VETTED]}, "10.0.0.1")
    fetcher, dialer = pinned(origin, resolver)
    download, close = fetcher.open("https://cdn.example.com/hop")
    download.stream.read()
    close()
    assert dialer.asked == [(VETTED, 443), (OTHER_VETTED, 443)]
    assert resolver.calls == ["cdn.example.com", "other.example.com"]
    assert origin.sni == ["cdn.example.com", "other.example.com"]
    assert origin.hosts == ["cdn.example.com", "other.example.com"]


def test_a_vetted_address_that_does_not_answer_gives_way_to_the_next_vetted_one(origin):
    fetcher, dialer = pinned(origin, lambda host, port: [DEAD, VETTED])
    download, close = fetcher.open("https://cdn.example.com/a.png")
    close()
    assert dialer.asked == [(DEAD, 443), (VETTED, 443)]


def test_the_certificate_is_still_checked_against_the_urls_host(origin):
    fetcher, dialer = pinned(origin, lambda host, port: [VETTED])
    with pytest.raises(OutputUnavailable) as caught:  # the origin's certificate does not name this host
        fetcher.open("https://elsewhere.example.net/a.png")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert dialer.asked == [(VETTED, 443)] and origin.sni == ["elsewhere.example.net"]


def test_a_host_that_was_not_pinned_is_never_dialled(origin):
    dialer = Dialer(origin.port, lambda host, port: [VETTED])
    pins = PinnedBackend(dialer)
    client = httpx.Client(transport=PinnedTransport(pins, verify=origin.client_context))
    with pytest.raises(httpx.ConnectError, match="no vetted address"):
        client.get("https://cdn.example.com/a.png")
    pins.pin("other.example.com", [VETTED])  # a pin for another host does not count
    with pytest.raises(httpx.ConnectError, match="no vetted address"):
        client.get("https://cdn.example.com/a.png")
    pins.pin("cdn.example.com", [VETTED])  # nor does one made on another thread
    failures = []

    def elsewhere():
        try:
            client.get("https://cdn.example.com/b.png")
        except httpx.ConnectError as exc:
            failures.append(exc)

    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    assert len(failures) == 1 and dialer.asked == []
    assert client.get("https://cdn.example.com/a.png").status_code == 200
    assert dialer.asked == [(VETTED, 443)]


def test_loopback_http_on_the_local_stack_still_connects(tmp_path):
    server = Origin(tmp_path, tls=False)
    try:
        fetcher = pinned_fetcher(timeout=httpx.Timeout(5.0), max_bytes=1 << 20, allow_loopback_http=True,
                                 resolver=lambda host, port: pytest.fail("loopback needs no resolution"))
        download, close = fetcher.open(f"http://127.0.0.1:{server.port}/a.png")
        close()
        assert (download.width, download.height) == (30, 20)
        assert server.hosts == [f"127.0.0.1:{server.port}"]
    finally:
        server.close()


def test_the_ingest_wiring_pins_unless_a_test_transport_is_given():
    wired = _fetcher(Settings(), None, None)
    assert isinstance(wired.client._transport, PinnedTransport) and isinstance(wired.pins, PinnedBackend)
    assert wired.client._transport._pool._network_backend is wired.pins  # the pool dials through the pins
    mocked = _fetcher(Settings(), httpx.MockTransport(lambda r: httpx.Response(200, content=png_bytes())),
                      lambda host, port: [PUBLIC])
    assert mocked.pins is None
    download, close = mocked.open("https://cdn.example.com/a.png")
    close()
    assert download.content_type == "image/png"
