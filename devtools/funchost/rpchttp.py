"""The host's side of the HTTP conversion: the ``RpcHttp`` it sends the worker, and the response it makes of the reply.

Request, as the .NET host's ``GrpcMessageConversionExtensions.ToRpcHttp`` builds it
(Azure/azure-functions-host, ``src/WebJobs.Script.Grpc/MessageExtensions``) for a runtime that
announced ``RpcHttpBodyOnly`` and ``RawHttpBodyBytes`` (the Python runtime does):

- ``url``: scheme, ``Host`` header, path and query string as the client sent them;
- ``headers``: names lower-cased, repeated headers joined with ``,`` (``StringValues.ToString()``),
  empty values kept;
- ``query``: ASP.NET Core's query collection (names case-insensitive, the first spelling kept,
  values decoded and joined with ``,``), entries whose joined value is empty left out;
- ``params``: the route values, without absent optional ones;
- ``identities``: the ``ClaimsPrincipal`` identities (see :func:`identities`);
- ``body``: the raw bytes when the runtime announced ``RawHttpBodyBytes`` (or the body is
  ``application/octet-stream`` or ``multipart/*``), else the body read as a UTF-8 string; only when
  there is a body.

Response, as the host turns the returned ``RpcHttp`` into an ASP.NET Core response
(``GrpcMessageExtensionUtilities.ConvertFromHttpMessageToExpando``, ``RawScriptResult``): the status
(``int.TryParse`` of ``status_code``, 200 when empty), every header once (``content-type`` as the
content type, so an empty one is dropped), each ``RpcHttpCookie`` appended through
``Response.Cookies.Append`` (formatted by :func:`set_cookie`), and the body bytes unchanged;
Kestrel adds ``Content-Length``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote_plus

# ClaimsIdentity defaults (System.Security.Claims.ClaimsIdentity.DefaultNameClaimType / DefaultRoleClaimType).
NAME_CLAIM_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
ROLE_CLAIM_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
# The host's key authentication (Microsoft.Azure.WebJobs.Script.WebHost.Security.Authentication).
KEY_AUTHENTICATION_TYPE = "WebJobsAuthLevel"
AUTH_LEVEL_CLAIM_TYPE = "http://schemas.microsoft.com/2017/07/functions/claims/authlevel"
KEY_ID_CLAIM_TYPE = "http://schemas.microsoft.com/2017/07/functions/claims/keyid"


class InvalidResponse(Exception):
    """The function's reply cannot become an HTTP response (the host answers 500)."""


class FunctionFailed(Exception):
    """The runtime reported the invocation as failed; carries its ``RpcException``."""

    def __init__(self, message: str, stack_trace: str) -> None:
        super().__init__(message)
        self.stack_trace = stack_trace


def query_values(raw_query: str) -> dict[str, str]:
    """ASP.NET Core's query collection as the host passes it: case-insensitive names, ``,``-joined."""
    if not raw_query:
        return {}
    grouped: dict[str, tuple[str, list[str]]] = {}
    for pair in raw_query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = unquote_plus(name), unquote_plus(value)
        key = name.lower()
        if key in grouped:
            grouped[key][1].append(value)
        else:
            grouped[key] = (name, [value])
    return {name: joined for name, values in grouped.values() if (joined := ",".join(values))}


class RequestHeaders:
    """The request's header fields, read once.

    ``joined``: what the worker receives (names lower-cased, repeated values joined with ``,``);
    :meth:`first`: a name's first value (``StringValues.First()``), for the host's own checks.
    """

    __slots__ = ("_firsts", "joined")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        joined: dict[str, str] = {}
        firsts: dict[str, str] = {}  # only the names that are repeated
        for name_bytes, value_bytes in raw:
            name, value = name_bytes.decode("latin-1").lower(), value_bytes.decode("latin-1")
            if name in joined:
                firsts.setdefault(name, joined[name])
                joined[name] = f"{joined[name]},{value}"
            else:
                joined[name] = value
        self.joined = joined
        self._firsts = firsts

    def first(self, name: str) -> str | None:
        """The first value of the lower-cased ``name``, or None when absent."""
        value = self._firsts.get(name)
        return self.joined.get(name) if value is None else value

    def for_worker(self, extra: Iterable[tuple[str, str]]) -> dict[str, str]:
        """The ``RpcHttp`` headers: ``joined`` with ``extra`` (front-end headers) set last."""
        headers = dict(self.joined)
        for name, value in extra:
            headers[name.lower()] = value
        return headers


