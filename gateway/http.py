"""The gateway's own HTTP request, response and header types, free of any hosting runtime.

Handlers take a :class:`Request` and return a :class:`Response`, so they run the
same under the Functions worker, the local host and unit tests; the one bridge to
``azure.functions`` is :mod:`gateway.azure_http`, imported by the function folders only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, overload
from urllib.parse import parse_qsl, urlsplit

_T = TypeVar("_T")


class Headers(Mapping[str, str]):
    """Case-insensitive, ordered header multi-map (RFC 9110 §5: field names are case-insensitive).

    Lookups go through an index by lower-cased name, built on the first lookup after a change:
    a request's headers are read many times per request and changed rarely.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        if items is None:
            pairs: list[tuple[str, str]] = []
        elif isinstance(items, Mapping):
            pairs = [(str(k), str(v)) for k, v in items.items()]
        else:
            pairs = [(str(k), str(v)) for k, v in items]
        self._items = pairs
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def of(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Headers over ``pairs`` as they are, not copied: a list of strings its caller built and gives up."""
        headers = cls.__new__(cls)
        headers._items = pairs
        headers._index = None
        return headers

    def _lookup(self) -> dict[str, list[str]]:
        """Lower-cased name -> its values in order."""
        index = self._index
        if index is None:
            index = {}
            for key, value in self._items:
                lowered = key.lower()
                if lowered in index:
                    index[lowered].append(value)
                else:
                    index[lowered] = [value]
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        values = self._lookup().get(name.lower())
        if values is None:
            raise KeyError(name)
        return values[0]

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, /, default: str | _T) -> str | _T: ...

    def get(self, name: str, /, default: object = None) -> object:
        """The first value of ``name`` (any case), else ``default``; one index lookup, no exception raised."""
        values = self._lookup().get(name.lower()) if isinstance(name, str) else None
        return default if values is None else values[0]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._items:
            if key.lower() not in seen:
                seen.add(key.lower())
                yield key

    def __len__(self) -> int:
        return len(self._lookup())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def get_all(self, name: str) -> list[str]:
        return list(self._lookup().get(name.lower(), ()))

    def items_all(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names included, in order."""
        return list(self._items)

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        index = self._index
        if index is not None:
            lowered = name.lower()
            if lowered in index:
                index[lowered].append(value)
            else:
                index[lowered] = [value]

    def rewrite(self, names: frozenset[str], change: Callable[[str], str | None]) -> None:
        """Each value of the fields ``names`` (lower case) replaced by ``change(value)`` where it stands; dropped
        where that is None. Nothing is copied when no such field is present."""
        if self._lookup().keys().isdisjoint(names):
            return
        kept: list[tuple[str, str]] = []
        for key, value in self._items:
            if key.lower() in names:
                changed = change(value)
                if changed is None:
                    continue
                value = changed
            kept.append((key, value))
        self._items = kept
        self._index = None

    def remove(self, name: str) -> None:
        lowered = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lowered]
        self._index = None

    def copy(self) -> Headers:
        return Headers(list(self._items))

    def __repr__(self) -> str:  # header values may be credentials: show names only
        return f"Headers({[k for k, _ in self._items]!r})"


@dataclass(frozen=True)
class Request:
    """An incoming HTTP request, independent of the hosting runtime."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    route_params: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def raw_query(self) -> str:
        """The query string exactly as the client sent it (no decoding, order kept)."""
        return urlsplit(self.url).query

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> list[tuple[str, str]]:
        """Decoded query parameters, repeated names kept in order."""
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def query_value(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    @property
    def request_id(self) -> str:
        """The caller's ``X-Request-Id`` when it looks sane, else a fresh one (stable per request object)."""
        supplied = self.headers.get("x-request-id", "")
        if supplied and len(supplied) <= 128 and all((c.isascii() and c.isalnum()) or c in "-_.:" for c in supplied):
            return supplied
        cached = self.__dict__.get("_generated_request_id")
        if cached is None:
            cached = str(uuid.uuid4())
            object.__setattr__(self, "_generated_request_id", cached)
        return cached

    @property
    def client_address(self) -> str:
        """Source address: the LAST ``X-Forwarded-For`` hop.

        The Azure front end (and the local host) append the address they saw to
        whatever the caller sent, so earlier hops are caller-controlled and must
        not key rate limits or audit records.
        """
        hops = [h.strip() for h in ",".join(self.headers.get_all("x-forwarded-for")).split(",") if h.strip()]
        if not hops:
            return "unknown"
        last = hops[-1]
        if last.startswith("[") and "]" in last:  # [v6]:port
            return last[1:last.index("]")][:64] or "unknown"
        if last.count(":") == 1:  # v4:port
            last = last.split(":")[0]
        return last[:64] or "unknown"


@dataclass
class Response:
    """An outgoing HTTP response; ``headers`` must include Content-Type when there is a body."""

    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=Headers)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


Handler = Callable[[Request], Awaitable[Response]]


def json_response(status: int, payload: object, *, content_type: str = "application/json",
                  headers: Mapping[str, str] | None = None) -> Response:
    """A compact JSON response with the given media type."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    out = Headers({"Content-Type": f"{content_type}; charset=utf-8" if "charset" not in content_type else content_type})
    for name, value in (headers or {}).items():
        out.set(name, value)
    return Response(status=status, body=body, headers=out)
