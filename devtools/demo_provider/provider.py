"""The demo provider's FHIR interactions, independent of the web framework.

- read / vread (FHIR http §read, §vread): the prebuilt JSON with ETag ``W/"1"``
  and Last-Modified; 404 OperationOutcome for an unknown id or type.
- search-type (FHIR http §search, GET and ``POST _search``): a ``searchset``
  Bundle with ``total``, absolute ``fullUrl``s and ``self``/``next``/``previous``
  links on the configured base URL. Next pages are HAPI-style
  ``<base>/<v>?_getpages=<token>&_getpagesoffset=<n>&_count=<n>`` so that search
  values never travel in page URLs; an unknown or evicted token is a 410.
- batch (FHIR http §transaction, batch only): a ``batch-response`` with one
  entry per request, in order; a transaction or a non-Bundle body is a 400.
Bundles are assembled from the prebuilt resource bytes, not re-serialized.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from devtools.demo_provider import search
from devtools.demo_provider.capability import capability_statement
from devtools.demo_provider.catalog import ETAG, LAST_MODIFIED, LAST_UPDATED, Catalog, catalog_for, dumps
from devtools.demo_provider.media import outcome, status_line

SEGMENTS = {"dstu2": "DSTU2", "stu3": "STU3", "r4": "R4"}
PAGE_TOKENS = 4096
MAX_BATCH_ENTRIES = 200
Pairs = Sequence[tuple[str, str]]
Permits = Callable[[str, str], bool]  # (resource type, "r" read | "s" search) -> allowed


@dataclass
class Reply:
    """A FHIR response before content negotiation: status, JSON body (or empty) and extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, diagnostics: str, code: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, outcome(status, diagnostics, code), headers or {})


def is_valid_type(name: str) -> bool:
    return name.isascii() and name.isalpha() and name[:1].isupper() and len(name) <= 64


