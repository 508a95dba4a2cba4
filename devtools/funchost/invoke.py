"""The worker's side of an invocation: the ``HttpRequest`` in, the ``HttpResponse`` out.

Request (host ``GrpcMessageConversionExtensions.ToRpcHttp`` + worker ``HttpRequestConverter``):
header names lower-cased and repeated headers joined with ``,``; query parameters decoded,
grouped case-insensitively, repeated ones joined with ``,``, empty ones left out; route values
without the absent optional ones; the body as bytes; the URL as the client sent it.

Response (worker ``HttpResponseConverter.encode``, then the host): status and body unchanged; headers collapse
to one value per name (the last) except ``Set-Cookie``; without a Content-Type header the
worker adds ``<mimetype>; charset=<charset>`` for ``text/*`` and ``<mimetype>`` otherwise; the
host (``RawScriptResult``) sets ``HttpResponse.ContentType`` from it, which drops an empty one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import azure.functions as func
from azure.functions import _abc as func_abc
from azure.functions.http import HttpRequest as WorkerHttpRequest


def query_params(raw_query: str) -> dict[str, str]:
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
    params = {}
    for name, values in grouped.values():
        joined = ",".join(values)
        if joined:
            params[name] = joined
    return params


def request_headers(raw: Iterable[tuple[bytes, bytes]], extra: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names, repeated values joined with ``,`` (``StringValues.ToString()``)."""
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name, value = name_bytes.decode("latin-1").lower(), value_bytes.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    for name, value in extra:
        headers[name.lower()] = value
    return headers


def build_request(method: str, url: str, headers: Mapping[str, str], params: Mapping[str, str],
                  route_params: Mapping[str, str], body: bytes) -> func.HttpRequest:
    """The same class the worker's converter builds (``azure.functions.http.HttpRequest``)."""
    return WorkerHttpRequest(method=method, url=url, headers=headers, params=params,
                             route_params=route_params, body_type="bytes", body=body)


@dataclass
class Out:
    """``func.Out[T]`` for a named http output binding."""

    value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


@dataclass
class Context:
    """The worker's ``func.Context`` fields a function can rely on."""

    function_name: str
    function_directory: str
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_context: Any = None
    retry_context: Any = None


class InvalidResponse(Exception):
    """The function's result cannot become an HTTP response (the host answers 500)."""


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _name(text: str) -> bytes:
    if not _TOKEN.fullmatch(text):
        raise InvalidResponse("invalid response header name")
    return text.encode("ascii")


def _latin1(text: str, what: str) -> bytes:
    if "\r" in text or "\n" in text:
        raise InvalidResponse(f"control character in response header {what}")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidResponse(f"response header {what} is not Latin-1") from None


def encode_response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body the host sends for a function's result (Content-Length added)."""
    if isinstance(result, str):
        body = result.encode("utf-8")
        return 200, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))], body
    if result is None:
        return 204, [], b""
    if not isinstance(result, func_abc.HttpResponse):
        raise InvalidResponse(f"a function returned {type(result).__name__}, not an HttpResponse")
    status = result.status_code
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidResponse(f"invalid status code {status!r}")
    headers = result.headers
    collapsed: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers.items():
        if name.lower() == "set-cookie":
            cookies.append(value)
        else:
            collapsed[name] = value
    if "content-type" not in {name.lower() for name in collapsed}:
        mimetype = result.mimetype
        collapsed["Content-Type"] = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") \
            else mimetype
    # The host sets HttpResponse.ContentType from it, and ASP.NET Core removes the header for an empty value.
    collapsed = {name: value for name, value in collapsed.items() if name.lower() != "content-type" or value}
    body = result.get_body() or b""
    out = [(_name(name), _latin1(value, name)) for name, value in collapsed.items()
           if name.lower() not in ("content-length", "transfer-encoding")]
    out.extend((b"set-cookie", _latin1(cookie, "Set-Cookie")) for cookie in cookies)
    out.append((b"content-length", b"%d" % len(body)))
    return status, out, body
