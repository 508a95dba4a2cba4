"""The HttpRequest the worker builds and the response it hands back to the host."""

from __future__ import annotations

import azure.functions as func
import pytest

from devtools.funchost.invoke import InvalidResponse, build_request, encode_response, query_params, request_headers


def test_query_params_are_decoded_joined_and_empty_ones_dropped() -> None:
    assert query_params("a=1&b=%20x+y&a=2&e=&A=3&flag") == {"a": "1,2,3", "b": " x y"}
    assert query_params("") == {}


def test_request_headers_lowercase_names_and_join_repeats() -> None:
    raw = [(b"X-Test", b"a"), (b"x-test", b"b"), (b"Accept", b"application/fhir+json")]
    headers = request_headers(raw, [("X-Forwarded-For", "127.0.0.1:5")])
    assert headers == {"x-test": "a,b", "accept": "application/fhir+json", "x-forwarded-for": "127.0.0.1:5"}


def test_build_request_is_the_workers_request_type() -> None:
    request = build_request("post", "http://h/api/x?q=1", {"content-type": "application/json"}, {"q": "1"},
                            {"id": "5"}, b'{"a": 1}')
    assert isinstance(request, func.HttpRequest)
    assert request.method == "POST" and request.url == "http://h/api/x?q=1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.get_json() == {"a": 1} and request.route_params == {"id": "5"} and request.params == {"q": "1"}


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [v for k, v in headers if k.lower() == name]


def test_content_type_from_mimetype_and_charset_when_absent() -> None:
    _, headers, body = encode_response(func.HttpResponse("x"))
    assert header(headers, b"content-type") == [b"text/plain; charset=utf-8"] and body == b"x"
    _, headers, _ = encode_response(func.HttpResponse(b"{}", mimetype="application/fhir+json", charset="utf-8"))
    assert header(headers, b"content-type") == [b"application/fhir+json"]  # the worker adds charset to text/* only


def test_explicit_content_type_is_untouched() -> None:
    response = func.HttpResponse(b"{}", headers={"Content-Type": "application/fhir+json; charset=utf-8"},
                                 mimetype="text/plain")
    status, headers, _ = encode_response(response)
    assert header(headers, b"content-type") == [b"application/fhir+json; charset=utf-8"] and status == 200


def test_repeated_headers_collapse_except_set_cookie() -> None:
    response = func.HttpResponse(b"", status_code=201)
    response.headers.add("Link", "<a>")
    response.headers.add("Link", "<b>")
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    status, headers, _ = encode_response(response)
    assert status == 201
    assert header(headers, b"link") == [b"<b>"]
    assert header(headers, b"set-cookie") == [b"a=1", b"b=2"]


def test_content_length_is_the_bodys() -> None:
    response = func.HttpResponse(b"abc", headers={"Content-Length": "99"})
    _, headers, _ = encode_response(response)
    assert header(headers, b"content-length") == [b"3"]


def test_string_and_none_results() -> None:
    assert encode_response("hi")[0] == 200 and encode_response("hi")[2] == b"hi"
    assert encode_response(None)[:2] == (204, [])


@pytest.mark.parametrize("result", [
    42,
    func.HttpResponse(b"", status_code=999),
    func.HttpResponse(b"", status_code="200"),  # type: ignore[arg-type]
    func.HttpResponse(b"", headers={"Bad Name": "a"}),
    func.HttpResponse(b"", headers={"X-Uni": "\u2603"}),
])
def test_results_that_cannot_be_sent(result: object) -> None:
    with pytest.raises(InvalidResponse):
        encode_response(result)
