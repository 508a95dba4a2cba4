"""The ASGI application: what the Functions host does between the socket and the worker.

Order of checks, as in Azure: URL length (4 KB, 414), route and method (404; 405 with ``Allow``
by default, where Azure answers 404, see ``method_mismatch_status``), ``authLevel`` key (401),
body size (100 MB, 413), body arrival time (``FUNCHOST_BODY_TIMEOUT_SECONDS``, default 230 s, 408),
host.json ``maxOutstandingRequests`` (429) and ``maxConcurrentRequests`` (queued), then the invocation,
bounded by host.json ``functionTimeout`` (500 when exceeded).
The invocation itself is the Functions runtime's (:mod:`.worker`): the host sends it the ``RpcHttp``
and turns the returned one into the response (:mod:`.rpchttp`).
An exception in a function becomes a 500 with an empty body and its traceback in the host log.
Limits:
https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#limits

Forwarding headers mimic the App Service front end (observed on azurewebsites.net):
``X-Forwarded-For: <ip>:<port>`` appended to any the client sent, ``X-Forwarded-Proto``,
``X-Client-IP``, ``X-Client-Port``, ``Client-IP``, ``X-Original-URL``, ``X-WAWS-Unencoded-URL``,
``Disguised-Host``, ``Was-Default-Hostname``, ``X-ARR-LOG-ID``. The front end sets no
``X-Forwarded-Host``: the ``Host`` header is preserved.

The access log has one line per request: method, path *without* the query string (it carries
PHI and the ``code`` key), status, duration, function (:class:`AccessLog`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, TextIO
from urllib.parse import unquote_plus

from .discovery import FunctionDef, HttpLimits
from .routing import Match, MethodNotAllowed, Route, RouteTable, decode_path
from .rpchttp import (
    FunctionFailed,
    InvalidResponse,
    RequestHeaders,
    fill_rpc_http,
    from_invocation_response,
    query_values,
)
from .worker import Worker, get_worker

MAX_URL_BYTES = 4096
MAX_BODY_BYTES = 100 * 1024 * 1024
BODY_TIMEOUT_SECONDS = 230.0  # Azure's front end gives a request 230 s; a trickled body must not hold a slot forever

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

host_log = logging.getLogger("funchost")


class AccessLog:
    """The host's line per request, ``[<time>] GET /fhir/Patient/1 200 1.23ms fhir_proxy_fn``, in the time
    format of the host's other lines (``logging``'s ``asctime``).

    Written straight to the host's output, after the response has left: the logging module's record,
    handler and formatter cost about 30 us a request on the host's busy path. Without a stream the line goes
    to the ``funchost.access`` logger (an embedded host, tests).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._logger = logging.getLogger("funchost.access")
        self._second = -1
        self._stamp = ""

    def write(self, method: str, path: str, status: int, milliseconds: float, function: str) -> None:
        if self._stream is None:
            if self._logger.isEnabledFor(logging.INFO):
                self._logger.info("%s %s %d %.2fms %s", method, path, status, milliseconds, function)
            return
        now = time.time()
        second = int(now)
        if second != self._second:  # the date and time change once a second
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        try:
            self._stream.write(f"[{self._stamp},{int((now - second) * 1000):03d}] {method} {path} {status} "
                               f"{milliseconds:.2f}ms {function}\n")
            self._stream.flush()  # a line at a time, as the logging handler writes the host's other lines
        except (OSError, ValueError):  # the output went away (a closed pipe): requests are still served
            pass


class ClientDisconnected(Exception):
    """The client went away before its request body arrived."""


class Keys:
    """The local function and master keys; ``admin`` level takes only the master key.

    A key may not contain ``,``: the worker receives repeated ``x-functions-key`` headers joined with
    ``,``, and the app must be able to tell which value the host accepted (the first, see :func:`presented_key`).
    """

    def __init__(self, function_key: str | None, master_key: str | None) -> None:
        if any("," in k for k in (function_key, master_key) if k):
            raise ValueError("LOCAL_FUNCTION_KEY / LOCAL_MASTER_KEY must not contain ','")
        self._function = [k.encode() for k in (function_key, master_key) if k]
        self._admin = [master_key.encode()] if master_key else []

    def allows(self, level: str, supplied: str | None) -> bool:
        if level == "anonymous":
            return True
        if not supplied:
            return False
        candidate = supplied.encode("utf-8", "surrogateescape")
        accepted = self._admin if level == "admin" else self._function
        ok = False
        for key in accepted:  # compare with every key: time does not tell which one matched
            ok |= hmac.compare_digest(candidate, key)
        return ok


