"""FHIR proxy requests as the Functions host hands them over: the raw URL and the decoded ``{*path}``."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from gateway.http import Headers, Request
from tests.support.constants import DOTNET_HEADERS, GW


def request(method: str, url_or_path: str, token: str | None, *, body: bytes = b"",
            headers: list[tuple[str, str]] | None = None) -> Request:
    """A request to the gateway's FHIR base (a path below ``GW`` or a full URL) with the reference client's
    headers unless ``headers`` are given, and ``token`` as the bearer token (RFC 6750 §2.1) when not None."""
    url = url_or_path if url_or_path.startswith("http") else GW + url_or_path
    items = list(DOTNET_HEADERS if headers is None else headers)
    if token is not None:
        items.append(("Authorization", f"Bearer {token}"))
    path = urlsplit(url).path
    captured = unquote(path[len("/fhir/"):]) if path.startswith("/fhir/") else ""
    return Request(method=method, url=url, headers=Headers(items), body=body, route_params={"path": captured})
