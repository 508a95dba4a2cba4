"""Link rewriting: every provider URL becomes the gateway's, in one pass."""

import json
from urllib.parse import urljoin

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.proxy.rewrite import LinkRewriter, is_textual

PROVIDER = "https://ehr.example:8443/fhir/stu3"
GATEWAY = "https://gw.example/fhir"


def test_bundle_links_full_urls_and_references_are_rewritten():
    bundle = {"resourceType": "Bundle", "link": [{"relation": "next", "url": f"{PROVIDER}?_getpages=x&o=10"}],
              "entry": [{"fullUrl": f"{PROVIDER}/Patient/1",
                         "resource": {"resourceType": "Observation",
                                      "subject": {"reference": f"{PROVIDER}/Patient/1"}}}]}
    out = json.loads(LinkRewriter(PROVIDER, GATEWAY).rewrite_body(json.dumps(bundle).encode()))
    assert out["link"][0]["url"] == f"{GATEWAY}?_getpages=x&o=10"
    assert out["entry"][0]["fullUrl"] == f"{GATEWAY}/Patient/1"
    assert out["entry"][0]["resource"]["subject"]["reference"] == f"{GATEWAY}/Patient/1"


def test_json_escaped_slashes_are_rewritten_in_the_same_form():
    body = b'{"url":"https:\\/\\/ehr.example:8443\\/fhir\\/stu3\\/Patient\\/1"}'
    out = LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body)
    assert out == b'{"url":"https:\\/\\/gw.example\\/fhir\\/Patient\\/1"}'
    assert json.loads(out)["url"] == f"{GATEWAY}/Patient/1"


def test_longer_paths_and_other_hosts_are_left_alone():
    body = f'["{PROVIDER}2/Patient/1","https://other.example/fhir/stu3/Patient/1","{PROVIDER}"]'.encode()
    out = json.loads(LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body))
    assert out == [f"{PROVIDER}2/Patient/1", "https://other.example/fhir/stu3/Patient/1", GATEWAY]


def test_xml_value_attributes_are_rewritten():
    body = f'<Bundle><link><url value="{PROVIDER}/Patient?x=1"/></link></Bundle>'.encode()
    assert LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body) == \
        f'<Bundle><link><url value="{GATEWAY}/Patient?x=1"/></link></Bundle>'.encode()


def test_body_without_the_provider_is_returned_unchanged():
    body = b'{"resourceType":"Patient","id":"1"}'
    assert LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body) is body


def test_header_urls():
    rewriter = LinkRewriter(PROVIDER + "/", GATEWAY)
    assert rewriter.rewrite_url(f"{PROVIDER}/Patient/1/_history/2") == f"{GATEWAY}/Patient/1/_history/2"
    assert rewriter.rewrite_url(f"{PROVIDER}2/Patient/1") == f"{PROVIDER}2/Patient/1"
    assert rewriter.rewrite_url("Patient/1") == "Patient/1"


def test_textual_media_types():
    assert is_textual("application/fhir+json;charset=UTF-8")
    assert is_textual("application/json+fhir")
    assert is_textual("application/fhir+xml")
    assert not is_textual("application/pdf")
    assert not is_textual("image/png")


def test_bundle_links_elsewhere_are_dropped_in_nested_bundles_too():
    """A batch-response carries searchset Bundles whose ``next`` a client follows as well."""
    inner = {"resourceType": "Bundle", "type": "searchset",
             "link": [{"relation": "self", "url": f"{PROVIDER}/Observation?patient=1"},
                      {"relation": "next", "url": "https://evil.example/page2"}]}
    outer = {"resourceType": "Bundle", "type": "batch-response",
             "link": [{"relation": "self", "url": f"{PROVIDER}"}],
             "entry": [{"resource": inner, "response": {"status": "200 OK"}}, {"response": {"status": "404"}}]}
    out = json.loads(LinkRewriter(PROVIDER, GATEWAY).rewrite_body(json.dumps(outer).encode()))
    assert out["link"] == [{"relation": "self", "url": GATEWAY}]
    assert out["entry"][0]["resource"]["link"] == [{"relation": "self", "url": f"{GATEWAY}/Observation?patient=1"}]


def test_links_to_the_provider_in_any_case_and_with_its_default_port_are_rewritten():
    rewriter = LinkRewriter("https://EHR.example/fhir/stu3", GATEWAY)
    body = (b'["HTTPS://ehr.EXAMPLE/fhir/stu3/Patient/1","https://ehr.example:443/fhir/stu3","https://ehr.example/FHIR/stu3",'
            b'"https://EHR.example/fhir/stu3?x","https://ehr.example:8443/fhir/stu3/Patient/1"]')
    assert json.loads(rewriter.rewrite_body(body)) == [
        f"{GATEWAY}/Patient/1", GATEWAY, "https://ehr.example/FHIR/stu3", f"{GATEWAY}?x",
        "https://ehr.example:8443/fhir/stu3/Patient/1"]
    assert rewriter.rewrite_url("https://ehr.EXAMPLE:443/fhir/stu3/Patient/1") == f"{GATEWAY}/Patient/1"
    assert rewriter.header_url("Patient/1", "https://ehr.example/fhir/stu3/Patient") == f"{GATEWAY}/Patient/1"
    assert rewriter.header_url("https://ehr.example/other", None) is None
    assert rewriter.header_url(f"{GATEWAY}/Patient/1") == f"{GATEWAY}/Patient/1"
    assert rewriter.header_url("https://ehr.example/fhir/stu3/\x00") is None


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=60), st.builds(lambda a, b: a + b, st.sampled_from(
    [PROVIDER, PROVIDER.upper(), "//", "https://", "HTTPS://EHR.EXAMPLE:8443", GATEWAY, "/fhir/stu3", "../", "?"]),
    st.text(max_size=30))))
