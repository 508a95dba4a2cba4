"""Security of provider URLs (docs/proxy.md, "Security of provider URLs"): which provider URLs and
addresses the proxy may connect to.

Two checks share these rules:

- :func:`validate_provider_url` when a route is saved (admin API) and before each forward:
  https only in production, no credentials, query or fragment, and no host that is an IP
  literal in a refused range.
- :func:`address_problem` on every *resolved* address at connect time (the proxy's aiohttp
  connector calls it), so a DNS name that later points at a private address is refused too.

What ``private_network`` opens, and nothing more: the ranges a hospital's private link
(Azure Private Endpoint, VNet integration, a VPN or ExpressRoute peering) can place a
provider in, RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 4193 unique-local (fc00::/7) and
RFC 6598 carrier-grade NAT (100.64/10). Refused always, with or without it: cloud metadata
endpoints (169.254.169.254, Azure's 168.63.129.16, 169.254.170.2, fd00:ec2::254), loopback
(allowed in development only, so the local stack works), unspecified (0.0.0.0, ::: the
local host), link-local, multicast and every other reserved or special-purpose range.

IPv4 carried inside IPv6 is judged as that IPv4 address: IPv4-mapped ``::ffff:a.b.c.d``,
6to4 ``2002::/16``, Teredo ``2001::/32`` (the obfuscated client address) and NAT64's
well-known prefix ``64:ff9b::/96`` (RFC 6052), so ``64:ff9b::a9fe:a9fe`` is the metadata
service. The local-use NAT64 prefix ``64:ff9b:1::/48`` (RFC 8215, where the IPv4 address
may sit at several offsets) and deprecated IPv4-compatible ``::a.b.c.d`` are reserved.

This module imports only the standard library: importing it has no aiohttp side effects.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from gateway.config import Settings

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "168.63.129.16", "169.254.170.2", "fd00:ec2::254"))

PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))
"""What a ``private_network`` route may reach (RFC 1918, RFC 6598, RFC 4193)."""

_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64), or None."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _classify(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """The refused category of ``address`` or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
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
    if any(address in network for network in PRIVATE_NETWORKS):
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def address_problem(address: str, settings: Settings, private_network: bool) -> str | None:
    """Why the proxy must not connect to the resolved ``address``, or None when it may."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])  # fe80::1%eth0: the zone is not the address
    except ValueError:
        return "not an IP address"
    category = _classify(ip)
    if category is None:
        return None
    if category == "metadata":
        return "the address of a cloud metadata service is never allowed"
    if category == "loopback":
        return None if not settings.is_production else "loopback addresses are allowed in development only"
    if category == "private":
        if private_network:
            return None
        return "private addresses are refused unless the route is marked as a private-network provider"
    return f"{category} addresses are never allowed"


def _legacy_ipv4(host: str) -> str | None:
    """The dotted quad of a host in the inet_aton forms resolvers accept (decimal, octal, hex, short)."""
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except (OSError, ValueError):  # not such a form; ValueError: not ASCII (an IDN) or a NUL
        return None


def validate_provider_url(url: str, settings: Settings, private_network: bool = False) -> list[str]:
    """Problems with a provider FHIR base URL; an empty list means it is acceptable.

    Messages are safe to show to an administrator (they do not repeat the URL).
    """
    if not isinstance(url, str) or not url.strip():
        return ["the provider URL is empty"]
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return ["the provider URL contains spaces or control characters"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["the provider URL is not a valid URL"]
    problems = _form_problems(url, parts, port, settings)
    problem = _literal_address_problem(parts.hostname or "", settings, private_network)
    if problem:
        problems.append(problem)
    return problems


def _form_problems(url: str, parts: SplitResult, port: int | None, settings: Settings) -> list[str]:
    """What is wrong with the URL's form: scheme, host, credentials, query, path and port."""
    problems: list[str] = []
    allowed_schemes = ("https",) if settings.is_production else ("https", "http")
    if parts.scheme not in allowed_schemes:
        problems.append("the provider URL must use https" if settings.is_production
                        else "the provider URL must use http or https")
    if not parts.hostname:
        problems.append("the provider URL has no host")
    if parts.username is not None or parts.password is not None:
        problems.append("the provider URL must not contain credentials")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        problems.append("the provider URL must not contain a query or fragment")
    if "\\" in url or "%" in parts.path or any(seg in (".", "..") for seg in parts.path.split("/")):
        problems.append("the provider URL path must not contain dot segments, backslashes or percent-escapes")
    if port == 0:
        problems.append("the provider URL has an invalid port")
    return problems


def _literal_address_problem(hostname: str, settings: Settings, private_network: bool) -> str | None:
    """Why a host given as an address (in any form a resolver reads as one) is refused; None for names."""
    host = hostname.rstrip(".")  # "127.0.0.1." and "localhost." name the same host
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"  # RFC 6761 §6.3: always loopback, whatever a resolver says
    numeric = _legacy_ipv4(host)
    if numeric is not None:  # 2130706433, 0177.0.0.1, 0x7f.1: what the resolver makes of them
        host = numeric
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: checked on every resolved address at connect time
    return address_problem(host, settings, private_network)
