"""The local Functions host end to end: a real process serving the sample app over real HTTP."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.funchost.discovery import RESERVED_ROUTE_MESSAGE
from tests.fixtures.funchost import LocalHost

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parent / "sample_app"
FUNCTION_KEY = "fk-7c1d0e2b9a"
MASTER_KEY = "mk-5f3e8a4c21"


@pytest.fixture(scope="module")
def sample() -> Iterator[LocalHost]:
    host = LocalHost({"LOCAL_FUNCTION_KEY": FUNCTION_KEY, "LOCAL_MASTER_KEY": MASTER_KEY}, SAMPLE)
    host.start()
    yield host
    host.close()


def request(host: LocalHost, method: str, target: str, body: bytes | None = None,
            headers: dict[str, str] | list[tuple[str, str]] | None = None) -> http.client.HTTPResponse:
    """Send ``target`` byte for byte (no client-side URL normalisation)."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    connection.putrequest(method, target, skip_accept_encoding=True)
    pairs = headers.items() if isinstance(headers, dict) else headers or []
    for name, value in pairs:
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    response.read_body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def echoed(response: http.client.HTTPResponse) -> dict:
    assert response.status == 200, response.status
    return json.loads(response.read_body)  # type: ignore[attr-defined]


def test_banner_lists_functions_and_those_in_error(sample: LocalHost) -> None:
    output = sample.output()
    assert f"echo_async: [GET,HEAD,POST] http://127.0.0.1:{sample.port}/api/items/{{id:int}}/{{detail?}}" in output
    assert f"noroute: [GET] http://127.0.0.1:{sample.port}/api/noroute" in output
    assert f"reserved: {RESERVED_ROUTE_MESSAGE}" in output
    assert "broken: Exception while loading: ModuleNotFoundError" in output
    assert "timer_only" not in output
    assert output.index("Functions:") < output.index("Host started")


def test_reserved_route_is_not_served(sample: LocalHost) -> None:
    assert request(sample, "GET", "/api/admin/things").status == 404


def test_async_main_with_route_values_and_optional_segment(sample: LocalHost) -> None:
    with_detail = echoed(request(sample, "GET", "/api/items/42/history"))
    without = echoed(request(sample, "GET", "/api/items/42"))
    assert with_detail["route_params"] == {"id": "42", "detail": "history"}
    assert without["route_params"] == {"id": "42"}
    assert with_detail["thread"] == "MainThread" and with_detail["kind"] == "async"
    assert request(sample, "GET", "/api/items/forty-two").status == 404  # {id:int}


def test_sync_main_runs_in_the_thread_pool_with_a_context(sample: LocalHost) -> None:
    seen = echoed(request(sample, "GET", "/api/sync/Alice"))
    assert seen["thread"] != "MainThread" and seen["function_name"] == "echo_sync"
    assert seen["route_params"] == {"name": "Alice"}
    assert seen["cwd"] == str(SAMPLE)  # the worker runs in the app root


def test_the_route_named_first_wins_and_the_catch_all_takes_the_rest(sample: LocalHost) -> None:
    # files_special sorts before files_wildcard (files/{*rest}): the host tries its literal route first.
    special = request(sample, "GET", "/api/files/special")
    assert special.read_body == b"the literal route won"  # type: ignore[attr-defined]
    assert echoed(request(sample, "GET", "/api/files"))["route_params"] == {}
    assert echoed(request(sample, "GET", "/api/files/a%2Fb/c"))["route_params"] == {"rest": "a%2Fb/c"}
    # files_special takes GET only: a PUT falls through to the catch-all, which takes every method.
    assert echoed(request(sample, "PUT", "/api/files/special", b"x"))["kind"] == "catch-all"


def test_404_and_405(sample: LocalHost) -> None:
    missing = request(sample, "GET", "/api/nothing/here")
    assert missing.status == 404 and missing.read_body == b""  # type: ignore[attr-defined]
    refused = request(sample, "DELETE", "/api/sync/Alice")
    assert refused.status == 405 and refused.getheader("Allow") == "GET"


