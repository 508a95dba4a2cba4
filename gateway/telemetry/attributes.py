"""What a request's telemetry may say about it: function, route template, FHIR interaction, resource type.

Pure functions over the method and path, no OpenTelemetry import. They keep PHI and
credentials out of span names and recorded URLs: resource ids and every other
caller-chosen segment become ``{id}``, query strings are never kept, and only the
names of real FHIR resource types (``gateway.telemetry.resource_types``) pass as types. A version base
(``/fhir/STU3/...``, ``gateway.fhir.bases``) keeps its segment in templates and is skipped when the type is read.

Interactions follow the FHIR RESTful API (R4 §3.1.0, "http"): ``read``, ``vread``,
``search``, ``history``, ``create``, ``update``, ``patch``, ``delete``, ``batch``,
``operation`` and ``capabilities``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from gateway.telemetry.resource_types import RESOURCE_TYPES

_OPERATION = re.compile(r"^\$[A-Za-z][A-Za-z0-9-]{0,63}$")
_FHIR_KEYWORDS = frozenset({"_search", "_history", "metadata", ".well-known", "smart-configuration"})
_ADMIN_WORDS = frozenset({"routes", "clients", "secrets", "signing-keys", "audit", "openapi.json"})
_OAUTH_WORDS = frozenset({"token", "jwks", "authorize"})
VERSION_BASES = frozenset({"DSTU2", "STU3", "R4"})
"""The version segments of the gateway's bases (``gateway.fhir.versions.ALL``; a test keeps the two equal)."""

ID = "{id}"


def function_of(path: str) -> str:
    """The gateway function a public path belongs to: token, metadata, proxy, admin (else ``other``)."""
    segments = _segments(path)
    first = segments[0] if segments else ""
    if first == "oauth2":
        return "token"
    if first == "manage":
        return "admin"
    if first == "fhir":
        rest = _without_base(segments[1:])
        return "metadata" if rest and rest[0] in ("metadata", ".well-known") else "proxy"
    return "other"


def route_template(path: str) -> str:
    """``path`` with every caller-chosen segment as ``{id}``: ``/fhir/Patient/{id}/_history/{id}``."""
    segments = _segments(path)
    if not segments:
        return "/"
    first, rest = segments[0], segments[1:]
    if first == "fhir":
        base = rest[:1] if rest[:1] and rest[0] in VERSION_BASES else []
        kept = base + [_fhir_segment(index, segment) for index, segment in enumerate(rest[len(base):])]
    elif first == "manage":
        kept = [segment if segment in _ADMIN_WORDS else ID for segment in rest]
    elif first == "oauth2":
        kept = [segment if segment in _OAUTH_WORDS else ID for segment in rest]
    else:
        return "/" + ID if rest or first else "/"
    return "/" + "/".join([first, *kept])


def _fhir_segment(index: int, segment: str) -> str:
    if segment in _FHIR_KEYWORDS or _OPERATION.match(segment):
        return segment
    if index == 0 and segment in RESOURCE_TYPES:
        return segment
    return ID


def resource_type(path: str) -> str | None:
    """The FHIR resource type a proxied or provider path names, if it names one."""
    segments = _fhir_segments(path)
    if segments and segments[0] in RESOURCE_TYPES:
        return segments[0]
    return None


def interaction(method: str, path: str) -> str:
    """The FHIR RESTful interaction of ``method`` on ``path`` (R4 §3.1.0)."""
    method = method.upper()
    segments = _fhir_segments(path)
    if segments and segments[0] in ("metadata", ".well-known"):
        return "capabilities"
    if any(_OPERATION.match(s) for s in segments):
        return "operation"
    if "_history" in segments:
        return "vread" if segments[-1] != "_history" and len(segments) == 4 else "history"
    if segments and segments[-1] == "_search":
        return "search"
    if not segments:
        return "batch" if method == "POST" else "search"
    has_id = len(segments) >= 2
    if method in ("GET", "HEAD"):
        return "read" if has_id else "search"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "other")


def safe_url(url: str) -> str:
    """``scheme://host[:port]`` plus the route template of the path; no user info, no query, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{provider_path_template(parts.path)}"


def provider_path_template(path: str) -> str:
    """A provider path (its own base, e.g. ``/stu3/Patient/123``) with ids as ``{id}``.

    The base's own segments are kept up to the first resource type or keyword; after it
    only keywords, operations and the type survive.
    """
    segments = [unquote(s) for s in path.split("/") if s]
    kept: list[str] = []
    seen_type = False
    for segment in segments:
        if not seen_type and segment in RESOURCE_TYPES:
            seen_type = True
            kept.append(segment)
        elif segment in _FHIR_KEYWORDS or _OPERATION.match(segment) or segment in _OAUTH_WORDS:
            kept.append(segment)
        elif not seen_type and re.fullmatch(r"[a-z0-9._-]{1,32}", segment) and not re.search(r"\d{3}", segment):
            kept.append(segment)  # a base path such as /fhir, /r4, /api/fhir (no long digit runs: not an id)
        else:
            kept.append(ID)
    return "/" + "/".join(kept)


def _fhir_segments(path: str) -> list[str]:
    segments = _segments(path)
    return _without_base(segments[1:]) if segments and segments[0] == "fhir" else segments


def _without_base(segments: list[str]) -> list[str]:
    """The segments below ``/fhir`` without a version base's segment."""
    return segments[1:] if segments and segments[0] in VERSION_BASES else segments


def _segments(path: str) -> list[str]:
    return [unquote(s) for s in urlsplit(path).path.split("/") if s]
