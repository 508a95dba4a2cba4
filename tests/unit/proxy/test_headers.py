"""Header policy: what reaches the provider and what comes back to the client."""

from gateway.http import Headers, Request
from gateway.proxy.headers import downstream_response_headers, upstream_request_headers
from tests.fixtures.common import make_settings

SETTINGS = make_settings(PUBLIC_BASE_URL="https://gw.example")


def _request(headers):
    return Request(method="GET", url="https://gw.example/fhir/Patient/1", headers=Headers(headers))


def test_fhir_headers_pass_and_credentials_stay_behind():
    request = _request([
        ("Accept", "application/json+fhir;charset=utf-8"), ("Prefer", "return=representation"),
        ("If-None-Match", 'W/"3"'), ("If-Match", 'W/"2"'), ("If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("If-None-Exist", "identifier=x"), ("Accept-Language", "de"), ("Content-Type", "application/fhir+json"),
        ("Authorization", "Bearer client-token"), ("Cookie", "a=b"), ("x-functions-key", "k"),
        ("Connection", "keep-alive, X-Secret"), ("Keep-Alive", "5"), ("TE", "trailers"), ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic x"), ("Host", "evil.example"), ("X-Secret", "1"),
        ("X-Forwarded-For", "203.0.113.9:5555"), ("X-Request-Id", "req-1"),
    ])
    sent = upstream_request_headers(request, SETTINGS)
    names = [k.lower() for k, _ in sent]
    assert {"accept", "prefer", "if-none-match", "if-match", "if-modified-since", "if-none-exist",
            "accept-language", "content-type"} <= set(names)
    for forbidden in ("cookie", "x-functions-key", "connection", "keep-alive", "te", "upgrade",
                      "proxy-authorization", "host", "x-secret"):
        assert forbidden not in names
    assert ("Authorization", "Bearer client-token") not in sent
    as_dict = dict(sent)
    assert as_dict["X-Request-Id"] == "req-1"
    assert as_dict["X-Forwarded-For"] == "203.0.113.9"
    assert as_dict["X-Forwarded-Proto"] == "https"
    assert as_dict["X-Forwarded-Host"] == "gw.example"


def test_request_id_is_generated_when_absent_and_provider_token_added():
    sent = dict(upstream_request_headers(_request([("Authorization", "Bearer c")]), SETTINGS,
                                         provider_authorization="Bearer provider"))
    assert len(sent["X-Request-Id"]) >= 16
    assert sent["Authorization"] == "Bearer provider"


def test_response_headers_are_filtered_and_locations_passed_to_the_link_policy():
    upstream = [("Content-Type", "application/fhir+json"), ("ETag", 'W/"1"'), ("Last-Modified", "x"),
                ("Location", "https://ehr/fhir/Patient/1/_history/1"), ("Content-Location", "https://ehr/fhir/x"),
                ("Retry-After", "5"), ("Set-Cookie", "s=1"), ("Connection", "close"), ("Transfer-Encoding", "chunked"),
                ("Content-Encoding", "gzip"), ("Content-Length", "10"), ("WWW-Authenticate", "Bearer"),
                ("Server", "Secret/1.0"), ("X-Request-Id", "provider-id")]
    out = downstream_response_headers(upstream, "rid")
    assert out["Location"] == "https://ehr/fhir/Patient/1/_history/1"  # for the link policy (test_rewrite.py)
    assert out["Content-Location"] == "https://ehr/fhir/x"
    assert out["ETag"] == 'W/"1"' and out["Retry-After"] == "5" and out["Last-Modified"] == "x"
    for dropped in ("set-cookie", "connection", "transfer-encoding", "content-encoding", "content-length",
                    "www-authenticate", "server"):
        assert dropped not in out
    assert out["X-Request-Id"] == "rid"


def _policy(upstream, has_body=True):
    return downstream_response_headers(upstream, "rid", has_body=has_body)


def test_a_body_without_a_media_type_or_with_two_is_an_octet_stream_attachment():
    for upstream in ([], [("Content-Type", "")],
                     [("Content-Type", "application/fhir+json"), ("Content-Type", "text/html")]):
        out = _policy(upstream)
        assert out.get_all("Content-Type") == ["application/octet-stream"]
        assert out["Content-Disposition"] == "attachment"


def test_no_body_no_invented_media_type():
    out = _policy([("ETag", 'W/"1"')], has_body=False)
    assert "content-type" not in out and "content-disposition" not in out
    assert out["Cache-Control"] == "no-store" and out["X-Content-Type-Options"] == "nosniff"


def test_the_allow_header_of_a_405_passes():
    assert _policy([("Allow", "GET")])["Allow"] == "GET"


def test_fhir_media_types_are_inline_everything_else_an_attachment():
    for media in ("application/fhir+json; fhirVersion=4.0", "application/json+fhir", "APPLICATION/FHIR+XML",
                  "application/xml+fhir", "application/json", "application/xml", "text/xml"):
        assert "content-disposition" not in _policy([("Content-Type", media)]), media
    for media in ("text/html", "application/javascript", "image/svg+xml", "application/pdf", "text/plain",
                  "application/problem+json", "multipart/mixed"):
        assert _policy([("Content-Type", media)])["Content-Disposition"] == "attachment", media


def test_no_hop_by_hop_field_is_ever_passed_to_the_client():
    """RFC 9110 §7.6.1: the response policy relies on its allow-list holding no hop-by-hop field."""
    from gateway.proxy.headers import FORWARDED_REQUEST_HEADERS, HOP_BY_HOP, PASSED_RESPONSE_HEADERS

    assert PASSED_RESPONSE_HEADERS.isdisjoint(HOP_BY_HOP | {"connection"})
    assert FORWARDED_REQUEST_HEADERS.isdisjoint(HOP_BY_HOP | {"connection"})
    out = _policy([("Content-Type", "application/fhir+json"), ("ETag", 'W/"1"'), ("Connection", "close, ETag"),
                   ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c")])
    assert "etag" not in out and "keep-alive" not in out and "connection" not in out
    assert "transfer-encoding" not in out and "upgrade" not in out