def test_function_key_by_header_or_code_and_never_logged(sample: LocalHost) -> None:
    assert request(sample, "GET", "/api/keyed").status == 401
    assert request(sample, "GET", "/api/keyed", headers={"x-functions-key": "wrong"}).status == 401
    assert request(sample, "GET", "/api/keyed", headers={"x-functions-key": FUNCTION_KEY}).status == 200
    assert request(sample, "GET", f"/api/keyed?code={FUNCTION_KEY}&name=Jane").status == 200
    assert request(sample, "GET", "/api/master", headers={"x-functions-key": FUNCTION_KEY}).status == 401
    assert request(sample, "GET", f"/api/master?code={MASTER_KEY}").status == 200
    output = sample.wait_for_output("GET /api/master 200")
    assert FUNCTION_KEY not in output and MASTER_KEY not in output and "Jane" not in output


def test_raw_query_and_path_reach_the_function_byte_for_byte(sample: LocalHost) -> None:
    target = "/api/items/7/Caf%C3%A9?name=Jos%C3%A9+Q&_include=Patient%3Aorganization&name=x&empty=&b=%2f"
    seen = echoed(request(sample, "GET", target))
    assert seen["url"] == f"http://127.0.0.1:{sample.port}{target}"
    assert seen["params"] == {"name": "José Q,x", "_include": "Patient:organization", "b": "/"}
    assert seen["route_params"] == {"id": "7", "detail": "Café"}
    output = sample.wait_for_output("GET /api/items/7/Caf%C3%A9 200")
    assert "Jos" not in output and "_include" not in output


def test_request_headers_and_body_pass_through(sample: LocalHost) -> None:
    body = b'{"resourceType":"Bundle","type":"batch"}'
    seen = echoed(request(sample, "POST", "/api/items/1", body, [
        ("Content-Type", "application/json+fhir;charset=utf-8"), ("Authorization", "Bearer abc"),
        ("X-Repeat", "one"), ("X-Repeat", "two"), ("X-Forwarded-For", "198.51.100.7")]))
    headers = seen["headers"]
    assert seen["body"] == body.decode() and seen["method"] == "POST"
    assert headers["content-type"] == "application/json+fhir;charset=utf-8"
    assert headers["authorization"] == "Bearer abc"
    assert headers["x-repeat"] == "one,two"
    assert headers["x-forwarded-for"].startswith("198.51.100.7, 127.0.0.1:")
    assert headers["x-forwarded-proto"] == "http" and headers["host"] == f"127.0.0.1:{sample.port}"


def test_response_headers_status_and_body_pass_through(sample: LocalHost) -> None:
    response = request(sample, "GET", "/api/headers-out")
    assert response.status == 201 and response.read_body == b"{}"  # type: ignore[attr-defined]
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("ETag") == 'W/"3"'
    assert response.getheader("X-Custom") == "two"  # the worker keeps one value per name
    # The runtime sends each Set-Cookie as an RpcHttpCookie (an absent domain as ""), and the host appends it
    # with ASP.NET Core's formatting: lower-case attributes, an empty domain kept.
    assert [v for k, v in response.getheaders() if k.lower() == "set-cookie"] == ["a=1; domain=; path=/",
                                                                                  "b=2; domain=; path=/"]


def test_content_type_derived_when_the_function_sets_none(sample: LocalHost) -> None:
    assert request(sample, "GET", "/api/bare/text").getheader("Content-Type") == "text/plain; charset=utf-8"
    assert request(sample, "GET", "/api/bare/fhir").getheader("Content-Type") == "application/fhir+json"
    latin = request(sample, "GET", "/api/bare/latin")
    assert latin.getheader("Content-Type") == "text/html; charset=iso-8859-1"
    assert latin.read_body == "café".encode("iso-8859-1")  # type: ignore[attr-defined]


