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
parameter to the links it names (the page token, ``gateway.proxy.paging``). An XML ``link`` element in any
other shape than servers write sends the document to expat, which judges every link as a client's parser
reads it (:class:`UncheckedLinks` when it cannot: the step answers 502).

:class:`LinkRewriting` is the proxy step (``gateway.proxy.exchange``) that applies this to every forwarded
answer; a batch the gateway fans out gives each entry's ``response.location`` the same policy
(:func:`link_rewriter`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit
from xml.parsers import expat
from xml.sax.saxutils import escape

from gateway.fhir.outcome import operation_outcome
from gateway.fhir.versions import FhirVersion
from gateway.http import Response
from gateway.proxy.exchange import Exchange, ProxyStep

_BOUNDARY = rb"""(?=[/?#"'<\\\s&]|$)"""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_JSON_DOCUMENT = re.compile(rb"(?:\xef\xbb\xbf)?\s*[{\[]")  # a UTF-8 byte order mark allowed
_JSON_RELATION = b'"relation"'
_JSON_LINK = re.compile(
    rb'"relation"\s*:\s*"(?P<relation>[^"\\]*)"\s*,\s*"url"\s*:\s*"(?P<url>[^"\\]*(?:\\/[^"\\]*)*)"')
_XML_LINK = re.compile(
    rb'<link>\s*<relation\s+value="(?P<relation>[^"<>&]*)"\s*/>\s*'
    rb'<url\s+value="(?P<url>[^"<>&]*(?:&amp;[^"<>&]*)*)"\s*/>\s*</link>\s*')
"""A Bundle link in the shape servers write it, checked without parsing: a relation, then a URL whose only
reference is ``&amp;``; any other ``link`` element sends the document to the parser (:func:`_xml_links`)."""
_XML_START_TAG = re.compile(rb"<[^\s/>]+")
_XML_ATTRIBUTE = re.compile(rb"""\s+([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XML_ATTRIBUTE_ESCAPES = {'"': "&quot;", "'": "&apos;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}

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

    def rewrite_body(self, body: bytes, link_parameter: LinkParameter | None = None, *,
                     labelled_xml: bool = True) -> bytes:
        """``body`` with every provider base replaced, Bundle links elsewhere dropped, and ``link_parameter``'s
        parameter appended to the Bundle links it names (see the module docstring).

        :class:`UncheckedLinks` when the body has ``link`` elements the XML parser cannot read (not well-formed,
        a DTD) and is ``labelled_xml``; otherwise such a body keeps what cannot be read as XML unjudged."""
        body = self._rewrite_bases(body)
        if not _JSON_DOCUMENT.match(body) and b"link" in body:  # no "<link>" element in JSON: not looked for
            body = self._xml_bundle_links(body, link_parameter, labelled_xml)
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

    def _xml_bundle_links(self, body: bytes, link_parameter: LinkParameter | None, labelled_xml: bool) -> bytes:
        """Every ``link`` element in the plain shape (:data:`_XML_LINK`): judged without parsing; else the whole
        document parsed (:func:`_xml_links`) and every Bundle link in it judged as a client's parser reads it."""
        plain: list[re.Match[bytes]] = []
        for tag in _xml_link_tags(body):
            link = _XML_LINK.match(body, tag)
            if link is None:
                try:
                    return self._parsed_xml_links(body, link_parameter)
                except UncheckedLinks:
                    if labelled_xml:
                        raise
                    break  # not XML, as it says: the links that read like one are still judged
            plain.append(link)
        return _appended(body, plain, link_parameter, _XML_FORM, kept=self._kept)

    def _parsed_xml_links(self, body: bytes, link_parameter: LinkParameter | None) -> bytes:
        """``body`` with its Bundle links judged as an XML parser reads them (:func:`_xml_links`): a link whose
        URL is on the gateway's base kept (its parameter appended), one on the provider's base rewritten, any
        other (or one with two URLs) dropped; the rest of the document byte for byte as it was."""
        edits: list[tuple[int, int, bytes]] = []
        for link in _xml_links(body):
            url = link.url
            if url is not None and not self._kept(url):
                url = self.rewrite_url(url)
            if not link.single or url is not None and not self._kept(url):
                edits.append((link.start, link.end, b""))
                continue
            if url is None or link.value is None:
                continue  # a link without a URL: nothing to follow
            parameter = link_parameter(link.relation or "", url) if link_parameter is not None else None
            if parameter is not None:
                url += ("&" if "?" in url else "?") + parameter
            if url != link.url:
                edits.append((*link.value, _xml_attribute_text(url)))
        pieces: list[bytes] = []
        at = 0
        for start, end, replacement in sorted(edits):
            if start >= at:  # else inside a link already dropped
                pieces += (body[at:start], replacement)
                at = end
        return b"".join((*pieces, body[at:])) if pieces else body

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
        """Drop the links elsewhere of a Bundle, of its entries and of the Bundles in them; whether any went."""
        if not isinstance(resource, dict) or resource.get("resourceType") != "Bundle":
            return False
        changed = self._drop_foreign_link_entries(resource)
        entries = resource.get("entry")
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict):  # an entry's own links (Bundle.entry.link), then its resource's
                changed = self._drop_foreign_link_entries(entry) | changed
                changed = self._drop_foreign_links(entry.get("resource")) | changed
        return changed

    def _drop_foreign_link_entries(self, holder: dict[str, Any]) -> bool:
        """Drop the elements of ``holder["link"]`` whose ``url`` is elsewhere; whether any went."""
        links = holder.get("link")
        if not isinstance(links, list):
            return False
        kept = [link for link in links
                if not (isinstance(link, dict) and isinstance(link.get("url"), str)) or self._kept(link["url"])]
        holder["link"] = kept
        return len(kept) != len(links)


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


def _appended(body: bytes, links: list[re.Match[bytes]], link_parameter: LinkParameter | None, form: _LinkForm,
              kept: Callable[[str], bool] | None = None) -> bytes:
    """``body`` with ``link_parameter``'s parameter appended, as the last, to the URL of each link it names;
    and, given ``kept``, each link whose URL it refuses dropped (the whole match)."""
    pieces: list[bytes] = []
    start = 0
    for link in links:
        url = form.url(link)
        if kept is not None and not kept(url):
            pieces.append(body[start:link.start()])
            start = link.end()
            continue
        parameter = None if link_parameter is None else \
            link_parameter(link.group("relation").decode("utf-8", "replace"), url)
        if parameter is None:
            continue
        end = link.end("url")
        pieces += (body[start:end], form.separator if b"?" in link.group("url") else b"?", parameter.encode())
        start = end
    if not pieces:
        return body
    pieces.append(body[start:])
    return b"".join(pieces)


def _xml_link_tags(body: bytes) -> Iterator[int]:
    """Where an element named ``link`` may start (``<link`` or, any namespace prefix, ``:link``, followed by
    whitespace, ``/`` or ``>``), found by a byte search for ``link`` rather than a pattern scan of the body."""
    at = body.find(b"link")
    while at >= 0:
        if body[at - 1:at] in (b"<", b":") and body[at + 4:at + 5] in (b">", b" ", b"/", b"\n", b"\r", b"\t", b""):
            yield at - 1
        at = body.find(b"link", at + 4)


class UncheckedLinks(ValueError):
    """An XML answer has links the gateway cannot judge: the parser cannot read it (not well-formed, not an
    encoding it reads, or it declares a DTD, whose entities are never expanded)."""


@dataclass(frozen=True, slots=True)
class _XmlLink:
    """A Bundle link as an XML parser reads it: where its element is (``start``..``end``), its relation and
    URL decoded, where the URL's ``value`` attribute text is; ``single``: exactly one URL, and it unambiguous."""

    start: int
    end: int
    relation: str | None
    url: str | None
    value: tuple[int, int] | None
    single: bool


@dataclass(slots=True)
class _Element:
    local_name: str
    start: int
    relation: str | None = None
    urls: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def _xml_links(body: bytes) -> list[_XmlLink]:
    """Every element named ``link`` (in any namespace) of an XML document that has a ``url`` child, in the
    order they end (inner first), read with expat; UncheckedLinks when it cannot be read, or declares a DTD
    (FHIR XML has none: refused before any entity could be declared, let alone expanded)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    elements: list[_Element] = []
    links: list[_XmlLink] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        local_name = name.rpartition(" ")[2]
        if elements and elements[-1].local_name == "link":
            if local_name == "url":
                elements[-1].urls.append((parser.CurrentByteIndex, attributes))
            elif local_name == "relation":
                elements[-1].relation = attributes.get("value")
        elements.append(_Element(local_name, parser.CurrentByteIndex))

    def end(name: str) -> None:
        element = elements.pop()
        if element.local_name == "link" and element.urls:
            links.append(_xml_link(body, element, parser.CurrentByteIndex))

    def refuse_dtd(*_: object) -> None:
        raise UncheckedLinks("the document declares a DTD")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse_dtd
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise UncheckedLinks("the document is not well-formed XML") from None
    return links


def _xml_link(body: bytes, element: _Element, end_tag: int) -> _XmlLink:
    """The link ``element`` (its end tag at ``end_tag``) with its only URL and where that URL is written."""
    if not body.startswith(b"</", end_tag):
        raise UncheckedLinks("the document is not in an encoding the gateway edits")
    end = body.index(b">", end_tag) + 1
    if len(element.urls) != 1:
        return _XmlLink(element.start, end, element.relation, None, None, single=False)
    at, attributes = element.urls[0]
    values = [name for name in attributes if name.rpartition(" ")[2] == "value"]
    if values != ["value"]:  # none (no URL), or a prefixed one a lax reader might take
        return _XmlLink(element.start, end, element.relation, None, None, single=not values)
    return _XmlLink(element.start, end, element.relation, attributes["value"], _value_text(body, at), single=True)


def _value_text(body: bytes, at: int) -> tuple[int, int]:
    """Where the text of the ``value`` attribute of the start tag at ``at`` is (inside its quotes)."""
    tag = _XML_START_TAG.match(body, at)
    position = tag.end() if tag is not None else len(body)
    while (attribute := _XML_ATTRIBUTE.match(body, position)) is not None:
        if attribute.group(1) == b"value":
            quoted = 2 if attribute.group(2) is not None else 3
            return attribute.start(quoted), attribute.end(quoted)
        position = attribute.end()
    raise UncheckedLinks("the document is not in an encoding the gateway edits")


def _xml_attribute_text(value: str) -> bytes:
    """``value`` as the text of an attribute between either quote, in ASCII (character references beyond)."""
    return escape(value, _XML_ATTRIBUTE_ESCAPES).encode("ascii", "xmlcharrefreplace")


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
        content_type = headers.get("content-type", "")
        if body and is_textual(content_type):
            signing = self._signing
            link_parameter = signing.link_parameter(exchange) if signing is not None and may_carry_links(body) \
                else None
            try:
                response.body = rewriter.rewrite_body(body, link_parameter, labelled_xml="xml" in content_type.lower())
            except UncheckedLinks:
                return _refused(response, exchange.base.version)
        return response


def _refused(response: Response, version: FhirVersion) -> Response:
    """``response`` made a 502 OperationOutcome of the client's version: the provider's answer has links the
    gateway cannot judge. The response policy's headers stay; what described the provider's body goes."""
    outcome = operation_outcome(502, "The FHIR server's answer has links the gateway cannot check.",
                                fhir_version=version)
    response.status, response.body = outcome.status, outcome.body
    for name in ("Content-Disposition", "ETag", "Last-Modified", "Location", "Content-Location"):
        response.headers.remove(name)
    response.headers.set("Content-Type", outcome.headers["content-type"])
    return response


def may_carry_links(body: bytes) -> bool:
    """Whether an answer may hold Bundle links (JSON or XML)."""
    return _JSON_RELATION in body or b"<relation" in body
