"""Which hosts a URL may name: the rules source images are held to at the door and outputs at the fetch.

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