def test_a_header_link_is_dropped_or_on_the_gateways_base(value):
    """Whatever a provider puts in ``Location``: the client gets nothing or a URL on the gateway's base."""
    out = LinkRewriter(PROVIDER, GATEWAY).header_url(value, f"{PROVIDER}/Patient")
    assert out is None or out == GATEWAY or out.startswith(GATEWAY) and out[len(GATEWAY)] in "/?#"


def test_links_that_are_not_urls_are_dropped_not_a_crash():
    rewriter = LinkRewriter(PROVIDER, GATEWAY)
    assert rewriter.header_url("//[", f"{PROVIDER}/Patient") is None
    body = json.dumps({"resourceType": "Bundle", "link": [{"relation": "next", "url": "//[x"}]}).encode()
    assert json.loads(rewriter.rewrite_body(body))["link"] == []
    xml = b'<Bundle><link><relation value="next"/><url value="http://[::1"/></link></Bundle>'
    assert rewriter.rewrite_body(xml) == b"<Bundle></Bundle>"


@settings(max_examples=200, deadline=None)
@given(urls=st.lists(st.one_of(st.text(max_size=40), st.builds(lambda a, b: a + b, st.sampled_from(
    [PROVIDER, "HTTPS://EHR.example:8443/fhir/stu3", GATEWAY, "https://evil.example", "//", "http://[", "/"]),
    st.text(max_size=20))), max_size=5), escape=st.booleans(), nested=st.booleans())
def test_every_bundle_link_left_is_on_the_gateways_base(urls, escape, nested):
    links = [{"relation": "next", "url": url} for url in urls]
    bundle = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if nested:
        bundle = {"resourceType": "Bundle", "type": "batch-response", "entry": [{"resource": bundle}]}
    text = json.dumps(bundle)
    body = (text.replace("/", "\\/") if escape else text).encode()
    out = json.loads(LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body))
    left = out["entry"][0]["resource"]["link"] if nested else out["link"]
    for link in left:
        resolved = urljoin(GATEWAY + "/", link["url"].strip())
        assert resolved == GATEWAY or resolved.startswith(GATEWAY) and resolved[len(GATEWAY)] in "/?#", link


# --------------------------------------------------------------------------- the link rewriting step

def _answered(upstream_headers, body=b"", provider=PROVIDER, asked=f"{PROVIDER}/Patient"):
    """A provider answer through the response policy, then the link rewriting step, as the proxy renders it."""
    from gateway.http import Request, Response
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.headers import downstream_response_headers
    from gateway.proxy.rewrite import LinkRewriting
    from gateway.stores.models import Route

    route = Route(tenant_id="t", fhir_base_url=provider, fhir_version="STU3")
    exchange = Exchange(Request("GET", f"{GATEWAY}/Patient"), None, route, None, provider_url=asked)  # type: ignore[arg-type]
    response = Response(200, body, downstream_response_headers(upstream_headers, "rid", has_body=bool(body)))
    return LinkRewriting(GATEWAY).incoming(exchange, response)


def test_the_step_rewrites_location_headers_where_they_stand():
    out = _answered([("Content-Type", "application/fhir+json"), ("ETag", 'W/"1"'),
                     ("Location", f"{PROVIDER}/Patient/1/_history/1"), ("Content-Location", f"{PROVIDER}/x"),
                     ("Retry-After", "5")]).headers
    assert out["Location"] == f"{GATEWAY}/Patient/1/_history/1"
    assert out["Content-Location"] == f"{GATEWAY}/x"
    assert [name for name, _ in out.items_all()][:5] == ["Content-Type", "ETag", "Location", "Content-Location",
                                                         "Retry-After"]


def test_the_step_drops_a_location_elsewhere_and_keeps_one_on_the_provider():
    out = _answered([("Location", "https://evil/x"), ("Content-Location", f"{PROVIDER}/Patient/1"),
                     ("Allow", "GET")]).headers
    assert "location" not in out and out["Content-Location"] == f"{GATEWAY}/Patient/1"
    assert out["Allow"] == "GET"


def test_a_relative_location_resolves_against_the_url_the_provider_was_asked():
    out = _answered([("Location", "Patient/7/_history/1")], asked=f"{PROVIDER}/Patient").headers
    assert out["Location"] == f"{GATEWAY}/Patient/7/_history/1"


def test_the_step_rewrites_a_text_body_only():
    body = json.dumps({"resourceType": "Patient", "link": f"{PROVIDER}/Patient/1"}).encode()
    assert PROVIDER.encode() not in _answered([("Content-Type", "application/fhir+json")], body).body
    assert _answered([("Content-Type", "application/pdf")], body).body == body
    assert _answered([], body).body == body  # no media type: an octet-stream attachment, never rewritten