def test_exception_is_a_bare_500_with_the_traceback_in_the_host_log(sample: LocalHost) -> None:
    response = request(sample, "GET", "/api/raises")
    assert response.status == 500 and response.read_body == b""  # type: ignore[attr-defined]
    assert "RuntimeError: sample failure from the raises function" in sample.wait_for_output("GET /api/raises 500")
    assert request(sample, "GET", "/api/broken").status == 500


def test_head_has_headers_but_no_body(sample: LocalHost) -> None:
    response = request(sample, "HEAD", "/api/items/1")
    assert response.status == 200 and response.read_body == b""  # type: ignore[attr-defined]
    assert response.getheader("Content-Type") == "application/json"


def test_body_over_100_mb_is_refused_without_reading_it(sample: LocalHost) -> None:
    with socket.create_connection(("127.0.0.1", sample.port), timeout=10) as sock:
        sock.sendall(b"POST /api/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 104857601\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 413 ")


def test_access_log_has_method_path_status_duration(sample: LocalHost) -> None:
    request(sample, "GET", "/api/sync/Bob?secret=1")
    output = sample.wait_for_output("GET /api/sync/Bob ")
    lines = [line for line in output.splitlines() if "GET /api/sync/Bob " in line]
    assert lines and lines[-1].split("] ", 1)[1].split(" ")[:3] == ["GET", "/api/sync/Bob", "200"]
    assert lines[-1].split(" ")[-2].endswith("ms") and "secret" not in output


def test_settings_file_fills_the_environment_and_the_environment_wins(funchost, tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False,
                                    "Values": {"SAMPLE_FROM_FILE": "file", "SAMPLE_BOTH": "file"}}))
    host = funchost({"SAMPLE_BOTH": "environment"}, root=SAMPLE, settings_file=settings)
    seen = echoed(request(host, "GET", "/api/noroute"))
    assert seen["SAMPLE_FROM_FILE"] == "file" and seen["SAMPLE_BOTH"] == "environment"
    assert "already set in the environment (kept): SAMPLE_BOTH" in host.output()


def test_missing_settings_file_means_environment_only(funchost, tmp_path: Path) -> None:
    host = funchost({"SAMPLE_ONLY_ENV": "1"}, root=SAMPLE, settings_file=tmp_path / "absent.json")
    assert echoed(request(host, "GET", "/api/noroute"))["SAMPLE_ONLY_ENV"] == "1"
    assert "using the environment only" in host.output()


def test_stop_is_graceful_and_start_serves_again(funchost) -> None:
    host = funchost(root=SAMPLE)
    host.stop()
    assert "Host stopped" in host.output()
    host.start()
    assert request(host, "GET", "/api/sync/Again").status == 200


def test_azure_compatible_method_mismatch(funchost) -> None:
    host = funchost(root=SAMPLE, extra_args=("--method-mismatch-status", "404"))
    assert request(host, "DELETE", "/api/sync/Alice").status == 404


def test_unusable_host_json_stops_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{ nope")
    host = LocalHost(root=tmp_path)
    with pytest.raises(pytest.fail.Exception, match="host.json"):
        host.start()
    host.close()


def test_repository_function_folders_load_and_route(funchost) -> None:
    host = funchost({"LOCAL_FUNCTION_KEY": FUNCTION_KEY})
    output = host.output()
    for name in ("admin_fn", "fhir_proxy_fn", "fhir_metadata_fn", "token_fn"):
        assert f"\t{name}: [" in output, output
    assert "functions are in error" not in output, output
    assert request(host, "GET", "/manage/clients").status == 401  # authLevel function, no key
    assert request(host, "GET", "/oauth2/elsewhere").status == 404
    assert request(host, "DELETE", "/oauth2/token").status == 405
    host.wait_for_output("GET /manage/clients 401")
