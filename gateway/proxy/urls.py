"""Upstream URL building (docs/proxy.md, "Path grammar"): route base + checked path + raw query, verbatim.

The query string is passed exactly as the client sent it: search modifiers
(``_sort:desc``, ``name:contains``), repeated parameters, parameter order and
percent-encoding reach the provider unchanged. Only bytes that cannot appear in
an HTTP request target are dealt with: control characters are refused, and
spaces or non-ASCII characters (which a client may send unencoded) are
percent-encoded as UTF-8 (RFC 3986 §2.1), which the provider decodes to the same value.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from gateway.proxy.paths import PathRejected

# Every printable ASCII character except space stays as it is ("%" too: existing escapes are kept).
_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "#")


def normalize_query(raw_query: str) -> str:
    """The raw query made safe for a request line without changing its meaning."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw_query):
        raise PathRejected("The query string contains control characters.")
    if raw_query.isascii() and " " not in raw_query and "#" not in raw_query:
        return raw_query
    return quote(raw_query, safe=_QUERY_SAFE)


def upstream_url(base_url: str, path: str, raw_query: str = "") -> str:
    """``base_url`` + ``/path`` + ``?raw_query``; ``path`` must already be checked."""
    url = base_url.rstrip("/")
    if path:
        url = f"{url}/{path.lstrip('/')}"
    query = normalize_query(raw_query)
    if query:
        url = f"{url}?{query}"
    return url


def captured_path(request_url: str, route_path: str | None, prefix: str = "/fhir") -> tuple[str, str]:
    """The still-encoded path after ``/fhir`` and the raw query, taken from the request URL.

    The URL's own path is preferred over the route parameter because the host may have
    decoded the latter (``%2e%2e`` would then look like ``..``); both are checked anyway.
    """
    parts = urlsplit(request_url)
    raw_path = parts.path
    if raw_path == prefix or raw_path.startswith(prefix + "/"):
        path = raw_path[len(prefix):]
    else:
        path = "/" + (route_path or "")
    return (path[1:] if path.startswith("/") else path), parts.query
