"""The bridge to the Functions runtime: a request through the local host and the same request given to the
function directly reach the function alike, and the function's response reaches the client alike.

The functions (``bridge_app``) are loaded by Microsoft's runtime in this process and called two ways:
through the host's ASGI app (the host builds the ``RpcHttp``, the runtime makes the ``HttpRequest``,
calls ``main`` and encodes its ``HttpResponse``, the host sends it) and directly, with the
``azure.functions.HttpRequest`` the host is meant to pass (the .NET host's conversion: lower-cased
header names, repeated headers and query values joined with ``,``, empty query values left out).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from devtools.funchost.app import FunctionHost, Keys
from tests.fixtures.funchost import call_asgi, load_in_process

BRIDGE_APP = Path(__file__).resolve().parent / "bridge_app"
HOST = "gw.example"
# Headers the App Service front end adds (devtools.funchost.app); a direct call has none of them.
FRONT_END = {"x-forwarded-for", "x-forwarded-proto", "x-appservice-proto", "x-client-ip", "x-client-port",
             "client-ip", "x-original-url", "x-waws-unencoded-url", "disguised-host", "was-default-hostname",
             "x-arr-log-id"}


@pytest.fixture(scope="module")
def app() -> FunctionHost:
    return FunctionHost(load_in_process(BRIDGE_APP).values(), Keys(None, None), function_timeout=0.5)


def entry(folder: str) -> Any:
    """The function's ``main`` as the runtime imported it (``__app__.<folder>``)."""
    load_in_process(BRIDGE_APP)
    return sys.modules[f"__app__.{folder}"].main


async def direct(folder: str, request: func.HttpRequest, **bindings: Any) -> Any:
    main = entry(folder)
    result = main(request, **bindings)
    return await result if hasattr(result, "__await__") else result


def seen(body: bytes, *, front_end: bool = False) -> dict[str, Any]:
    """What the echo functions report, without what differs by nature (thread, front-end headers)."""
    document = json.loads(body)
    document.pop("thread")
    if not front_end:
        document["headers"] = {k: v for k, v in document["headers"].items() if k not in FRONT_END}
    return document


REQUEST_CASES = [
    pytest.param("GET", "/echo/plain/x", "", [("Accept", "application/fhir+json")], b"",
                 {"accept": "application/fhir+json"}, {}, {"kind": "plain", "rest": "x"}, id="simple-get"),
    pytest.param("GET", "/echo/h/x", "", [("X-Repeat", "one"), ("x-repeat", "two"), ("X-Repeat", "three"),
                                          ("X-Empty", "")], b"",
                 {"x-repeat": "one,two,three", "x-empty": ""}, {}, {"kind": "h", "rest": "x"}, id="repeated-headers"),
    pytest.param("GET", "/echo/q/x", "a=1&a=2&A=3&empty=&flag&b=%20x+y&c=&_include=Patient%3Aorganization&a=", [],
                 b"", {}, {"a": "1,2,3,", "b": " x y", "_include": "Patient:organization"},
                 {"kind": "q", "rest": "x"}, id="query-repeated-and-empty"),
    pytest.param("GET", "/echo/caf%C3%A9/Patient%2F1/_history/2", "", [], b"", {}, {},
                 {"kind": "café", "rest": "Patient%2F1/_history/2"}, id="route-parameters"),
    pytest.param("GET", "/echo/c/x", "", [("Cookie", "a=1; b=two"), ("Cookie", "c=3")], b"",
                 {"cookie": "a=1; b=two,c=3"}, {}, {"kind": "c", "rest": "x"}, id="request-cookies"),
    pytest.param("POST", "/echo/e/x", "", [("Content-Length", "0")], b"", {"content-length": "0"}, {},
                 {"kind": "e", "rest": "x"}, id="empty-body"),
    pytest.param("POST", "/echo/b/x", "", [("Content-Type", "application/octet-stream")], bytes(range(256)),
                 {"content-type": "application/octet-stream"}, {}, {"kind": "b", "rest": "x"}, id="binary-body"),
    pytest.param("PUT", "/echo/j/x", "", [("Content-Type", "application/fhir+json; charset=utf-8")],
                 '{"resourceType":"Patient","name":[{"given":["Zoë"]}]}'.encode(),
                 {"content-type": "application/fhir+json; charset=utf-8"}, {}, {"kind": "j", "rest": "x"},
                 id="json-body-as-bytes"),
    pytest.param("POST", "/echo/t/x", "", [("Content-Type", "text/plain; charset=iso-8859-1")],
                 "café".encode("latin-1"),
                 {"content-type": "text/plain; charset=iso-8859-1"}, {}, {"kind": "t", "rest": "x"},
                 id="non-utf8-text-body"),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "body", "expected_headers", "expected_params",
                          "expected_route"), REQUEST_CASES)
