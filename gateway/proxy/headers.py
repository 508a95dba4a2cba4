"""Header policy of the proxy (issue 4, "Forwarding").

Requests: an allow-list of what FHIR needs (everything else, the client's
``Authorization``, cookies, function keys and hop-by-hop fields of RFC 9110 §7.6.1 included,
stays behind), plus ``X-Request-Id`` and ``X-Forwarded-For/Proto/Host`` (built from the
configured public base URL, never from the client's Host header).

Responses: an allow-list (ETag, Last-Modified, Location, Content-Location, Retry-After, the
FHIR and caching ones); hop-by-hop fields, ``Set-Cookie``, the provider's own
``WWW-Authenticate`` and the encoding/length of a body the proxy decoded are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from gateway.config import Settings
from gateway.http import Headers, Request

FORWARDED_REQUEST_HEADERS = frozenset({
    "accept", "content-type", "if-match", "if-none-match", "if-modified-since", "if-none-exist",
    "prefer", "accept-language",
})

PASSED_RESPONSE_HEADERS = frozenset({
    "content-type", "etag", "last-modified", "location", "content-location", "retry-after",
    "cache-control", "expires", "content-language", "preference-applied", "x-progress",
})

# RFC 9110 §7.6.1 hop-by-hop fields (plus the obsolete ones still seen in the wild).
HOP_BY_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
    "proxy-authenticate", "proxy-authorization",
})

REWRITTEN_RESPONSE_HEADERS = frozenset({"location", "content-location"})
USER_AGENT = "interop-partner-gateway/0.1"


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Field names listed in ``Connection`` are hop-by-hop for this message (RFC 9110 §7.6.1)."""
    names: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


def upstream_request_headers(request: Request, settings: Settings, *,
                             provider_authorization: str | None = None) -> list[tuple[str, str]]:
    """The headers sent to the provider for ``request`` (repeated fields kept in order)."""
    items = request.headers.items_all()
    dropped = _connection_tokens(items)
    out = [(name, value) for name, value in items
           if name.lower() in FORWARDED_REQUEST_HEADERS and name.lower() not in dropped]
    public = urlsplit(settings.public_base_url)
    out.append(("X-Request-Id", request.request_id))
    if request.client_address != "unknown":
        out.append(("X-Forwarded-For", request.client_address))
    out.append(("X-Forwarded-Proto", public.scheme))
    out.append(("X-Forwarded-Host", public.netloc))
    out.append(("Accept-Encoding", "gzip, deflate"))
    out.append(("User-Agent", USER_AGENT))
    if provider_authorization:
        out.append(("Authorization", provider_authorization))
    return out


def downstream_response_headers(upstream: Iterable[tuple[str, str]], rewrite_url: Callable[[str], str],
                                request_id: str) -> Headers:
    """The provider's response headers the client gets, URLs rewritten to the gateway."""
    items = list(upstream)
    dropped = _connection_tokens(items) | HOP_BY_HOP
    out = Headers()
    for name, value in items:
        lowered = name.lower()
        if lowered not in PASSED_RESPONSE_HEADERS or lowered in dropped:
            continue
        out.add(name, rewrite_url(value) if lowered in REWRITTEN_RESPONSE_HEADERS else value)
    out.set("X-Request-Id", request_id)
    return out
