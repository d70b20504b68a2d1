"""Which hosts a URL may name: the rules source images are held to at the door, and the destination rule outputs
(``fetch``) and webhook deliveries (``webhook_sender``) are held to before any connection (``vetted_addresses``).

No DNS here (the door never resolves; the fetch guard resolves and checks every address with
``is_public_ip``). What is refused from the URL's text alone:
- IP literals that are not public: private, loopback, link-local, reserved, multicast,
  unspecified, and IPv4-mapped IPv6 forms of those — in every spelling a resolver would accept
  (``127.1``, ``0x7f000001``, ``2130706433``, ``017700000001``, ``[::ffff:127.0.0.1]``);
- internal names: ``localhost`` and single-label names, and names under ``.localhost``,
  ``.local``, ``.internal``, ``.localdomain``, ``.home.arpa`` (e.g. ``metadata.google.internal``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".intranet", ".lan")


def is_public_ip(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged by its IPv4 part)."""
    ip = ipaddress.ip_address(str(address).split("%")[0]) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, if it is an IP literal in any form a resolver accepts, else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:  # inet_aton accepts the short, hex, octal and integer forms getaddrinfo does
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_internal_name(host: str) -> bool:
    """``localhost``, a single-label name, or a name under an internal suffix."""
    host = host.lower().rstrip(".")
    return host == "localhost" or "." not in host or host.endswith(INTERNAL_SUFFIXES)


def host_problem(host: str | None) -> str | None:
    """Why a URL may not name ``host`` (from its text alone), or None when it may."""
    if not host:
        return "it has no host"
    literal = ip_literal(host)
    if literal is not None:
        return None if is_public_ip(literal) else f"{host} is not a public address"
    if is_internal_name(host):
        return f"{host} is an internal name"
    return None


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP literals (``127.0.0.1``, ``::1``)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DestinationForbidden(ValueError):
    """A URL that may not be connected to; ``str()`` says why, as a phrase after the URL ("is not https")."""


def vetted_addresses(url: str, resolver: Callable[[str, int], Sequence[str]], *, allow_loopback_http: bool = False,
                     host_allowlist: Sequence[str] = ()) -> list[str]:
    """The addresses to connect to for ``url``: every address its host resolves to (``resolver(host, port)``), all
    public; or the host as written for loopback ``http://`` when ``allow_loopback_http`` (the local stack only).
    ``host_allowlist``: when set, only these hosts (``.suffix`` for a domain and its subdomains), loopback exempt.

    Raises ``DestinationForbidden`` (the URL does not parse, has no host, is not https, is off the allowlist, or its
    host resolves to a non-public address or none); whatever ``resolver`` raises (``OSError``: not resolvable now)."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError as exc:  # "[::1", a port of 99999...: urllib refuses it, and so do we
        raise DestinationForbidden(f"does not parse: {exc}") from None
    if not host:
        raise DestinationForbidden("has no host")
    if parts.scheme == "http" and allow_loopback_http and is_loopback_host(host):
        return [host]
    if parts.scheme != "https":
        raise DestinationForbidden("is not https")
    if host_allowlist and not any(host == allowed or (allowed.startswith(".") and host.endswith(allowed))
                                  for allowed in host_allowlist):
        raise DestinationForbidden(f"names {host!r}, which is not on the allowlist")
    addresses = resolver(host, port or 443)
    blocked = [address for address in addresses if not is_public_ip(address)]
    if not addresses or blocked:
        raise DestinationForbidden(f"names {host!r}, which resolves to a non-public address {blocked}")
    return list(addresses)
