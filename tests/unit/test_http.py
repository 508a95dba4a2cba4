"""The azure.functions bridge: raw URL kept, headers case-insensitive, errors never leak."""

import json

import azure.functions as func

from gateway.azure_http import from_azure, serve, to_azure
from gateway.http import Headers, Request, Response, json_response


def test_headers_are_case_insensitive_and_keep_repeats():
    h = Headers([("Accept", "a"), ("X-Thing", "1"), ("x-thing", "2")])
    assert h["accept"] == "a"
    assert h.get_all("X-THING") == ["1", "2"]
    assert len(h) == 2
    h.set("X-Thing", "3")
    assert h.get_all("x-thing") == ["3"]


def test_headers_of_a_list_read_and_change_like_any_others():
    pairs = [("Content-Type", "application/fhir+json"), ("ETag", 'W/"1"'), ("etag", 'W/"2"')]
    h = Headers.of(pairs)
    assert h == Headers(pairs) and h.get_all("ETAG") == ['W/"1"', 'W/"2"']
    h.add("X-Request-Id", "r1")
    assert h["x-request-id"] == "r1" and h.items_all()[-1] == ("X-Request-Id", "r1")


def test_rewrite_changes_or_drops_values_where_they_stand():
    h = Headers([("Location", "a"), ("ETag", "e"), ("Content-Location", "b"), ("location", "c")])
    h.rewrite(frozenset({"location", "content-location"}), lambda value: None if value == "b" else value.upper())
    assert h.items_all() == [("Location", "A"), ("ETag", "e"), ("location", "C")]
    assert h.get_all("location") == ["A", "C"] and "content-location" not in h
    untouched = Headers([("ETag", "e")])
    untouched.rewrite(frozenset({"location"}), lambda value: "never called")
    assert untouched.items_all() == [("ETag", "e")]


def test_header_values_never_appear_in_repr():
    assert "secret" not in repr(Headers({"Authorization": "Bearer secret"}))


def test_request_keeps_the_raw_query_verbatim():
    req = Request("GET", "http://h/fhir/Observation?patient=1&_sort:desc=date&name%3Acontains=a%20b&x=1&x=2")
    assert req.raw_query == "patient=1&_sort:desc=date&name%3Acontains=a%20b&x=1&x=2"
    assert req.query[-2:] == [("x", "1"), ("x", "2")]
    assert req.query_value("name:contains") == "a b"


def test_request_id_is_taken_when_sane_and_generated_otherwise():
    assert Request("GET", "http://h/", Headers({"X-Request-Id": "abc-123"})).request_id == "abc-123"
    assert Request("GET", "http://h/", Headers({"X-Request-Id": "ünïcode"})).request_id != "ünïcode"
    generated = Request("GET", "http://h/", Headers({"X-Request-Id": "bad value\n"}))
    assert generated.request_id != "bad value\n"
    assert generated.request_id == generated.request_id


def test_client_address_is_the_hop_the_platform_appended_without_port():
    forged = Request("GET", "http://h/", Headers({"X-Forwarded-For": "1.2.3.4, 203.0.113.9:5123"}))
    assert forged.client_address == "203.0.113.9"
    assert Request("GET", "http://h/", Headers({"X-Forwarded-For": "[2001:db8::1]:443"})).client_address \
        == "2001:db8::1"
    assert Request("GET", "http://h/").client_address == "unknown"


def test_round_trip_through_azure_types():
    req = func.HttpRequest("post", "http://h/fhir/Patient/_search?a=1", headers={"Content-Type": "x"},
                           route_params={"path": "Patient/_search"}, body=b"given=ruth")
    ours = from_azure(req)
    assert ours.method == "POST" and ours.body == b"given=ruth" and ours.route_params["path"] == "Patient/_search"
    resp = to_azure(Response(201, b"{}", Headers([("Content-Type", "application/fhir+json; charset=utf-8"),
                                                   ("Vary", "Accept"), ("Vary", "Origin")])))
    assert resp.status_code == 201
    assert resp.mimetype == "application/fhir+json" and resp.charset == "utf-8"
    assert resp.headers["Vary"] == "Accept, Origin"


async def test_serve_turns_an_escaped_exception_into_a_bare_500():
    async def broken(_request: Request) -> Response:
        raise RuntimeError("patient Jane Doe 1957-06-05")

    resp = await serve(func.HttpRequest("GET", "http://h/x", body=b""), broken)
    assert resp.status_code == 500
    assert b"Jane" not in resp.get_body()
    assert "requestId" in json.loads(resp.get_body())


def test_json_response_sets_media_type_and_extra_headers():
    resp = json_response(400, {"error": "invalid_request"}, headers={"Cache-Control": "no-store"})
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    assert resp.headers["cache-control"] == "no-store"
    assert json.loads(resp.body) == {"error": "invalid_request"}