def presented_key(headers: Iterable[tuple[bytes, bytes]] | RequestHeaders, raw_query: str) -> str | None:
    """The key value the host checks, as Azure's ``AuthenticationLevelHandler`` chooses it.

    The ``x-functions-key`` header when present at all (an empty one is no key, the query is not read),
    the first of repeated ones (``StringValues.First()``); else the first ``code`` query parameter, its
    name decoded and compared case-insensitively (ASP.NET Core's query collection), so
    ``?CODE=<key>&code=junk`` presents ``<key>``. The app derives the audit actor by the same rule.
    """
    if not isinstance(headers, RequestHeaders):
        headers = RequestHeaders(headers)
    supplied = headers.first("x-functions-key")
    if supplied is None and ("code" in raw_query.lower() or "%" in raw_query):
        supplied = _code_param(raw_query)
    return supplied


def _code_param(raw_query: str) -> str | None:
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if unquote_plus(name).lower() == "code":
            return unquote_plus(value)
    return None


class FunctionHost:
    """ASGI app serving loaded :class:`FunctionDef` objects."""

    def __init__(self, functions: Iterable[FunctionDef], keys: Keys, worker: Worker | None = None, *,
                 method_mismatch_status: int = 405, max_body_bytes: int = MAX_BODY_BYTES,
                 limits: HttpLimits | None = None, function_timeout: float | None = None,
                 body_timeout: float | None = BODY_TIMEOUT_SECONDS, access_log: AccessLog | None = None) -> None:
        served = [f for f in functions if f.template is not None and not f.disabled]
        self.table: RouteTable[FunctionDef] = RouteTable(Route(f.template, f.methods, f) for f in served)
        self.keys = keys
        self.worker = worker or get_worker()
        self.method_mismatch_status = method_mismatch_status
        self.max_body_bytes = max_body_bytes
        self.function_timeout = function_timeout
        self.body_timeout = body_timeout
        self.access_log = access_log or AccessLog()
        limits = limits or HttpLimits()
        self.max_outstanding = limits.max_outstanding_requests
        self.outstanding = 0
        concurrent = limits.max_concurrent_requests
        self.concurrency = asyncio.Semaphore(concurrent) if concurrent > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served by the Functions host
        started = time.perf_counter()
        method = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        name = "-"
        try:
            status, name = await self._handle(scope, receive, send, method, raw_path)
        except ClientDisconnected:
            status = 499  # nginx's "client closed request": nothing was sent
        except Exception:  # noqa: BLE001 - a host error must not kill the connection silently
            host_log.exception("host error on %s %s", method, raw_path.decode("latin-1"))
            status = 500
            await _respond(send, 500)
        self.access_log.write(method, raw_path.decode("latin-1"), status, (time.perf_counter() - started) * 1000, name)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, method: str,
                      raw_path: bytes) -> tuple[int, str]:
        raw_query: bytes = scope.get("query_string", b"")
        if len(raw_path) + len(raw_query) + 1 > MAX_URL_BYTES:
            return await _respond(send, 414), "-"
        resolved = self.table.resolve(method, decode_path(raw_path))
        if resolved is None:
            return await _respond(send, 404), "-"
        if isinstance(resolved, MethodNotAllowed):
            allow = [(b"allow", ", ".join(resolved.allowed).encode())] if self.method_mismatch_status == 405 else []
            return await _respond(send, self.method_mismatch_status, allow), "-"
        function = resolved.route.target
        query = raw_query.decode("latin-1")
        headers = RequestHeaders(scope["headers"])
        if function.auth_level != "anonymous":
            supplied = presented_key(headers, query)
            if not self.keys.allows(function.auth_level, supplied):
                return await _respond(send, 401), function.name
        declared = headers.first("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            return await _respond(send, 413), function.name
        if declared is None and headers.first("transfer-encoding") is None:
            body = await _read_body(receive, self.max_body_bytes)  # no body (RFC 9112 §6.3): nothing to wait for
        else:
            try:
                async with asyncio.timeout(self.body_timeout):  # slow bodies (slowloris): 408, connection closed
                    body = await _read_body(receive, self.max_body_bytes)
            except TimeoutError:
                return await _respond(send, 408, [(b"connection", b"close")]), function.name
        if body is None:
            return await _respond(send, 413), function.name
        if function.function_id is None:  # loaded with an error: the worker cannot run it
            return await _respond(send, 500), function.name
        if 0 < self.max_outstanding <= self.outstanding:
            return await _respond(send, 429), function.name  # host.json maxOutstandingRequests: "Too Busy"
        self.outstanding += 1
        try:
            if self.concurrency is None:
                status, response_headers, payload = await self._invoke(function, resolved, scope, method, raw_path,
                                                                       query, headers, body)
            else:
                async with self.concurrency:
                    status, response_headers, payload = await self._invoke(function, resolved, scope, method,
                                                                           raw_path, query, headers, body)
        finally:
            self.outstanding -= 1
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        return status, function.name

    async def _invoke(self, function: FunctionDef, resolved: Match[FunctionDef], scope: Scope, method: str,
                      raw_path: bytes, query: str, request_headers: RequestHeaders,
                      body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        scheme = scope.get("scheme", "http")
        client = scope.get("client") or ("127.0.0.1", 0)
        host = request_headers.first("host") or _server_host(scope)
        path_and_query = raw_path.decode("latin-1") + ("?" + query if query else "")
        address = f"[{client[0]}]:{client[1]}" if ":" in client[0] else f"{client[0]}:{client[1]}"
        forwarded_for = request_headers.first("x-forwarded-for")
        extra = (
            ("x-forwarded-for", f"{forwarded_for}, {address}" if forwarded_for else address),
            ("x-forwarded-proto", scheme),
            ("x-appservice-proto", scheme),
            ("x-client-ip", client[0]),
            ("x-client-port", str(client[1])),
            ("client-ip", address),
            ("x-original-url", path_and_query),
            ("x-waws-unencoded-url", path_and_query),
            ("disguised-host", host),
            ("was-default-hostname", host),
            ("x-arr-log-id", str(uuid.uuid4())),
        )
        headers = request_headers.for_worker(extra)
        key_level = None if function.auth_level == "anonymous" else function.auth_level  # the key was checked
        assert function.function_id is not None
        message, http = self.worker.invocation(function.function_id, function.trigger_name,
                                               headers.get("traceparent"), headers.get("tracestate"))
        fill_rpc_http(http, self.worker.protos, method, f"{scheme}://{host}{path_and_query}", headers,
                      query_values(query), resolved.values, body, key_level,
                      "RawHttpBodyBytes" in self.worker.capabilities)  # as the runtime announced at init
        try:
            async with asyncio.timeout(self.function_timeout):  # a sync function's thread runs on, as in Azure
                response = await self.worker.invoke(message)
            return from_invocation_response(response, function.output_name)
        except TimeoutError:
            host_log.error("Timeout value of %ss was exceeded by function: Functions.%s", self.function_timeout,
                           function.name)
        except FunctionFailed as failure:  # as the host: 500, empty body, the worker's exception to the log
            host_log.error("Executed 'Functions.%s' (Failed)\nResult: Failure\nException: %s\nStack: %s",
                           function.name, failure, failure.stack_trace)
        except InvalidResponse as exc:
            host_log.error("Executed 'Functions.%s' (Failed)\nThe response cannot be sent: %s", function.name, exc)
        return 500, [(b"content-length", b"0")], b""


def _server_host(scope: Scope) -> str:
    server = scope.get("server") or ("localhost", 80)
    return f"{server[0]}:{server[1]}"


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]] | None = None) -> int:
    """An empty-bodied answer from the host itself (404, 405, 401, 413, 414, 500)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*(headers or []), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
    return status
