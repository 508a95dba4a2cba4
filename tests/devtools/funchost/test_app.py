"""The host's ASGI application driven in-process: limits, keys, forwarding headers, failures.

End-to-end behaviour over real sockets is in test_server.py; these cases need control over what
the client sends (a body bigger than 100 MB, a disconnect) that a socket test would pay for.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from devtools.funchost.app import MAX_URL_BYTES, FunctionHost, Keys
from devtools.funchost.discovery import FunctionDef, HttpLimits
from devtools.funchost.routing import parse_template
from tests.fixtures.funchost import call_asgi, load_in_process

BRIDGE_APP = Path(__file__).resolve().parent / "bridge_app"


def function(folder: str, route: str, *, name: str | None = None, auth: str = "anonymous",
             methods: str | None = None, loaded: bool = True) -> FunctionDef:
    """A function of the bridge app (loaded by the runtime) served at ``route`` with these host settings."""
    base = load_in_process(BRIDGE_APP)[folder]
    return dataclasses.replace(base, name=name or folder, auth_level=auth, template=parse_template(route),
                               methods=frozenset(methods.split(",")) if methods else None,
                               function_id=base.function_id if loaded else None)


def host(**options: Any) -> FunctionHost:
    functions = [
        function("echo_async", "open/{kind}/{*rest}", name="open"),
        function("echo_async", "keyed/{kind?}", name="keyed", auth="function", methods="GET"),
        function("echo_async", "master/{kind?}", name="master", auth="admin"),
        function("echo_async", "unloaded", name="unloaded", loaded=False),
    ]
    return FunctionHost(functions, Keys("function-key", "master-key"), **options)


async def call(app: FunctionHost, method: str, path: bytes, query: bytes = b"",
               headers: list[tuple[bytes, bytes]] | None = None,
               chunks: list[bytes] | None = None, disconnect: bool = False) -> tuple[int, dict[str, str], bytes]:
    status, pairs, body = await call_asgi(app, method, path, query, headers, chunks, disconnect)
    return status, dict(pairs), body


def body_of(echoed: bytes) -> str:
    return base64.b64decode(json.loads(echoed)["body"]).decode()


async def test_url_longer_than_4_kb_is_refused_with_414() -> None:
    status, _, _ = await call(host(), "GET", b"/open/x", b"q=" + b"a" * MAX_URL_BYTES)
    assert status == 414


async def test_declared_body_over_100_mb_is_refused_before_reading() -> None:
    status, _, _ = await call(host(), "POST", b"/open/x", headers=[(b"content-length", b"104857601")])
    assert status == 413


async def test_streamed_body_over_the_limit_is_refused() -> None:
    status, _, _ = await call(host(max_body_bytes=10), "POST", b"/open/x", chunks=[b"123456", b"7890ab"])
    assert status == 413


async def test_body_in_chunks_arrives_whole() -> None:
    status, _, body = await call(host(), "POST", b"/open/x", chunks=[b"ab", b"cd", b"ef"])
    assert status == 200 and body_of(body) == "abcdef"


async def test_client_gone_before_the_body_gets_no_answer() -> None:
    assert (await call(host(), "POST", b"/open/x", disconnect=True))[0] == 0


@pytest.mark.parametrize(("headers", "query", "expected"), [
    ([], b"", 401),
    ([(b"x-functions-key", b"wrong")], b"", 401),
    ([(b"x-functions-key", b"function-key")], b"", 200),
    ([(b"X-Functions-Key", b"master-key")], b"", 200),  # the master key opens function level too
    ([], b"code=function-key", 200),
    ([], b"a=1&code=function%2Dkey", 200),
    ([], b"code=nope", 401),
    # Azure's rule (AuthenticationLevelHandler): the header wins, the first of repeated values counts,
    # query names are decoded and case-insensitive.
    ([], b"CODE=function-key&code=junk", 200),
    ([], b"code=junk&CODE=function-key", 401),
    ([], b"%63ode=function-key", 200),
    ([], b"code&code=function-key", 401),
    ([(b"x-functions-key", b"function-key"), (b"x-functions-key", b"junk")], b"", 200),
    ([(b"x-functions-key", b"junk"), (b"x-functions-key", b"function-key")], b"", 401),
    ([(b"x-functions-key", b"function-key,junk")], b"", 401),
    ([(b"x-functions-key", b"")], b"code=function-key", 401),
    ([(b"x-functions-key", b"junk")], b"code=function-key", 401),
])
async def test_function_level_keys(headers: list[tuple[bytes, bytes]], query: bytes, expected: int) -> None:
    status, _, body = await call(host(), "GET", b"/keyed", query, headers)
    assert status == expected
    if expected == 401:
        assert body == b""


def test_a_key_with_a_comma_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        Keys("a,b", None)


async def test_admin_level_takes_only_the_master_key() -> None:
    assert (await call(host(), "GET", b"/master", headers=[(b"x-functions-key", b"function-key")]))[0] == 401
    assert (await call(host(), "GET", b"/master", headers=[(b"x-functions-key", b"master-key")]))[0] == 200


async def test_without_configured_keys_keyed_functions_are_closed() -> None:
    app = FunctionHost([function("echo_async", "keyed", name="keyed", auth="function")], Keys(None, None))
    assert (await call(app, "GET", b"/keyed", headers=[(b"x-functions-key", b"")]))[0] == 401


async def test_method_mismatch_is_405_with_allow_or_404_like_azure() -> None:
    status, headers, _ = await call(host(), "POST", b"/keyed")
    assert status == 405 and headers["allow"] == "GET"
    assert (await call(host(method_mismatch_status=404), "POST", b"/keyed"))[0] == 404


async def test_forwarded_for_is_appended_with_the_callers_address_and_port() -> None:
    status, _, body = await call(host(), "GET", b"/open/x", headers=[(b"x-forwarded-for", b"10.1.1.1")])
    seen = json.loads(body)["headers"]
    assert status == 200
    assert seen["x-forwarded-for"] == "10.1.1.1, 203.0.113.9:50123"
    assert seen["x-client-ip"] == "203.0.113.9" and seen["x-forwarded-proto"] == "http"
    assert "x-forwarded-host" not in seen  # App Service keeps Host and sets no X-Forwarded-Host
    assert seen["host"] == "gw.example"


async def test_url_is_the_raw_request_target() -> None:
    _, _, body = await call(host(), "GET", b"/open/Patient%2F1/caf%C3%A9", b"name=a%20b&name=c&_sort=-date")
    seen = json.loads(body)
    assert seen["url"] == "http://gw.example/open/Patient%2F1/caf%C3%A9?name=a%20b&name=c&_sort=-date"
    assert seen["route_params"] == {"kind": "Patient%2F1", "rest": "café"}
    assert seen["params"] == {"name": "a b,c", "_sort": "-date"}


async def test_function_that_failed_to_load_answers_500() -> None:
    assert (await call(host(), "GET", b"/unloaded"))[:3:2] == (500, b"")


async def test_sync_function_runs_off_the_event_loop() -> None:
    app = FunctionHost([function("echo_sync", "s/{name}")], Keys(None, None))
    status, _, body = await call(app, "GET", b"/s/x")
    assert status == 200 and json.loads(body)["thread"] != threading.current_thread().name


async def test_invalid_result_is_a_500_with_empty_body() -> None:
    app = FunctionHost([function("bad_result", "b")], Keys(None, None))
    assert (await call(app, "GET", b"/b"))[:3:2] == (500, b"")


async def test_unknown_path_is_404_with_empty_body() -> None:
    assert (await call(host(), "GET", b"/nothing"))[:3:2] == (404, b"")


async def test_requests_over_max_outstanding_are_refused_with_429() -> None:
    app = FunctionHost([function("slow", "slow")], Keys(None, None), limits=HttpLimits(1, 2))
    first = asyncio.ensure_future(call(app, "GET", b"/slow", b"seconds=1"))
    second = asyncio.ensure_future(call(app, "GET", b"/slow", b"seconds=1"))  # queued behind maxConcurrentRequests=1
    for _ in range(3):  # let both start: the first runs, the second waits for the semaphore
        await asyncio.sleep(0)
    assert (await call(app, "GET", b"/slow"))[0] == 429
    assert [r[0] for r in await asyncio.gather(first, second)] == [200, 200]
    assert (await call(app, "GET", b"/slow"))[0] == 200


async def test_function_over_function_timeout_gets_a_500() -> None:
    app = FunctionHost([function("never", "never")], Keys(None, None), function_timeout=0.05)
    assert (await call(app, "GET", b"/never"))[:3:2] == (500, b"")


async def test_access_line_on_a_stream_has_the_log_time_format_and_no_query() -> None:
    import io
    import re

    from devtools.funchost.app import AccessLog

    stream = io.StringIO()
    app = FunctionHost([function("echo_async", "items/{id}")], Keys(None, None), access_log=AccessLog(stream))
    status, _, _ = await call_asgi(app, "GET", b"/items/7", query=b"family=Secretname")
    assert status == 200
    line = stream.getvalue()
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] GET /items/7 200 \d+\.\d\dms echo_async\n", line)
    assert "Secretname" not in line


async def test_access_line_without_a_stream_goes_to_the_host_logger(caplog) -> None:
    caplog.set_level(logging.INFO, logger="funchost.access")
    app = FunctionHost([function("echo_async", "items/{id}")], Keys(None, None))
    await call_asgi(app, "GET", b"/items/8")
    assert [r.getMessage().split(" ")[:3] for r in caplog.records if r.name == "funchost.access"] == [
        ["GET", "/items/8", "200"]]


async def test_a_host_whose_output_went_away_still_serves() -> None:
    from devtools.funchost.app import AccessLog

    class GoneAway:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    app = FunctionHost([function("echo_async", "items/{id}")], Keys(None, None), access_log=AccessLog(GoneAway()))
    assert (await call_asgi(app, "GET", b"/items/9"))[0] == 200
