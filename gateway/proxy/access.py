"""Read-only / write classification of a proxied request (docs/proxy.md, "What happens to a request").

A route is read-only unless it allows writes. Read-only allows ``GET`` and ``HEAD``,
``POST …/_search`` (FHIR R4 §3.1.0.8.1, search by form post) and a ``batch`` Bundle posted to
the base whose entries are all ``GET`` or ``HEAD`` (FHIR R4 §3.1.0.11, STU3/DSTU2 http.html
"batch/transaction"). The entries' URLs are checked against the same path grammar as the
request itself, whatever the route's mode, so a batch cannot reach outside the base either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.proxy.paths import FhirPath, PathRejected, check_path
from gateway.proxy.urls import normalize_query

READ_METHODS = frozenset({"GET", "HEAD"})
Kind = Literal["read", "search", "read-batch", "write"]


class AccessRefused(Exception):
    """The request needs write access the route does not give (403); message safe to show."""


class BadBatch(ValueError):
    """The posted batch Bundle is malformed (400); message safe to show."""


@dataclass(frozen=True)
class BatchEntry:
    """One entry of a batch Bundle: its method and its checked path and raw query; what its resource says it is
    (``resourceType`` and ``id`` when they are strings) and its ``request.ifNoneExist`` (a search)."""

    method: str
    path: FhirPath
    query: str
    has_resource: bool = False
    resource_type: str | None = None
    resource_id: str | None = None
    if_none_exist: str | None = None

    @property
    def relative_url(self) -> str:
        return self.path.path + (f"?{self.query}" if self.query else "")


@dataclass(frozen=True)
class Batch:
    """A parsed batch Bundle (only what the proxy needs of it)."""

    bundle_type: str
    entries: tuple[BatchEntry, ...]

    @property
    def read_only(self) -> bool:
        return self.bundle_type == "batch" and all(e.method in READ_METHODS for e in self.entries)


class _RepeatedName(Exception):
    """A JSON object repeats a property name (not a ValueError: json.loads must not swallow it)."""


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _RepeatedName
    return document


def is_json(content_type: str) -> bool:
    """JSON by its label: none, ``application/json``, DSTU2's ``application/json+fhir`` or any ``+json``."""
    media = content_type.partition(";")[0].strip().lower()
    return media in ("", "application/json", "application/json+fhir") or media.endswith("+json")


def parse_batch(body: bytes, content_type: str, gateway_base: str) -> Batch | None:
    """The batch or transaction Bundle in ``body``, None when the body is not a JSON Bundle.

    Entry URLs may be relative (``Patient/1``, ``Observation?patient=1``) or absolute on the
    gateway's own base; anything else is :class:`BadBatch`, and so is a JSON body that repeats a
    property name anywhere (the body is forwarded as sent, and the provider's parser may keep
    another of the repeated values than the one checked here).
    """
    if not is_json(content_type):
        return None
    document = json_document(body)
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        return None
    bundle_type = document.get("type")
    if bundle_type not in ("batch", "transaction"):
        raise BadBatch("Only batch or transaction Bundles can be posted to the base.")
    raw_entries = document.get("entry") or []
    if not isinstance(raw_entries, list):
        raise BadBatch("Bundle.entry must be a list.")
    entries = tuple(_batch_entry(index, entry, gateway_base) for index, entry in enumerate(raw_entries))
    return Batch(bundle_type=bundle_type, entries=entries)


def json_document(body: bytes) -> object:
    """The JSON value of ``body``; None when it is not JSON, :class:`BadBatch` when it repeats a property name."""
    try:
        document: object = json.loads(body, object_pairs_hook=_unique_names)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep is not a Bundle either
        return None
    except _RepeatedName:
        # Parsers differ on which repeated name wins: the provider could run what this check did not see.
        raise BadBatch("The body repeats a JSON property name (FHIR JSON forbids it).") from None
    return document


def _batch_entry(index: int, entry: object, gateway_base: str) -> BatchEntry:
    """Entry ``index`` of a batch: its request's method and its URL checked as a path on the gateway's base."""
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("method"), str) \
            or not isinstance(request.get("url"), str):
        raise BadBatch(f"Bundle.entry[{index}].request needs a method and a url.")
    method = request["method"].upper()
    if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        raise BadBatch(f"Bundle.entry[{index}].request.method is not an HTTP method FHIR uses.")
    url: str = request["url"]
    if url.startswith(gateway_base.rstrip("/") + "/"):
        url = url[len(gateway_base.rstrip("/")) + 1:]
    path, _, query = url.partition("?")
    try:
        checked = check_path(path)
        query = normalize_query(query)
    except PathRejected as exc:
        raise BadBatch(f"Bundle.entry[{index}].request.url: {exc}") from None
    if urlsplit(url).fragment:
        raise BadBatch(f"Bundle.entry[{index}].request.url must not carry a fragment.")
    if_none_exist = request.get("ifNoneExist")
    if if_none_exist is not None and not isinstance(if_none_exist, str):
        raise BadBatch(f"Bundle.entry[{index}].request.ifNoneExist must be a string.")
    resource = entry.get("resource") if isinstance(entry, dict) else None
    return BatchEntry(method=method, path=checked, query=query, has_resource=resource is not None,
                      resource_type=_string(resource, "resourceType"), resource_id=_string(resource, "id"),
                      if_none_exist=if_none_exist)


def _string(resource: object, name: str) -> str | None:
    value = resource.get(name) if isinstance(resource, dict) else None
    return value if isinstance(value, str) else None


def classify(method: str, path: FhirPath, batch: Batch | None) -> Kind:
    """What kind of access a request needs."""
    if method in READ_METHODS:
        return "read"
    if method == "POST" and path.is_search:
        return "search"
    if method == "POST" and path.is_base and batch is not None and batch.read_only:
        return "read-batch"
    return "write"


def require_access(kind: Kind, allow_writes: bool, method: str, path: FhirPath, batch: Batch | None) -> None:
    """Raise :class:`AccessRefused` when a read-only route is asked for a write."""
    if kind != "write" or allow_writes:
        return
    if method == "POST" and path.is_base:
        if batch is None:
            raise AccessRefused("This connection is read-only: only a JSON batch Bundle of GET or HEAD "
                                "entries may be posted to the base.")
        raise AccessRefused("This connection is read-only: the batch contains entries that are not reads.")
    raise AccessRefused(f"This connection is read-only: {method} is not allowed.")
