"""The one bridge between ``azure.functions`` and the gateway's own request/response types.

No other module of the core imports ``azure.functions``: handlers take a
:class:`Request` and return a :class:`Response`, so they run the same under the
Functions worker, the local host and unit tests.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

logger = logging.getLogger("gateway.http")


class Headers(Mapping[str, str]):
    """Case-insensitive, ordered header multi-map (RFC 9110 §5: field names are case-insensitive)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        if items is None:
            pairs: list[tuple[str, str]] = []
        elif isinstance(items, Mapping):
            pairs = [(str(k), str(v)) for k, v in items.items()]
        else:
            pairs = [(str(k), str(v)) for k, v in items]
        self._items = pairs

    def __getitem__(self, name: str) -> str:
        lowered = name.lower()
        for key, value in self._items:
            if key.lower() == lowered:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._items:
            if key.lower() not in seen:
                seen.add(key.lower())
                yield key

    def __len__(self) -> int:
        return len({key.lower() for key, _ in self._items})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self._items)

    def get_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self._items if key.lower() == lowered]

    def items_all(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeated names included, in order."""
        return list(self._items)

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self._items.append((name, value))

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        lowered = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lowered]

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


def from_azure(req: func.HttpRequest) -> Request:
    """Convert the worker's request, keeping the raw URL (and so the raw query string)."""
    return Request(
        method=req.method.upper(),
        url=req.url,
        headers=Headers(dict(req.headers.items())),
        route_params=dict(req.route_params),
        body=req.get_body() or b"",
    )


def to_azure(response: Response) -> func.HttpResponse:
    """Convert to the worker's response; headers (Content-Type included) pass unchanged."""
    headers = {}
    for name, value in response.headers.items_all():
        # func.HttpResponse headers are single-valued; join repeats per RFC 9110 §5.3.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    content_type = response.headers.get("content-type", "")
    mimetype, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    return func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers=headers,
        # No body and no type (a 304, a 204): "" makes the worker send an empty Content-Type, which the host
        # drops (ASP.NET Core's ContentType setter), instead of the worker's default text/plain.
        mimetype=mimetype.strip() or (None if response.body else ""),
        charset=charset,
    )


async def serve(req: func.HttpRequest, handler: Handler, context: func.Context | None = None) -> func.HttpResponse:
    """Run a core handler for the Functions worker (inside the request's server span, see ``gateway.telemetry``).

    A handler is expected to turn every client mistake into a proper response;
    anything that still escapes becomes a bare 500 that reveals nothing (the
    exception's type is logged, never its message, which could carry PHI).
    """
    from gateway import telemetry

    request = from_azure(req)
    try:
        response = await telemetry.serve(request, handler, getattr(context, "trace_context", None))
    except Exception as exc:  # noqa: BLE001 - last line of defence
        logger.error("unhandled error request_id=%s type=%s", request.request_id, type(exc).__name__,
                     exc_info=logger.isEnabledFor(logging.DEBUG))
        response = json_response(500, {"error": "internal_error", "requestId": request.request_id})
    return to_azure(response)


def json_response(status: int, payload: object, *, content_type: str = "application/json",
                  headers: Mapping[str, str] | None = None) -> Response:
    """A compact JSON response with the given media type."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    out = Headers({"Content-Type": f"{content_type}; charset=utf-8" if "charset" not in content_type else content_type})
    for name, value in (headers or {}).items():
        out.set(name, value)
    return Response(status=status, body=body, headers=out)
