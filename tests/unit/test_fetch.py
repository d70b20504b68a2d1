"""The guarded output download: each rule's decision, with a stubbed resolver (no request leaves the process)."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from seedream.errors import OutputRejected, OutputUnavailable
from seedream.fetch import Fetcher

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
