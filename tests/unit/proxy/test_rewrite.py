"""Link rewriting: every provider URL becomes the gateway's, in one pass."""

import json
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.proxy.rewrite import LinkRewriter, UncheckedLinks, is_textual

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
    from gateway.fhir.bases import ClientBase
    from gateway.fhir.versions import STU3
    from gateway.http import Request, Response
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.headers import downstream_response_headers
    from gateway.proxy.rewrite import LinkRewriting
    from gateway.stores.models import Route

    route = Route(tenant_id="t", fhir_base_url=provider, fhir_version="STU3")
    exchange = Exchange(Request("GET", f"{GATEWAY}/Patient"), None, route, None,  # type: ignore[arg-type]
                        ClientBase(STU3, GATEWAY, ""), STU3, provider_url=asked)
    response = Response(200, body, downstream_response_headers(upstream_headers, "rid", has_body=bool(body)))
    return LinkRewriting().incoming(exchange, response)


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


# --------------------------------------------------------------------------- XML Bundle links of any shape

def _xml_link_urls(body: bytes) -> list[str | None]:
    """The URL of every Bundle link an XML parser reads in ``body`` (None for a link with several)."""
    urls: list[str | None] = []
    for element in ElementTree.fromstring(body).iter():
        children = [child for child in element if child.tag.rpartition("}")[2] == "url"]
        if element.tag.rpartition("}")[2] == "link" and children:
            urls.append(children[0].get("value") if len(children) == 1 else None)
    return urls


def test_a_link_with_two_urls_or_a_prefixed_value_is_dropped():
    """A lax reader may take either URL, or an attribute ``x:value``: neither link can be judged."""
    own = f"{PROVIDER}/Patient?page=2"
    body = ('<Bundle xmlns="http://hl7.org/fhir" xmlns:x="urn:x">'
            f'<link><relation value="next"/><url value="{own}"/><url value="https://evil.example/p"/></link>'
            f'<link><relation value="prev"/><url value="{own}" x:value="https://evil.example/p"/></link>'
            f'<link><relation value="self"/><url value="{own}"><extension url="u"/></url></link></Bundle>')
    out = LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body.encode())
    assert _xml_link_urls(out) == [f"{GATEWAY}/Patient?page=2"]
    assert b"evil" not in out


def test_a_parsed_document_keeps_everything_but_the_links_byte_for_byte():
    rest = ('<?xml version="1.0" encoding="UTF-8"?>\n<!-- a search --><Bundle xmlns="http://hl7.org/fhir">'
            "<type value='searchset'/><entry><resource><Patient><link><other><reference value='Patient/2'/>"
            "</other><type value='seealso'/></link></Patient></resource></entry>")
    body = (rest + '<link id="n"><relation value="next"/><url value="https://evil.example/p"/></link></Bundle>')
    assert LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body.encode()) == (rest + "</Bundle>").encode()


def test_links_inside_a_dropped_link_go_with_it_and_nested_bundles_are_judged():
    inner = '<link><relation value="next"/><url value="https://evil.example/inner"/></link>'
    body = ('<Bundle xmlns="http://hl7.org/fhir"><link><relation value="next"/><url value="https://evil.example/p"/>'
            f'<extension url="x">{inner}</extension></link><entry><resource><Bundle>'
            f'<link id="i"><relation value="self"/><url value="{PROVIDER}/Observation"/></link>{inner}'
            '</Bundle></resource></entry></Bundle>')
    out = LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body.encode())
    assert _xml_link_urls(out) == [f"{GATEWAY}/Observation"]


def test_a_document_that_is_not_xml_is_refused_only_when_labelled_xml():
    html = b'<html><head><link rel="stylesheet" href="https://cdn.example/s.css"></head><body><p>hi</body></html>'
    rewriter = LinkRewriter(PROVIDER, GATEWAY)
    assert rewriter.rewrite_body(html, labelled_xml=False) is html
    with pytest.raises(UncheckedLinks):
        rewriter.rewrite_body(html)
    broken = (b'<Bundle><link><relation value="next"/><url value="https://evil.example/p"/></link>'
              b'<link id="x"><relation value="next"/><url value="https://evil.example/q"/></link><oops></Bundle>')
    assert rewriter.rewrite_body(broken, labelled_xml=False).count(b"evil") == 1  # the plain link: still judged
    with pytest.raises(UncheckedLinks):
        rewriter.rewrite_body(broken)


def test_a_dtd_is_refused_and_never_expanded():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE Bundle [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
              b'<Bundle><link id="x"><relation value="next"/><url value="&b;"/></link></Bundle>')
    with pytest.raises(UncheckedLinks):
        LinkRewriter(PROVIDER, GATEWAY).rewrite_body(laughs)


def test_a_refused_answer_is_an_operation_outcome_with_the_policys_headers():
    body = b'<Bundle><link id="x"><relation value="next"/><url value="https://evil.example/p"/></link><oops>'
    out = _answered([("Content-Type", "application/fhir+xml"), ("ETag", 'W/"1"'), ("Location", f"{PROVIDER}/x"),
                     ("Last-Modified", "Tue, 01 Dec 2026 05:42:10 GMT")], body)
    assert out.status == 502 and b"evil" not in out.body
    assert json.loads(out.body)["resourceType"] == "OperationOutcome"
    assert out.headers["Content-Type"].startswith("application/fhir+json")
    assert not {"etag", "location", "last-modified"} & {name.lower() for name, _ in out.headers.items_all()}
    assert out.headers["Cache-Control"] == "no-store" and out.headers["X-Content-Type-Options"] == "nosniff"


_XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


@st.composite
def _xml_link(draw: st.DrawFn) -> str:
    """A Bundle link as a provider may write it: any prefix, quotes, attributes, children around and inside."""
    url = draw(st.one_of(_XML_TEXT, st.builds(lambda a, b: a + b, st.sampled_from(
        [PROVIDER, "HTTPS://EHR.example:8443/fhir/stu3", GATEWAY, "https://evil.example", "//", "http://["]),
        _XML_TEXT)))
    quote = draw(st.sampled_from(['"', "'"]))
    written = escape(url, {'"': "&quot;", "'": "&apos;"})
    if draw(st.booleans()) and written[:1].isascii() and written[:1].isalpha():
        written = f"&#{ord(written[0])};{written[1:]}"  # a character reference the byte patterns do not read
    prefix = draw(st.sampled_from(["", "f:"]))
    extension = f'<{prefix}extension url="x"><{prefix}valueString value="y"/></{prefix}extension>'
    url_element = (f"<{prefix}url value={quote}{written}{quote}"
                   + draw(st.sampled_from(["/>", f">{extension}</{prefix}url>", ' id="u"/>'])))
    children = [f"<{prefix}relation value={quote}next{quote}/>", url_element,
                *draw(st.lists(st.sampled_from([extension, "<!-- c -->", "\n  ", "<![CDATA[x]]>"]), max_size=2))]
    order = draw(st.permutations(children))
    attributes = draw(st.sampled_from(["", ' id="l"', " "]))
    return f"<{prefix}link{attributes}>{''.join(order)}</{prefix}link>"


@settings(max_examples=300, deadline=None)
@given(links=st.lists(_xml_link(), max_size=4), nested=st.booleans())
def test_every_xml_bundle_link_left_is_on_the_gateways_base(links, nested):
    """Whatever the shape of an XML Bundle's links: every link a parser reads afterwards is on the gateway's base,
    and the document is still well-formed."""
    bundle = f"<Bundle xmlns='http://hl7.org/fhir' xmlns:f='http://hl7.org/fhir'>{''.join(links)}</Bundle>"
    if nested:
        bundle = f"<Bundle xmlns='http://hl7.org/fhir'><entry><resource>{bundle}</resource></entry></Bundle>"
    out = LinkRewriter(PROVIDER, GATEWAY).rewrite_body(bundle.encode(), lambda relation, url: "_gateway_page=t")
    for url in _xml_link_urls(out):
        assert url is not None
        resolved = urlsplit(urljoin(GATEWAY + "/", url.strip()))
        assert (resolved.scheme, resolved.netloc) == (urlsplit(GATEWAY).scheme, urlsplit(GATEWAY).netloc), url
        assert resolved.path.startswith(urlsplit(GATEWAY).path), url  # (a URL written with inner spaces keeps them)
        assert url.endswith("_gateway_page=t"), url


def _next_only(relation: str, url: str) -> str | None:
    return "_gateway_page=t" if relation == "next" else None


@pytest.mark.parametrize("space", [" ", "\n", "\r\n", "\t"])
def test_links_in_the_plain_shape_and_after_any_space_are_each_judged_and_signed_by_relation(space):
    """Every plain link is judged, not just the first one elsewhere; a ``link`` element followed by any white
    space is never taken for something else; the token goes to the relations the parameter names."""
    evil = '<link><relation value="next"/><url value="https://evil.example/{}"/></link>'
    body = (f'<Bundle xmlns="http://hl7.org/fhir">{evil.format(1)}{evil.format(2)}'
            f'<link><relation value="self"/><url value="{PROVIDER}/Patient"/></link>'
            f'<link><relation value="next"/><url value="{PROVIDER}/Patient?page=2"/></link>'
            f'<link{space}id="x"><relation value="previous"/><url value="https://evil.example/3"/></link></Bundle>')
    rewriter = LinkRewriter(PROVIDER, GATEWAY)
    out = rewriter.rewrite_body(body.encode(), _next_only)
    assert _xml_link_urls(out) == [f"{GATEWAY}/Patient", f"{GATEWAY}/Patient?page=2&_gateway_page=t"]
    plain = body[:body.index(f"<link{space}id")] + "</Bundle>"  # judged without parsing
    assert rewriter.rewrite_body(plain.encode(), _next_only) == out


def test_a_parsed_link_is_signed_by_its_relation():
    body = (f'<f:Bundle xmlns:f="http://hl7.org/fhir"><f:link><f:relation value="self"/>'
            f'<f:url value="{PROVIDER}/Patient"/></f:link><f:link><f:relation value="next"/>'
            f'<f:url value="{PROVIDER}/Patient?page=2"/></f:link></f:Bundle>')
    out = LinkRewriter(PROVIDER, GATEWAY).rewrite_body(body.encode(), _next_only)
    assert _xml_link_urls(out) == [f"{GATEWAY}/Patient", f"{GATEWAY}/Patient?page=2&_gateway_page=t"]


def test_an_html_binary_with_link_elements_is_not_refused():
    html = b'<!DOCTYPE html><html><head><link rel="stylesheet" href="s.css"></head><body>hi</body></html>'
    out = _answered([("Content-Type", "text/html")], html)
    assert out.status == 200 and out.body == html
