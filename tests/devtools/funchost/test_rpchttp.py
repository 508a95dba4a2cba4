"""The host's halves of the conversion, message by message: the RpcHttp it builds, the response it makes."""

from __future__ import annotations

import re

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from devtools.funchost.protos import load_protos
from devtools.funchost.rpchttp import (
    AUTH_LEVEL_CLAIM_TYPE,
    FunctionFailed,
    InvalidResponse,
    fill_rpc_http,
    from_invocation_response,
    from_rpc_http,
    header_values,
    query_values,
    set_cookie,
)
from devtools.funchost.worker import traceparent

protos = load_protos()


def test_query_values_are_decoded_grouped_case_insensitively_and_empty_ones_dropped() -> None:
    assert query_values("a=1&b=%20x+y&a=2&e=&A=3&flag") == {"a": "1,2,3", "b": " x y"}
    assert query_values("a=") == {} and query_values("") == {}
    assert query_values("a=&a=") == {"a": ","}  # StringValues.ToString() of two empty values is not empty


def test_header_values_lowercase_names_join_repeats_and_front_end_headers_win() -> None:
    raw = [(b"X-Test", b"a"), (b"x-test", b"b"), (b"X-Forwarded-For", b"spoofed")]
    assert header_values(raw, [("X-Forwarded-For", "10.0.0.1:5")]) == {"x-test": "a,b",
                                                                       "x-forwarded-for": "10.0.0.1:5"}


@pytest.mark.parametrize(("raw_bytes", "content_type", "kind"), [
    (True, "application/json", "bytes"),
    (False, "application/json", "string"),
    (False, "application/octet-stream", "bytes"),
    (False, "multipart/form-data; boundary=x", "bytes"),
])
def test_the_body_is_bytes_when_the_runtime_asks_for_raw_bytes_or_the_media_type_is_binary(
        raw_bytes: bool, content_type: str, kind: str) -> None:
    http = fill_rpc_http(protos.RpcHttp(), protos, "POST", "http://h/x", {"content-type": content_type}, {}, {},
                         b'{"a": "\xc3\xa9"}', raw_body_bytes=raw_bytes)
    assert http.body.WhichOneof("data") == kind
    assert (http.body.bytes if kind == "bytes" else http.body.string.encode()) == b'{"a": "\xc3\xa9"}'


def test_no_body_no_body_field_and_a_key_gives_the_key_identity() -> None:
    http = fill_rpc_http(protos.RpcHttp(), protos, "GET", "http://h/x", {}, {}, {"id": "1"}, b"", "function")
    assert not http.HasField("body") and dict(http.params) == {"id": "1"}
    claims = {c.type: c.value for c in http.identities[0].claims}
    assert http.identities[0].authentication_type.value == "WebJobsAuthLevel" and claims[AUTH_LEVEL_CLAIM_TYPE] == \
        "Function"
    anonymous = fill_rpc_http(protos.RpcHttp(), protos, "GET", "http://h/x", {}, {}, {}, b"")
    assert not anonymous.identities[0].HasField("authentication_type") and not anonymous.identities[0].claims


def test_set_cookie_is_formatted_as_aspnet_core_appends_it() -> None:
    expires = Timestamp(seconds=0)
    cookie = protos.RpcHttpCookie(name="s", value="a b;c", domain=protos.NullableString(value="gw.example"),
                                  path=protos.NullableString(value="/api"),
                                  expires=protos.NullableTimestamp(value=expires),
                                  max_age=protos.NullableDouble(value=60.9), secure=protos.NullableBool(value=True),
                                  http_only=protos.NullableBool(value=True), same_site=protos.RpcHttpCookie.Strict)
    assert set_cookie(cookie) == ("s=a%20b%3Bc; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=60; "
                                  "domain=gw.example; path=/api; secure; samesite=strict; httponly")
    assert set_cookie(protos.RpcHttpCookie(name="t", value="1")) == "t=1; path=/"  # CookieOptions.Path default


@pytest.mark.parametrize("http", [
    protos.RpcHttp(status_code="999"),
    protos.RpcHttp(status_code="200", headers={"Bad Name": "a"}),
    protos.RpcHttp(status_code="200", headers={"X-Uni": "\u2603"}),
    protos.RpcHttp(status_code="200", headers={"X-Split": "a\r\nInjected: yes"}),
])
def test_replies_the_host_cannot_send_are_refused(http: object) -> None:
    with pytest.raises(InvalidResponse):
        from_rpc_http(http)


def test_the_body_length_is_the_bodys_whatever_the_function_said() -> None:
    http = protos.RpcHttp(status_code="", headers={"Content-Length": "99", "Transfer-Encoding": "chunked"},
                          body=protos.TypedData(bytes=b"abc"))
    status, headers, body = from_rpc_http(http)
    assert (status, body) == (200, b"abc") and headers == [(b"content-length", b"3")]


def test_string_result_none_result_and_failure() -> None:
    success = protos.StatusResult(status=protos.StatusResult.Success)
    text = protos.InvocationResponse(result=success, return_value=protos.TypedData(string="hi"))
    assert from_invocation_response(text, "$return") == (
        200, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")], b"hi")
    assert from_invocation_response(protos.InvocationResponse(result=success), "$return") == (204, [], b"")
    failed = protos.InvocationResponse(result=protos.StatusResult(
        status=protos.StatusResult.Failure, exception=protos.RpcException(message="E: boom", stack_trace="tb")))
    with pytest.raises(FunctionFailed, match="E: boom"):
        from_invocation_response(failed, "$return")


def test_traceparent_continues_a_valid_trace_and_starts_one_otherwise() -> None:
    shape = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
    child = traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert child.startswith("00-0af7651916cd43dd8448eb211c80319c-") and child.endswith("-01")
    for bad in (None, "", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01", "ff-0af7651916cd43dd8448eb211c80319c-"
                "b7ad6b7169203331-01"):
        fresh = traceparent(bad)
        assert shape.fullmatch(fresh) and "0af76519" not in fresh