def header_values(raw: Iterable[tuple[bytes, bytes]], extra: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names, repeated values joined with ``,``; ``extra`` (front-end headers) set last."""
    return RequestHeaders(raw).for_worker(extra)


def identities(protos: ModuleType, key_level: str | None) -> list[Any]:
    """``HttpContext.User.Identities``: the key's identity when a key authenticated the request, else
    the unauthenticated identity ASP.NET Core gives every request (no authentication type, no claims).

    The key identity carries an auth-level claim and a key-name claim, as the host's key authentication
    handler adds them. Here they follow the function's ``authLevel`` (``Function``/``default``,
    ``Admin``/``master``): the local key check says whether a key was accepted, not which one, so a
    master key used on a function-level function is reported as the function key. The Python runtime
    does not read identities.
    """
    if key_level is None:
        return [protos.RpcClaimsIdentity(name_claim_type=protos.NullableString(value=NAME_CLAIM_TYPE),
                                         role_claim_type=protos.NullableString(value=ROLE_CLAIM_TYPE))]
    key_id = "master" if key_level == "admin" else "default"
    claims = [protos.RpcClaim(type=AUTH_LEVEL_CLAIM_TYPE, value=key_level.capitalize()),
              protos.RpcClaim(type=KEY_ID_CLAIM_TYPE, value=key_id)]
    return [protos.RpcClaimsIdentity(authentication_type=protos.NullableString(value=KEY_AUTHENTICATION_TYPE),
                                     name_claim_type=protos.NullableString(value=NAME_CLAIM_TYPE),
                                     role_claim_type=protos.NullableString(value=ROLE_CLAIM_TYPE),
                                     claims=claims)]


_identities: dict[tuple[int, str | None], list[Any]] = {}


def fill_rpc_http(http: Any, protos: ModuleType, method: str, url: str, headers: Mapping[str, str],
                  query: Mapping[str, str], route_values: Mapping[str, str], body: bytes,
                  key_level: str | None = None, raw_body_bytes: bool = True) -> Any:
    """Make ``http`` (an empty ``RpcHttp``, already in place in the invocation message) the one the .NET
    host sends for this request; filled in place, since protobuf copies a message given to a constructor."""
    http.method = method
    http.url = url
    http.headers.update(headers)
    if query:
        http.query.update(query)
    if route_values:
        http.params.update(route_values)
    key = (id(protos), key_level)
    if key not in _identities:
        _identities[key] = identities(protos, key_level)
    http.identities.extend(_identities[key])
    if body:
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if raw_body_bytes or media_type == "application/octet-stream" or media_type.startswith("multipart/"):
            http.body.bytes = body
        else:  # ReadAsStringAsync
            http.body.string = body.decode("utf-8", "replace")
    return http


# --- the response ---

_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)  # int.TryParse
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # Kestrel refuses anything else in a response header value
_SAME_SITE = {1: "lax", 2: "strict", 3: "none"}  # RpcHttpCookie.SameSite Lax, Strict, ExplicitNone
Response = tuple[int, list[tuple[bytes, bytes]], bytes]


_valid_names: dict[str, bytes] = {}  # response header names already checked -> their lower-cased bytes
_MAX_VALID_NAMES = 1024


def _header(name: str, value: str) -> tuple[bytes, bytes]:
    encoded = _valid_names.get(name)
    if encoded is None:
        if not _TOKEN.fullmatch(name):
            raise InvalidResponse("invalid response header name")
        encoded = name.lower().encode("ascii")
        if len(_valid_names) < _MAX_VALID_NAMES:
            _valid_names[name] = encoded
    if not (value.isascii() and value.isprintable()) and not _HEADER_VALUE.fullmatch(value):  # printable ASCII: fast
        raise InvalidResponse(f"invalid character in the value of response header {name}")
    return encoded, value.encode("ascii")


def _typed_bytes(data: Any) -> bytes:
    kind = data.WhichOneof("data")
    if kind in ("bytes", "stream"):
        return data.bytes if kind == "bytes" else data.stream
    if kind in ("string", "json"):
        return getattr(data, kind).encode("utf-8")
    if kind is None:
        return b""
    raise InvalidResponse(f"a response body of type {kind}")


def set_cookie(cookie: Any) -> str:
    """``Response.Cookies.Append(name, value, options)`` for one ``RpcHttpCookie``
    (ASP.NET Core ``ResponseCookies`` + ``SetCookieHeaderValue``: the value escaped as
    ``Uri.EscapeDataString`` does, then expires, max-age, domain, path, secure, samesite, httponly).
    """
    parts = [f"{cookie.name}={quote(cookie.value, safe='-_.~')}"]
    if cookie.HasField("expires"):
        expires = cookie.expires.value.ToDatetime(tzinfo=UTC)
        parts.append("expires=" + expires.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    if cookie.HasField("max_age"):
        parts.append(f"max-age={int(cookie.max_age.value)}")
    if cookie.HasField("domain"):
        parts.append(f"domain={cookie.domain.value}")
    parts.append(f"path={cookie.path.value}" if cookie.HasField("path") else "path=/")  # CookieOptions.Path: "/"
    if cookie.HasField("secure") and cookie.secure.value:
        parts.append("secure")
    if cookie.same_site in _SAME_SITE:
        parts.append(f"samesite={_SAME_SITE[cookie.same_site]}")
    if cookie.HasField("http_only") and cookie.http_only.value:
        parts.append("httponly")
    return "; ".join(parts)


def from_rpc_http(http: Any) -> Response:
    """Status, headers and body the host sends for a returned ``RpcHttp`` (Content-Length added)."""
    text = http.status_code.strip()
    status = int(text) if _INTEGER.fullmatch(text) else 200
    if not 100 <= status <= 599:
        raise InvalidResponse(f"invalid status code {http.status_code!r}")
    body = _typed_bytes(http.body) if http.HasField("body") else b""
    # ``content-type`` becomes HttpResponse.ContentType, whose setter removes the header for an empty value.
    headers = [_header(name, value) for name, value in http.headers.items()
               if name.lower() not in ("content-length", "transfer-encoding")
               and (value or name.lower() != "content-type")]
    for cookie in http.cookies:
        headers.append(_header("set-cookie", set_cookie(cookie)))
    headers.append((b"content-length", b"%d" % len(body)))
    return status, headers, body


def from_invocation_response(response: Any, output_name: str) -> Response:
    """The HTTP response for an ``InvocationResponse``: its ``$return`` value or its named http output.

    A failed invocation raises :class:`FunctionFailed`. A ``str`` result is sent as
    ``text/plain; charset=utf-8``; no result at all as 204.
    """
    if response.result.status != response.result.Success:
        raise FunctionFailed(response.result.exception.message, response.result.exception.stack_trace)
    value = None
    if output_name == "$return":
        value = response.return_value if response.HasField("return_value") else None
    else:
        value = next((binding.data for binding in response.output_data if binding.name == output_name), None)
    kind = value.WhichOneof("data") if value is not None else None
    if kind is None:
        return 204, [], b""
    if kind == "http":
        return from_rpc_http(value.http)
    body = _typed_bytes(value)
    return 200, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))], body