@pytest.mark.parametrize("folder", ["echo_async", "echo_sync"])
async def test_the_function_receives_the_same_request_through_the_bridge(
        app: FunctionHost, folder: str, method: str, path: str, query: str, headers: list[tuple[str, str]],
        body: bytes, expected_headers: dict[str, str], expected_params: dict[str, str],
        expected_route: dict[str, str]) -> None:
    if folder == "echo_sync":  # served at sync/{name}/{detail?} (no catch-all): the first two segments
        segments = path.split("/")
        path = f"/sync/{segments[2]}/{segments[3]}"
        expected_route = {"name": expected_route["kind"], "detail": expected_route["rest"].split("/")[0]}
    raw = [(name.encode(), value.encode("latin-1")) for name, value in headers]
    status, _, through = await call_asgi(app, method, path.encode(), query.encode(), raw, [body], host=HOST.encode())
    assert status == 200, through
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    request = func.HttpRequest(method, url, headers={"host": HOST, **expected_headers}, params=expected_params,
                               route_params=expected_route, body=body)
    bindings = {"context": _Context(folder)} if folder == "echo_sync" else {}
    called = await direct(folder, request, **bindings)
    expected, got = seen(called.get_body()), seen(through)
    if folder == "echo_sync":
        for name in ("invocation_id", "traceparent", "tracestate", "retry_count"):  # the host's, per invocation
            expected.pop(name), got.pop(name)
    assert got == expected
    assert base64.b64decode(got["body"]) == body