class Provider:
    """All three versions of the demo data served under ``<base_url>/<dstu2|stu3|r4>``."""

    def __init__(self, base_url: str, catalogs: dict[str, Catalog] | None = None, *,
                 token_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.catalogs = catalogs or {v: catalog_for(v) for v in SEGMENTS.values()}
        self.metadata = {v: dumps(capability_statement(v, self.version_base(v), c.types, token_url))
                         for v, c in self.catalogs.items()}
        self._searches: OrderedDict[str, tuple[str, Pairs]] = OrderedDict()

    def version_base(self, version: str) -> str:
        return f"{self.base_url}/{version.lower()}"

    # -- read ------------------------------------------------------------------------------------------------------
    def read(self, version: str, resource_type: str, resource_id: str, if_none_match: str | None = None) -> Reply:
        """Read (or vread of version 1) one resource."""
        catalog = self.catalogs[version]
        if resource_type not in catalog.by_type:
            return self.unknown_type(resource_type)
        entry = catalog.by_id.get((resource_type, resource_id))
        if entry is None:
            return error(404, f"{resource_type} resource not found")
        headers = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
        if if_none_match and (if_none_match.strip() == "*" or ETAG in {t.strip() for t in if_none_match.split(",")}):
            return Reply(304, b"", headers)
        return Reply(200, entry.body, headers)

    def unknown_type(self, resource_type: str) -> Reply:
        if is_valid_type(resource_type):
            return error(404, f"Resource type {resource_type} is not supported by this server", "not-supported")
        return error(404, "Unknown resource type", "not-supported")

    # -- search ----------------------------------------------------------------------------------------------------
    def search(self, version: str, resource_type: str, pairs: Pairs, self_url: str) -> Reply:
        """Search one resource type; ``self_url`` is the absolute URL of the request."""
        if resource_type not in self.catalogs[version].by_type:
            return self.unknown_type(resource_type)
        try:
            query = search.parse(version, resource_type, pairs)
        except search.SearchError as exc:
            return error(exc.status, exc.message)
        return Reply(200, self._searchset(version, resource_type, pairs, query, self_url))

    def page(self, version: str, pairs: Pairs, self_url: str) -> Reply:
        """A further page of an earlier search (``_getpages`` token)."""
        token = next((v for k, v in pairs if k == "_getpages"), "")
        stored = self._searches.get(token)
        if stored is None or not token:
            return error(410, "The search has expired or is unknown; repeat the search")
        resource_type, original = stored
        paging = [(k, v) for k, v in pairs if k in ("_count", "_getpagesoffset")]
        try:
            query = search.parse(version, resource_type, [*original, *paging])
        except search.SearchError as exc:
            return error(exc.status, exc.message)
        return Reply(200, self._searchset(version, resource_type, original, query, self_url))

    def page_type(self, pairs: Pairs) -> str | None:
        """The resource type of the search a ``_getpages`` token continues (None: unknown token)."""
        stored = self._searches.get(next((v for k, v in pairs if k == "_getpages"), ""))
        return stored[0] if stored else None

    def _token(self, version: str, resource_type: str, pairs: Pairs) -> str:
        kept = tuple((k, v) for k, v in pairs if k not in search.PAGING)
        token = hashlib.sha256(repr((version, resource_type, kept)).encode()).hexdigest()[:32]
        self._searches[token] = (resource_type, kept)
        self._searches.move_to_end(token)
        while len(self._searches) > PAGE_TOKENS:
            self._searches.popitem(last=False)
        return token

    def _searchset(self, version: str, resource_type: str, pairs: Pairs, query: search.Query,
                   self_url: str) -> bytes:
        result = search.run(self.catalogs[version], resource_type, query)
        links = [{"relation": "self", "url": self_url}]
        if result.count and (result.offset + result.count < result.total or result.offset):
            token = self._token(version, resource_type, pairs)
            page_url = f"{self.version_base(version)}?_getpages={token}&_getpagesoffset={{}}&_count={result.count}"
            if result.offset + result.count < result.total:
                links.append({"relation": "next", "url": page_url.format(result.offset + result.count)})
            if result.offset:
                links.append({"relation": "previous",
                              "url": page_url.format(max(result.offset - result.count, 0))})
        head = dumps({"resourceType": "Bundle", "meta": {"lastUpdated": LAST_UPDATED}, "type": "searchset",
                      "total": result.total, "link": links})
        if not result.entries:
            return head
        prefix = b'{"fullUrl":' + dumps(f"{self.version_base(version)}/{resource_type}/")[:-1]
        parts = [prefix + e.id.encode() + b'","resource":' + e.body + b',"search":{"mode":"match"}}'
                 for e in result.entries]
        return head[:-1] + b',"entry":[' + b",".join(parts) + b"]}"

    # -- batch -----------------------------------------------------------------------------------------------------
    def batch(self, version: str, body: bytes, permits: Permits | None = None) -> Reply:
        """Process a batch Bundle: each entry independently, answers in order.

        ``permits`` (Backend Services mode) judges each entry by its type and interaction: a refused one
        answers 403 and the others go on.
        """
        try:
            bundle = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return error(400, "The request body is not valid JSON")
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            return error(400, "POST to the base URL expects a Bundle of type batch")
        if bundle.get("type") == "transaction":
            return error(400, "Transactions are not supported by this read-only server; send a batch",
                         "not-supported")
        if bundle.get("type") != "batch":
            return error(400, "Bundle.type must be 'batch'")
        entries = bundle.get("entry")
        entries = [] if entries is None else entries
        if not isinstance(entries, list):
            return error(400, "Bundle.entry must be a list")
        if len(entries) > MAX_BATCH_ENTRIES:
            return error(413, f"A batch may hold at most {MAX_BATCH_ENTRIES} entries")
        parts = [self._batch_entry(version, entry, permits) for entry in entries]
        head = dumps({"resourceType": "Bundle", "meta": {"lastUpdated": LAST_UPDATED}, "type": "batch-response"})
        return Reply(200, head[:-1] + b',"entry":[' + b",".join(parts) + b"]}")

    def _batch_entry(self, version: str, entry: object, permits: Permits | None = None) -> bytes:
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("url"), str):
            return self._entry(version, error(400, "Batch entry has no request.url"))
        method = str(request.get("method", "")).upper()
        if method != "GET":
            return self._entry(version, error(405, "Only GET entries are supported by this read-only server"))
        reply, full_url = self._batch_get(version, request["url"], permits)
        return self._entry(version, reply, full_url)

    def _batch_get(self, version: str, url: str, permits: Permits | None = None) -> tuple[Reply, str | None]:
        base = self.version_base(version)
        split = urlsplit(url)
        path = split.path
        if split.scheme or split.netloc:
            absolute = f"{split.scheme}://{split.netloc}{split.path}"
            if not (absolute == base or absolute.startswith(base + "/")):
                return error(400, "Batch entry URL is not on this server's base"), None
            path = absolute[len(base):]
        segments = [s for s in path.split("/") if s]
        pairs = parse_qsl(split.query, keep_blank_values=True)
        relative = path.strip("/") + (f"?{split.query}" if split.query else "")
        if segments == ["metadata"]:
            return Reply(200, self.metadata[version]), None
        if permits is not None and segments:
            interaction = "s" if len(segments) == 1 or segments[1] == "_search" else "r"
            if not permits(segments[0], interaction):
                return error(403, "The access token's scopes do not allow this entry", "forbidden"), None
        if len(segments) == 1 or (len(segments) == 2 and segments[1] == "_search"):
            return self.search(version, segments[0], pairs, f"{base}/{relative}"), None
        if len(segments) == 2 or (len(segments) == 4 and segments[2] == "_history"):
            if len(segments) == 4 and segments[3] != "1":
                return error(404, f"{segments[0]} version not found"), None
            reply = self.read(version, segments[0], segments[1])
            return reply, f"{base}/{segments[0]}/{segments[1]}" if reply.status == 200 else None
        return error(400, "Batch entry URL is not a read or a search"), None

    def _entry(self, version: str, reply: Reply, full_url: str | None = None) -> bytes:
        response: dict[str, str] = {"status": status_line(reply.status)}
        if "ETag" in reply.headers and reply.status == 200:
            response["etag"] = reply.headers["ETag"]
            response["lastModified"] = LAST_UPDATED
        if reply.status < 400:
            head = b'{"fullUrl":' + dumps(full_url) + b"," if full_url else b"{"
            return head + b'"resource":' + reply.body + b',"response":' + dumps(response) + b"}"
        if version == "DSTU2":  # DSTU2 Bundle.entry.response has no outcome: the OperationOutcome is the resource
            return b'{"resource":' + reply.body + b',"response":' + dumps(response) + b"}"
        return b'{"response":' + dumps(response)[:-1] + b',"outcome":' + reply.body + b"}}"
