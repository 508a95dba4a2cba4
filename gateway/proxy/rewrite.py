"""Link rewriting (docs/proxy.md, "Rewriting"): every provider URL in a response becomes the gateway's.

A compiled pattern with a fixed replacement finds, in a single pass over the body, the provider
base as configured (and, when the body has any, in its JSON-escaped form ``https:\\/\\/provider\\/fhir``),
followed by a boundary (``/``, ``?``, ``#``, a quote, ``<``, ``\\``, whitespace or the end), so
``…/fhir2`` is not touched. Scheme and host match whatever their case (RFC 3986 §6.2.2.1:
``HTTPS://EHR.example`` is the same origin) and an explicit default port (``:443`` for https) is
the same origin too (a slower pattern, used only when the host occurs in another spelling); the
path is matched exactly. It covers Bundle ``link[].url``, ``entry[].fullUrl``, absolute
references and XML ``value`` attributes alike.

Links a client follows must not lead it to another host with its token: ``Location`` and
``Content-Location`` (:meth:`LinkRewriter.header_url`) and a Bundle's ``link[].url``
(:meth:`LinkRewriter.rewrite_body`) that point anywhere but the provider's base (or already
the gateway's) are dropped. Bundle links are found by a byte search for where they start, not
by a pattern run over the whole body; in that same pass a :data:`LinkParameter` may append a
parameter to the links it names (the page token, ``gateway.proxy.paging``).

:class:`LinkRewriting` is the proxy step (``gateway.proxy.exchange``) that applies this to every forwarded
answer; a batch the gateway fans out gives each entry's ``response.location`` the same policy
(:func:`link_rewriter`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from gateway.http import Response
from gateway.proxy.exchange import Exchange, ProxyStep

_BOUNDARY = rb"""(?=[/?#"'<\\\s&]|$)"""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_JSON_DOCUMENT = re.compile(rb"\s*[{\[]")
_JSON_RELATION = b'"relation"'
_JSON_LINK = re.compile(
    rb'"relation"\s*:\s*"(?P<relation>[^"\\]*)"\s*,\s*"url"\s*:\s*"(?P<url>[^"\\]*(?:\\/[^"\\]*)*)"')
_XML_BUNDLE_LINK = re.compile(
    rb"""<link>\s*(?:<[A-Za-z]+(?:\s[^<>]*)?/>\s*)*?<url\s+value="(?P<url>[^"]*)"\s*/>\s*"""
    rb"""(?:<[A-Za-z]+(?:\s[^<>]*)?/>\s*)*</link>\s*""")
_XML_LINK = re.compile(
    rb'<link>\s*<relation\s+value="(?P<relation>[^"<>]*)"\s*/>\s*<url\s+value="(?P<url>[^"<>]*)"\s*/>')

LinkParameter = Callable[[str, str], "str | None"]
"""``(relation, url) -> "name=value" | None``: a query parameter to append, as its last, to a Bundle link's URL
(already on the client's base); None leaves the link as it is (``gateway.proxy.paging``: the page token)."""


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


def _escaped(pattern: bytes) -> bytes:
    """``pattern`` (of a URL) for its JSON-escaped form: the escaped pattern of "/" is "/"; JSON's is "\\/"."""
    return pattern.replace(b"/", b"\\\\/")


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
        plain = re.escape(written) + path  # the base as configured: the usual case, replaced without a callback
        self._plain = re.compile(plain + _BOUNDARY)
        self._escaped = re.compile(_escaped(plain) + _BOUNDARY)
        any_case = b"(?i:" + _origin_pattern(self._scheme, parts.netloc, parts.port) + b")" + path
        self._any_case = re.compile(b"(?:" + _escaped(any_case) + b"|" + any_case + b")" + _BOUNDARY)
        self._exact_origins = (written, written.replace(b"/", b"\\/"))
        self._host_lower = self._host.encode()
        gateway = self.gateway_base.encode("utf-8")
        self._plain_gateway = gateway
        self._escaped_gateway = gateway.replace(b"/", b"\\/")
        self._plain_template = self._plain_gateway.replace(b"\\", b"\\\\")  # re.sub templates read "\"
        self._escaped_template = self._escaped_gateway.replace(b"\\", b"\\\\")
        # urljoin leaves a URL on the gateway's base as it is when it leaves the base so (a lower-case scheme)
        self._gateway_canonical = urljoin(self.gateway_base + "/", self.gateway_base) == self.gateway_base

    def _replace(self, match: re.Match[bytes]) -> bytes:
        return self._escaped_gateway if b"\\/" in match.group(0) else self._plain_gateway

    def rewrite_body(self, body: bytes, link_parameter: LinkParameter | None = None) -> bytes:
        """``body`` with every provider base replaced, Bundle links elsewhere dropped, and ``link_parameter``'s
        parameter appended to the Bundle links it names (see the module docstring)."""
        body = self._rewrite_bases(body)
        if not _JSON_DOCUMENT.match(body) and b"<link>" in body:  # no "<link>" element in JSON: not looked for
            body = self._xml_bundle_links(body, link_parameter)
        if _JSON_RELATION in body:
            body = self._json_bundle_links(body, link_parameter)
        return body

    def _rewrite_bases(self, body: bytes) -> bytes:
        """Every spelling of the provider base replaced: the base as configured (plain, then JSON-escaped) by a
        pattern with a fixed replacement; only when the host occurs otherwise (another case, a default port)
        the case-insensitive pattern, slower, over the original body."""
        hits = body.lower().count(self._host_lower) if self._host_lower else 0
        if not hits:
            return body
        rewritten, found = self._plain.subn(self._plain_template, body)
        if found != hits:
            rewritten, escaped = self._escaped.subn(self._escaped_template, rewritten)
            found += escaped
        if found == hits or sum(body.count(origin) for origin in self._exact_origins) == hits:
            return rewritten  # every occurrence of the host is in the base as configured (or on another path)
        return self._any_case.sub(self._replace, body)

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
        if self._gateway_canonical and self._on_gateway(url):
            return True  # what urljoin would give back unchanged: the usual link, without parsing it
        try:
            return self._on_gateway(urljoin(self.gateway_base + "/", url.strip()))
        except ValueError:  # "//[": not a URL at all
            return False

    def _xml_bundle_links(self, body: bytes, link_parameter: LinkParameter | None) -> bytes:
        body = _XML_BUNDLE_LINK.sub(lambda m: m.group(0) if self._kept(m.group("url").decode("utf-8", "replace"))
                                    else b"", body)
        if link_parameter is None or b"<relation" not in body:
            return body
        return _appended(body, _found(body, b"<link>", _XML_LINK)[0], link_parameter, _XML_FORM)

    def _json_bundle_links(self, body: bytes, link_parameter: LinkParameter | None) -> bytes:
        links, complete = _found(body, _JSON_RELATION, _JSON_LINK)
        if not (complete and all(self._kept(_JSON_FORM.url(link)) for link in links)):
            cleaned = self._without_foreign_json_links(body)
            if cleaned is not body:
                body, links = cleaned, _found(cleaned, _JSON_RELATION, _JSON_LINK)[0]
        # else the usual searchset: every link checked without parsing the body
        return body if link_parameter is None else _appended(body, links, link_parameter, _JSON_FORM)

    def _without_foreign_json_links(self, body: bytes) -> bytes:
        """``body`` parsed, its Bundles' links elsewhere dropped, serialised again; unchanged when none goes."""
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


class _LinkForm:
    """How a Bundle link's URL is written in a body: JSON (``\\/`` may stand for ``/``) or XML (``&amp;``)."""

    def __init__(self, written: bytes, plain: bytes, separator: bytes) -> None:
        self._written, self._plain, self.separator = written, plain, separator

    def url(self, link: re.Match[bytes]) -> str:
        return link.group("url").replace(self._written, self._plain).decode("utf-8", "replace")


_JSON_FORM = _LinkForm(b"\\/", b"/", b"&")
_XML_FORM = _LinkForm(b"&amp;", b"&", b"&amp;")


def _found(body: bytes, marker: bytes, pattern: re.Pattern[bytes]) -> tuple[list[re.Match[bytes]], bool]:
    """The links ``pattern`` matches where ``marker`` (its first bytes) occurs, found by a byte search rather than
    a pattern scan of the whole body, and whether every occurrence of ``marker`` starts one."""
    links = []
    complete = True
    at = body.find(marker)
    while at >= 0:
        link = pattern.match(body, at)
        if link is None:
            complete = False
        else:
            links.append(link)
        at = body.find(marker, at + len(marker))
    return links, complete


def _appended(body: bytes, links: list[re.Match[bytes]], link_parameter: LinkParameter, form: _LinkForm) -> bytes:
    """``body`` with ``link_parameter``'s parameter appended, as the last, to the URL of each link it names."""
    pieces: list[bytes] = []
    start = 0
    for link in links:
        parameter = link_parameter(link.group("relation").decode("utf-8", "replace"), form.url(link))
        if parameter is None:
            continue
        end = link.end("url")
        pieces += (body[start:end], form.separator if b"?" in link.group("url") else b"?", parameter.encode())
        start = end
    if not pieces:
        return body
    pieces.append(body[start:])
    return b"".join(pieces)


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


class AnswerLinks(Protocol):
    """What adds a parameter to an answer's Bundle links (``gateway.proxy.paging.PageLinks``: the page token)."""

    def link_parameter(self, exchange: Exchange) -> LinkParameter | None:
        """The parameter for the links of ``exchange``'s answer; None when no link of it gets one."""


class LinkRewriting(ProxyStep):
    """The proxy step that makes every provider URL of an answer the gateway's: on the FHIR base the client called
    (``exchange.base``: ``/fhir`` or a version's base). ``Location`` and ``Content-Location`` resolved against the
    provider URL asked, then rewritten or dropped; the body, when it is text, in one pass, its Bundle links signed
    by ``signing`` on the way (the paging links, ``gateway.proxy.paging``). Requests pass unchanged."""

    def __init__(self, signing: AnswerLinks | None = None) -> None:
        self._signing = signing

    def incoming(self, exchange: Exchange, response: Response) -> Response:
        rewriter = link_rewriter(exchange.route.fhir_base_url, exchange.base.url)
        asked = exchange.provider_url
        headers = response.headers
        headers.rewrite(_LINK_HEADERS, lambda value: rewriter.header_url(value, asked))
        body = response.body
        if body and is_textual(headers.get("content-type", "")):
            signing = self._signing
            link_parameter = signing.link_parameter(exchange) if signing is not None and may_carry_links(body) \
                else None
            response.body = rewriter.rewrite_body(body, link_parameter)
        return response


def may_carry_links(body: bytes) -> bool:
    """Whether an answer may hold Bundle links (JSON or XML)."""
    return _JSON_RELATION in body or b"<relation" in body