class _Context:
    """The three context fields echo_sync reads, for a direct call."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.invocation_id = "direct"
        self.trace_context = type("T", (), {"trace_parent": "", "trace_state": ""})()
        self.retry_context = type("R", (), {"retry_count": 0})()


def cookie_attributes(header: str) -> dict[str, tuple[str, ...]]:
    """name -> (value, path, domain, expires, max-age, secure, httponly, samesite), empty path/domain as absent."""
    parsed: dict[str, tuple[str, ...]] = {}
    for name, morsel in SimpleCookie(header).items():
        path = morsel["path"] if morsel["path"] not in ("", "/") else ""
        parsed[name] = (morsel.value, path, morsel["domain"], morsel["expires"], str(morsel["max-age"]),
                        str(bool(morsel["secure"])), str(bool(morsel["httponly"])), morsel["samesite"].lower())
    return parsed


def declared(response: func.HttpResponse) -> tuple[int, dict[str, str], dict[str, tuple[str, ...]], bytes]:
    """What a function's HttpResponse declares: status, one value per header name (the last, as the runtime
    keeps it), Content-Type from mimetype and charset when not set, its cookies, its body."""
    headers: dict[str, str] = {}
    cookies: dict[str, tuple[str, ...]] = {}
    for name, value in response.headers.items():
        if name.lower() == "set-cookie":
            cookies.update(cookie_attributes(value))
        else:
            headers[name.lower()] = value
    if "content-type" not in headers:
        mimetype = response.mimetype
        headers["content-type"] = f"{mimetype}; charset={response.charset}" if mimetype.startswith("text/") \
            else mimetype
    return response.status_code, headers, cookies, response.get_body() or b""


def sent(status: int, pairs: list[tuple[str, str]], body: bytes) -> tuple[int, dict[str, str], dict, bytes]:
    headers: dict[str, str] = {}
    cookies: dict[str, tuple[str, ...]] = {}
    for name, value in pairs:
        if name == "set-cookie":
            cookies.update(cookie_attributes(value))
        else:
            assert name not in headers, f"{name} sent twice"
            headers[name] = value
    assert headers.pop("content-length") == str(len(body))
    return status, headers, cookies, body


RESPONSE_CASES = [
    pytest.param({"status": 200, "body": "", "mimetype": "application/fhir+json"}, id="empty-body"),
    pytest.param({"status": 200, "body": base64.b64encode(bytes(range(256))).decode(),
                  "mimetype": "application/octet-stream"}, id="binary-body"),
    pytest.param({"status": 201, "body": base64.b64encode(b"{}").decode(),
                  "headers": [["Content-Type", "application/fhir+json; charset=utf-8"], ["Location", "/Patient/1"],
                              ["ETag", 'W/"1"']]}, id="status-and-headers"),
    pytest.param({"status": 200, "headers": [["Link", "<a>; rel=next"], ["Link", "<b>; rel=prev"],
                                             ["X-Custom", "one"], ["X-Custom", "two"]]}, id="repeated-headers"),
    pytest.param({"status": 200, "headers": [
        ["Set-Cookie", "session=abc123; Path=/api; HttpOnly; Secure; SameSite=Strict"],
        ["Set-Cookie", "theme=dark; Max-Age=3600"],
        ["Set-Cookie", "old=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=gw.example"]]}, id="cookies"),
    pytest.param({"status": 200, "body": base64.b64encode("café".encode("latin-1")).decode(),
                  "mimetype": "text/html", "charset": "iso-8859-1"}, id="text-with-charset"),
    pytest.param({"status": 404, "body": base64.b64encode(b"not here").decode(), "mimetype": "text/plain"},
                 id="error-status"),
    pytest.param({"status": 204}, id="no-content"),
]


@pytest.mark.parametrize("spec", RESPONSE_CASES)
@pytest.mark.parametrize("folder", ["respond", "respond_sync"])
async def test_the_client_gets_the_functions_response_through_the_bridge(app: FunctionHost, folder: str,
                                                                        spec: dict[str, Any]) -> None:
    body = json.dumps(spec).encode()
    route = "/respond" if folder == "respond" else "/respond-sync"
    through = sent(*await call_asgi(app, "POST", route.encode(), b"", [(b"content-type", b"application/json")],
                                    [body]))
    request = func.HttpRequest("POST", f"http://{HOST}{route}", headers={"content-type": "application/json"},
                               body=body)
    assert through == declared(await direct(folder, request))


async def test_a_named_http_output_binding_is_the_response(app: FunctionHost) -> None:
    status, headers, body = await call_asgi(app, "GET", b"/named-out")
    out: list[func.HttpResponse] = []

    class Out:
        def set(self, value: func.HttpResponse) -> None:
            out.append(value)

    await direct("named_out", func.HttpRequest("GET", f"http://{HOST}/named-out", body=b""), res=Out())
    assert sent(status, headers, body) == declared(out[0])


async def test_an_exception_is_a_bare_500_with_the_traceback_in_the_host_log_only(
        app: FunctionHost, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="bridge failure"):
        await direct("raises", func.HttpRequest("GET", f"http://{HOST}/raises", body=b""))
    with caplog.at_level(logging.ERROR, logger="funchost"):
        status, headers, body = await call_asgi(app, "GET", b"/raises")
    assert (status, body) == (500, b"") and dict(headers) == {"content-length": "0"}
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "funchost")
    assert "RuntimeError: bridge failure from the raises function" in logged
    assert 'raises/__init__.py", line' in logged  # the stack trace, from the runtime's RpcException


async def test_a_result_the_runtime_cannot_encode_is_a_bare_500(app: FunctionHost,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="funchost"):
        assert (await call_asgi(app, "GET", b"/bad-result"))[::2] == (500, b"")
    assert "Functions.bad_result" in caplog.text


@pytest.mark.parametrize(("path", "query"), [(b"/never", b""), (b"/sleeps", b"seconds=1.5")])
async def test_a_function_over_the_function_timeout_gets_a_500(app: FunctionHost, path: bytes, query: bytes,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="funchost"):
        status, _, body = await call_asgi(app, "GET", path, query)
    assert (status, body) == (500, b"")
    assert "Timeout value of 0.5s was exceeded" in caplog.text


async def test_async_functions_run_on_the_hosts_loop_and_sync_ones_in_the_runtimes_pool(app: FunctionHost) -> None:
    on_loop = json.loads((await call_asgi(app, "GET", b"/echo/a/b"))[2])
    pooled = json.loads((await call_asgi(app, "GET", b"/sync/a"))[2])
    assert on_loop["thread"] == threading.current_thread().name
    assert pooled["thread"] != threading.current_thread().name and pooled["function_name"] == "echo_sync"


TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


async def test_the_invocation_carries_the_hosts_trace_context(app: FunctionHost) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    child = json.loads((await call_asgi(app, "GET", b"/sync/t", b"", [(b"traceparent", parent.encode()),
                                                                      (b"tracestate", b"congo=t61rcWkgMzE")]))[2])
    match = TRACEPARENT.fullmatch(child["traceparent"])
    assert match and match.group(1) == "0af7651916cd43dd8448eb211c80319c" and match.group(3) == "01"
    assert match.group(2) != "b7ad6b7169203331"  # the host's own span, child of the caller's
    assert child["tracestate"] == "congo=t61rcWkgMzE" and child["retry_count"] == 0
    fresh = json.loads((await call_asgi(app, "GET", b"/sync/t", b"", [(b"traceparent", b"garbage")]))[2])
    assert TRACEPARENT.fullmatch(fresh["traceparent"]) and "0af76519" not in fresh["traceparent"]
    assert fresh["invocation_id"] != child["invocation_id"]
