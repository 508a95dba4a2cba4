"""Header policy of the proxy (docs/proxy.md, "Headers").

Requests: an allow-list of what FHIR needs (everything else, the client's
``Authorization``, cookies, function keys and hop-by-hop fields of RFC 9110 §7.6.1 included,
stays behind), plus ``X-Request-Id`` and ``X-Forwarded-For/Proto/Host`` (built from the
configured public base URL, never from the client's Host header).

Responses: an allow-list (ETag, Last-Modified, Location, Content-Location, Retry-After, ``Allow``
(RFC 9110 §15.5.6: a 405 must carry it), the FHIR ones); hop-by-hop fields, ``Set-Cookie``, the
provider's own ``WWW-Authenticate`` and the encoding/length of a body the proxy decoded are
dropped. Then the gateway's own policy for PHI served from its origin:

- ``Cache-Control: no-store`` replaces whatever the provider said (``public``, ``s-maxage``,
  ``max-age`` or nothing at all; RFC 9111 §5.2.2.5), and ``Expires`` goes: no shared or
  private cache keeps a patient's data.
- ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox`` on every
  answer; a media type other than FHIR JSON/XML (or plain JSON/XML) additionally gets
  ``Content-Disposition: attachment`` (a FHIR ``Binary`` read may return a PDF or HTML: it is
  downloaded, never rendered as the gateway's page), and a body without a media type is
  ``application/octet-stream``. A response without a body gets no invented ``Content-Type``.
- ``Location`` and ``Content-Location`` pass to the link policy, the proxy step after this one
  (``gateway.proxy.rewrite.LinkRewriting``): rewritten to the gateway when they are on the
  provider's base, dropped when they point anywhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from urllib.parse import urlsplit

from gateway.config import Settings
from gateway.http import Headers, Request

FORWARDED_REQUEST_HEADERS = frozenset({
    "accept", "content-type", "if-match", "if-none-match", "if-modified-since", "if-none-exist",
    "prefer", "accept-language",
})

PASSED_RESPONSE_HEADERS = frozenset({
    "content-type", "etag", "last-modified", "location", "content-location", "retry-after",
    "content-language", "preference-applied", "x-progress", "allow",
})

FHIR_MEDIA_TYPES = frozenset({
    "application/fhir+json", "application/json+fhir", "application/fhir+xml", "application/xml+fhir",
    "application/json", "application/xml", "text/xml",
})
"""Served inline: FHIR JSON/XML in every version's spelling (R4 §3.1.0.1.6, DSTU2 json+fhir) and plain JSON/XML."""

CACHE_CONTROL = "no-store"
CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'"

# RFC 9110 §7.6.1 hop-by-hop fields (plus the obsolete ones still seen in the wild).
HOP_BY_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
    "proxy-authenticate", "proxy-authorization",
})

USER_AGENT = "interop-partner-gateway/0.1"


def _passed(items: Iterable[tuple[str, str]], allowed: frozenset[str]) -> list[tuple[str, str]]:
    """The fields of ``items`` named in ``allowed`` (which holds no hop-by-hop field), in order, less those the
    ``Connection`` header lists: hop-by-hop for this message (RFC 9110 §7.6.1). One pass, each name lowered once."""
    passed: list[tuple[str, str, str]] = []
    listed: set[str] = set()
    for name, value in items:
        lowered = name.lower()
        if lowered in allowed:
            passed.append((lowered, name, value))
        elif lowered == "connection":
            listed.update(token.strip().lower() for token in value.split(",") if token.strip())
    return [(name, value) for lowered, name, value in passed if lowered not in listed]


@functools.lru_cache(maxsize=16)
def _public_origin(public_base_url: str) -> tuple[str, str]:
    """Scheme and host of the configured public base URL (``X-Forwarded-Proto``/``-Host``), split once."""
    public = urlsplit(public_base_url)
    return public.scheme, public.netloc


def upstream_request_headers(request: Request, settings: Settings, *,
                             provider_authorization: str | None = None) -> list[tuple[str, str]]:
    """The headers sent to the provider for ``request`` (repeated fields kept in order)."""
    out = _passed(request.headers.items_all(), FORWARDED_REQUEST_HEADERS)
    scheme, netloc = _public_origin(settings.public_base_url)
    out.append(("X-Request-Id", request.request_id))
    client_address = request.client_address
    if client_address != "unknown":
        out.append(("X-Forwarded-For", client_address))
    out.append(("X-Forwarded-Proto", scheme))
    out.append(("X-Forwarded-Host", netloc))
    out.append(("Accept-Encoding", "gzip, deflate"))
    out.append(("User-Agent", USER_AGENT))
    if provider_authorization:
        out.append(("Authorization", provider_authorization))
    return out


def is_fhir_media_type(content_type: str) -> bool:
    """Whether ``content_type`` is FHIR (or plain) JSON/XML, served inline."""
    return content_type.split(";", 1)[0].strip().lower() in FHIR_MEDIA_TYPES


def downstream_response_headers(upstream: Iterable[tuple[str, str]], request_id: str, *,
                                has_body: bool = True) -> Headers:
    """The provider's response headers the client gets (see the module docstring); ``Location`` and
    ``Content-Location`` as the provider sent them, for the link policy to rewrite or drop.

    ``has_body``: whether a body follows (not for 204, 304 or HEAD's missing one).
    """
    out = Headers.of(_passed(upstream, PASSED_RESPONSE_HEADERS))
    types = out.get_all("content-type")
    content_type = types[0].strip() if len(types) == 1 else ""
    if not content_type:  # none, empty or repeated (which one would the browser take?)
        out.remove("Content-Type")
        if has_body or types:
            out.set("Content-Type", "application/octet-stream")
            content_type = "application/octet-stream"
    # None of these is a passed header, so none is in ``out`` yet: added, not set (no search).
    if content_type and not is_fhir_media_type(content_type):
        out.add("Content-Disposition", "attachment")
    out.add("Cache-Control", CACHE_CONTROL)
    out.add("X-Content-Type-Options", "nosniff")
    out.add("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    out.add("X-Request-Id", request_id)
    return out
