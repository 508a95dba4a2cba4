"""Link rewriting (docs/proxy.md, "Rewriting"): every provider URL in a response becomes the gateway's.

One compiled pattern finds, in a single pass over the body, the provider base in its plain
form and in its JSON-escaped form (``https:\\/\\/provider\\/fhir``), followed by a boundary
(``/``, ``?``, ``#``, a quote, ``<``, ``\\``, whitespace or the end), so ``…/fhir2`` is not
touched. Scheme and host match whatever their case (RFC 3986 §6.2.2.1: ``HTTPS://EHR.example``
is the same origin) and an explicit default port (``:443`` for https) is the same origin too;
the path is matched exactly. It covers Bundle ``link[].url``, ``entry[].fullUrl``, absolute
references and XML ``value`` attributes alike.

Links a client follows must not lead it to another host with its token: ``Location`` and
``Content-Location`` (:meth:`LinkRewriter.header_url`) and a Bundle's ``link[].url``
(:meth:`LinkRewriter.rewrite_body`) that point anywhere but the provider's base (or already
the gateway's) are dropped.

:class:`LinkRewriting` is the proxy step (``gateway.proxy.exchange``) that applies this to every forwarded
answer; a batch the gateway fans out gives each entry's ``response.location`` the same policy
(:func:`link_rewriter`).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from gateway.http import Response
from gateway.proxy.exchange import Exchange, ProxyStep

_BOUNDARY = rb"""(?=[/?#"'<\\\s&]|$)"""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_JSON_LINK_URL = re.compile(rb'"relation"\s*:\s*"[^"\\]*"\s*,\s*"url"\s*:\s*"(?P<url>[^"\\]*(?:\\/[^"\\]*)*)"')
_XML_BUNDLE_LINK = re.compile(
    rb"""<link>\s*(?:<[A-Za-z]+(?:\s[^<>]*)?/>\s*)*?<url\s+value="(?P<url>[^"]*)"\s*/>\s*"""
    rb"""(?:<[A-Za-z]+(?:\s[^<>]*)?/>\s*)*</link>\s*""")


def _origin_pattern(scheme: str, netloc: str, port: int | None) -> bytes:
    """``scheme://host[:port]`` matching any case, the default port written or not."""
    host = netloc.rsplit("@", 1)[-1]
    if port is not None and host.endswith(f":{port}"):
        host = host[: -len(f":{port}")]
    pattern = re.escape(f"{scheme}://{host}".encode())
    default = _DEFAULT_PORTS.get(scheme)
    if port is None or port == default:
        pattern += b"(?::" + str(default).encode() + b")?" if default else b""
    else:
        pattern += re.escape(f":{port}".encode())
    return pattern


class LinkRewriter:
    """Rewrites ``provider_base`` to ``gateway_base`` (both without a trailing slash)."""

    def __init__(self, provider_base: str, gateway_base: str) -> None:
        self.provider_base = provider_base.rstrip("/")
        self.gateway_base = gateway_base.rstrip("/")
        parts = urlsplit(self.provider_base)
        self._scheme = parts.scheme.lower()
        self._host = (parts.hostname or "").lower()
        self._port = parts.port or _DEFAULT_PORTS.get(self._scheme)
        self._path = parts.path
        written = self.provider_base[: len(self.provider_base) - len(self._path)].encode()  # scheme://netloc
        path = re.escape(self._path.encode())
        self._exact = self._compile(re.escape(written) + path)  # the base as configured: the usual case, and fast
        self._any_case = self._compile(b"(?i:" + _origin_pattern(self._scheme, parts.netloc, parts.port) + b")" + path)
        self._exact_origins = (written, written.replace(b"/", b"\\/"))
        self._host_lower = self._host.encode()
        gateway = self.gateway_base.encode("utf-8")
        self._plain_gateway = gateway
        self._escaped_gateway = gateway.replace(b"/", b"\\/")

    @staticmethod
    def _compile(plain: bytes) -> re.Pattern[bytes]:
        escaped = plain.replace(b"/", b"\\\\/")  # the escaped pattern of "/" is "/"; JSON's is "\/"
        return re.compile(b"(?:" + escaped + b"|" + plain + b")" + _BOUNDARY)

    def _replace(self, match: re.Match[bytes]) -> bytes:
        return self._escaped_gateway if b"\\/" in match.group(0) else self._plain_gateway

    def rewrite_body(self, body: bytes) -> bytes:
        """``body`` with every provider base replaced in one pass, and Bundle links elsewhere dropped."""
        hits = body.lower().count(self._host_lower) if self._host_lower else 0
        if hits:
            exact = sum(body.count(origin) for origin in self._exact_origins)
            # Only when another spelling of scheme or host occurs is the (slower) case-insensitive pattern needed.
            body = (self._exact if exact == hits else self._any_case).sub(self._replace, body)
        if b"<link>" in body:
            body = _XML_BUNDLE_LINK.sub(lambda m: m.group(0) if self._kept(m.group("url").decode("utf-8", "replace"))
                                        else b"", body)
        elif b'"relation"' in body:
            body = self._json_bundle_links(body)
        return body

    def _on_provider(self, url: str) -> str | None:
        """The part of an absolute ``url`` after the provider base, or None when it is not on it."""
        try:
            parts = urlsplit(url)
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
        except ValueError:
            return None
        if parts.scheme.lower() != self._scheme or (parts.hostname or "") != self._host or port != self._port \
                or parts.username is not None or parts.password is not None:
            return None
        rest = url[url.index(parts.netloc) + len(parts.netloc):] if parts.netloc else ""
        if rest == self._path or rest.startswith(self._path) and rest[len(self._path)] in "/?#":
            return rest[len(self._path):]
        return None

    def rewrite_url(self, url: str) -> str:
        """A single absolute URL on the provider's base as the gateway's; any other string unchanged."""
        rest = self._on_provider(url)
        return url if rest is None else self.gateway_base + rest

    def _on_gateway(self, url: str) -> bool:
        base = self.gateway_base
        return url == base or url.startswith(base) and url[len(base)] in "/?#"

    def header_url(self, value: str, request_url: str | None = None) -> str | None:
        """``Location`` / ``Content-Location`` (RFC 9110 §10.2.2, §8.7) for the client, or None to drop it.

        A relative reference is resolved against the provider URL that was asked (``request_url``).
        Only a URL on the provider's base (rewritten) or already on the gateway's passes.
        """
        value = value.strip()
        if not value or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
            return None
        try:
            absolute = urljoin(request_url or self.provider_base + "/", value)
        except ValueError:  # "//[": not a URL at all
            return None
        rest = self._on_provider(absolute)
        if rest is not None:
            return self.gateway_base + rest
        return absolute if self._on_gateway(absolute) else None

    def _kept(self, url: str) -> bool:
        """A Bundle link the client may follow: relative on the gateway's base, or absolute on it."""
        try:
            return self._on_gateway(urljoin(self.gateway_base + "/", url.strip()))
        except ValueError:  # "//[": not a URL at all
            return False

    def _json_bundle_links(self, body: bytes) -> bytes:
        found = [m.group("url").replace(b"\\/", b"/").decode("utf-8", "replace") for m in _JSON_LINK_URL.finditer(body)]
        if len(found) == body.count(b'"relation"') and all(self._kept(url) for url in found):
            return body  # the usual searchset: every link checked without parsing the body
        try:
            document: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return body
        if not self._drop_foreign_links(document):
            return body
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _drop_foreign_links(self, resource: Any) -> bool:
        """Drop the links elsewhere of a Bundle and of the Bundles in its entries; whether any went."""
        if not isinstance(resource, dict) or resource.get("resourceType") != "Bundle":
            return False
        changed = False
        links = resource.get("link")
        if isinstance(links, list):
            kept = [link for link in links
                    if not (isinstance(link, dict) and isinstance(link.get("url"), str)) or self._kept(link["url"])]
            changed = len(kept) != len(links)
            resource["link"] = kept
        entries = resource.get("entry")
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and self._drop_foreign_links(entry.get("resource")):
                changed = True
        return changed


def is_textual(content_type: str) -> bool:
    """Bodies whose URLs are rewritten: JSON and XML (FHIR or plain) and text."""
    media = content_type.split(";", 1)[0].strip().lower()
    return (media.startswith("text/") or media.endswith(("json", "xml", "+fhir"))
            or "+json" in media or "+xml" in media or media == "")


_LINK_HEADERS = frozenset({"location", "content-location"})
"""The header fields a provider names a resource's URL in (RFC 9110 §10.2.2, §8.7)."""


@functools.lru_cache(maxsize=4096)
def link_rewriter(provider_base: str, gateway_base: str) -> LinkRewriter:
    """One rewriter per route's base (it holds compiled patterns and no per-request state)."""
    return LinkRewriter(provider_base, gateway_base)


class LinkRewriting(ProxyStep):
    """The proxy step that makes every provider URL of an answer the gateway's (``gateway_base``, the FHIR base
    the client called): ``Location`` and ``Content-Location`` resolved against the provider URL asked, then
    rewritten or dropped; the body, when it is text, in one pass. Requests pass unchanged."""

    def __init__(self, gateway_base: str) -> None:
        self._gateway_base = gateway_base

    def incoming(self, exchange: Exchange, response: Response) -> Response:
        rewriter = link_rewriter(exchange.route.fhir_base_url, self._gateway_base)
        asked = exchange.provider_url
        headers = response.headers
        headers.rewrite(_LINK_HEADERS, lambda value: rewriter.header_url(value, asked))
        if response.body and is_textual(headers.get("content-type", "")):
            response.body = rewriter.rewrite_body(response.body)
        return response
