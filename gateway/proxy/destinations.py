"""Security of provider URLs (issue 4, "Security of provider URLs"): which provider URLs and
addresses the proxy may connect to.

Two checks share these rules:

- :func:`validate_provider_url` when a route is saved (admin API) and before each forward:
  https only in production, no credentials, query or fragment, and no host that is an IP
  literal in a refused range.
- :func:`address_problem` on every *resolved* address at connect time (the proxy's aiohttp
  connector calls it), so a DNS name that later points at a private address is refused too.

Refused unless the route is marked ``private_network``: loopback, link-local, private
(RFC 1918 / RFC 4193), carrier-grade NAT, unspecified, multicast and reserved ranges.
In development loopback is allowed so the local stack works. Cloud metadata endpoints
(169.254.169.254, Azure's 168.63.129.16, fd00:ec2::254) are refused always.

This module imports only the standard library: importing it has no aiohttp side effects.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from gateway.config import Settings

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "168.63.129.16", "169.254.170.2", "fd00:ec2::254"))

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _classify(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """The refused category of ``address`` or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 carried inside IPv6 (mapped ::ffff:a.b.c.d, 6to4 2002::/16, Teredo 2001::/32) is judged as IPv4.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            address = embedded
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "private"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def address_problem(address: str, settings: Settings, private_network: bool) -> str | None:
    """Why the proxy must not connect to the resolved ``address``, or None when it may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    category = _classify(ip)
    if category is None:
        return None
    if category == "metadata":
        return "the address of a cloud metadata service is never allowed"
    if private_network:
        return None
    if category == "loopback" and not settings.is_production:
        return None
    return f"{category} addresses are refused unless the route is marked as a private-network provider"


def _legacy_ipv4(host: str) -> str | None:
    """The dotted quad of a host in the inet_aton forms resolvers accept (decimal, octal, hex, short)."""
    if not host or any(c not in "0123456789abcdefxABCDEFX." for c in host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def validate_provider_url(url: str, settings: Settings, private_network: bool = False) -> list[str]:
    """Problems with a provider FHIR base URL; an empty list means it is acceptable.

    Messages are safe to show to an administrator (they do not repeat the URL).
    """
    problems: list[str] = []
    if not isinstance(url, str) or not url.strip():
        return ["the provider URL is empty"]
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return ["the provider URL contains spaces or control characters"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["the provider URL is not a valid URL"]
    allowed_schemes = ("https",) if settings.is_production else ("https", "http")
    if parts.scheme not in allowed_schemes:
        problems.append("the provider URL must use https" if settings.is_production
                        else "the provider URL must use http or https")
    if not parts.hostname:
        problems.append("the provider URL has no host")
    if parts.username is not None or parts.password is not None:
        problems.append("the provider URL must not contain credentials")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        problems.append("the provider URL must not contain a query or fragment")
    if "\\" in url or "%" in parts.path or any(seg in (".", "..") for seg in parts.path.split("/")):
        problems.append("the provider URL path must not contain dot segments, backslashes or percent-escapes")
    if port == 0:
        problems.append("the provider URL has an invalid port")
    host = (parts.hostname or "").rstrip(".")  # "127.0.0.1." and "localhost." name the same host
    if host:
        numeric = _legacy_ipv4(host)
        if numeric is not None:  # 2130706433, 0177.0.0.1, 0x7f.1: what the resolver makes of them
            host = numeric
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host == "localhost" or host.endswith(".localhost"):
                problem = address_problem("127.0.0.1", settings, private_network)
                if problem:
                    problems.append(problem)
        else:
            problem = address_problem(host, settings, private_network)
            if problem:
                problems.append(problem)
    return problems
