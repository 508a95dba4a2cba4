"""A provider (compromised, misconfigured or merely careless) decides what its answers say; the gateway
decides what its own origin serves. PHI is never marked cacheable, active content never renders from the
gateway's origin, links never send the client (and its token) to another host, the headers HTTP requires
survive, and a fan-out batch is valid FHIR."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from fhir.resources.STU3.bundle import Bundle as STU3Bundle

from tests.fixtures.provider import Reply, connect
from tests.security import rawhttp
from tests.support.constants import GW, TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

FHIR_JSON = "application/fhir+json;charset=UTF-8"


@pytest.mark.parametrize("provider_cache", [
    {"Cache-Control": "public, max-age=86400"}, {"Cache-Control": "s-maxage=600"},
    {"Cache-Control": "max-age=60", "Expires": "Thu, 01 Dec 2099 16:00:00 GMT"}, {},
    {"Expires": "Thu, 01 Dec 2099 16:00:00 GMT"},
])
@pytest.mark.parametrize("status", [200, 404, 304])
async def test_phi_responses_are_never_cacheable(services, provider, provider_cache, status):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    body = b"" if status == 304 else {"resourceType": "Patient", "id": "1"}
    provider.script = lambda r, s: Reply(status=status, body=body, headers={**provider_cache, "ETag": 'W/"1"'})
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == status
    assert response.headers.get_all("Cache-Control") == ["no-store"]
    assert "expires" not in response.headers


@pytest.mark.parametrize("content_type, body", [
    ("text/html; charset=utf-8", b"<html><script>fetch('/manage/clients')</script></html>"),
    ("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("application/xhtml+xml", b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>'),
    ("text/javascript", b"alert(document.cookie)"),
    ("application/pdf", b"%PDF-1.4 binary"),
    ("text/plain", b"<script>alert(1)</script>"),
    ("application/octet-stream", b"<script>alert(1)</script>"),
    ("TEXT/HTML", b"<script>alert(1)</script>"),
])
async def test_active_content_from_the_provider_is_downloaded_never_rendered(services, provider, content_type, body):
    """A FHIR ``Binary`` read may return any media type: it is passed, but as an attachment in a sandbox."""
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    provider.script = lambda r, s: Reply(body=body, content_type=content_type)
    response = await proxy(request("GET", "/Binary/1", token, headers=[("Accept", "*/*")]), services)
    assert response.status == 200 and response.body == body
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"


@pytest.mark.parametrize("content_type", ["application/fhir+json;charset=UTF-8", "application/json+fhir",
                                          "application/fhir+xml", "application/xml+fhir", "application/json"])
async def test_fhir_media_types_stay_inline_but_sandboxed(services, provider, content_type):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    provider.script = lambda r, s: Reply(body={"resourceType": "Patient", "id": "1"}, content_type=content_type)
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.headers["Content-Type"] == content_type
    assert "content-disposition" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"


@pytest.mark.parametrize("location", [
    "https://evil.example/fhir/Patient/7", "//evil.example/stu3/Patient/7", "http://169.254.169.254/latest/",
    "https://evil.example/stu3/Patient/7", "javascript:alert(1)",
])
async def test_location_headers_to_other_hosts_are_dropped(services, provider, location):
    token = await connect(services, TENANT_A, provider.base("/stu3"), allow_writes=True)
    provider.script = lambda r, s: Reply(status=201, headers={"Location": location, "Content-Location": location})
    response = await proxy(request("POST", "/Patient", token, body=b'{"resourceType":"Patient"}',
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.status == 201
    assert "location" not in response.headers and "content-location" not in response.headers


async def test_links_to_the_provider_are_rewritten_whatever_the_case_of_scheme_and_host(services, provider):
    token = await connect(services, TENANT_A, f"http://localhost:{provider.port}/stu3", allow_writes=True)
    shouting = f"HTTP://LocalHost:{provider.port}/stu3"

    def reply(r, s):
        return Reply(status=201, headers={"Location": f"{shouting}/Patient/7/_history/1",
                                          "Content-Location": "Patient/7"},
                     body={"resourceType": "Bundle", "type": "searchset",
                           "link": [{"relation": "self", "url": f"Http://LOCALHOST:{s.port}/stu3/Patient?x=1"}],
                           "entry": [{"fullUrl": f"{shouting}/Patient/7"}]})

    provider.script = reply
    response = await proxy(request("POST", "/Patient", token, body=b'{"resourceType":"Patient"}',
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.headers["Location"] == f"{GW}/Patient/7/_history/1"
    assert response.headers["Content-Location"] == f"{GW}/Patient/7"  # relative: resolved against the request
    bundle = json.loads(response.body)
    assert bundle["link"] == [{"relation": "self", "url": f"{GW}/Patient?x=1"}]
    assert bundle["entry"][0]["fullUrl"] == f"{GW}/Patient/7"


@pytest.mark.parametrize("fmt", ["json", "xml", "json with <link> in its text"])
async def test_bundle_links_to_other_hosts_are_dropped(services, provider, fmt):
    """A client pages by following ``next`` with its bearer token: never to another host (also when the JSON
    carries text that looks like an XML Bundle link, which once made the JSON links go unchecked)."""
    token = await connect(services, TENANT_A, provider.base("/stu3"))

    def reply(r, s):
        own, evil = f"{s.base('/stu3')}/Patient?page=2", "https://evil.example/stu3/Patient?page=2"
        if fmt.startswith("json"):
            narrative = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><link></div>'}
            return Reply(body={"resourceType": "Bundle", "type": "searchset",
                               "link": [{"relation": "self", "url": own}, {"relation": "next", "url": evil},
                                        {"relation": "previous", "url": "//evil.example/x"}],
                               "entry": [{"resource": {"resourceType": "Patient", "id": "1", "text": narrative}}]
                               if fmt != "json" else []})
        return Reply(content_type="application/fhir+xml", body=(
            '<Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/>'
            f'<link><relation value="self"/><url value="{own}"/></link>'
            f'<link><relation value="next"/><url value="{evil}"/></link></Bundle>'))

    provider.script = reply
    response = await proxy(request("GET", "/Patient", token), services)
    text = response.body.decode()
    assert "evil.example" not in text
    assert f"{GW}/Patient?page=2" in text


async def test_an_entrys_own_links_to_other_hosts_are_dropped(services, provider):
    """``Bundle.entry.link`` (R4) is a link a client may follow with its token too."""
    token = await connect(services, TENANT_A, provider.base("/stu3"))

    def reply(r, s):
        own = f"{s.base('/stu3')}/Patient/1"
        return Reply(body={"resourceType": "Bundle", "type": "searchset",
                           "link": [{"relation": "self", "url": f"{s.base('/stu3')}/Patient"}],
                           "entry": [{"link": [{"relation": "alternate", "url": own},
                                               {"relation": "alternate", "url": "https://evil.example/Patient/1"}],
                                      "fullUrl": own, "resource": {"resourceType": "Patient", "id": "1"}}]})

    provider.script = reply
    response = await proxy(request("GET", "/Patient", token), services)
    assert "evil.example" not in response.body.decode()
    assert json.loads(response.body)["entry"][0]["link"] == [{"relation": "alternate", "url": f"{GW}/Patient/1"}]


XML_LINK_SHAPES = {
    # how a provider may write ``<link><relation value="next"/><url value="URL"/></link>`` (``tail``: URL's
    # text after its first character)
    "an extension after": '<link><relation value="next"/><url value="{url}"/>'
                          '<extension url="x"><valueString value="y"/></extension></link>',
    "an extension before": '<link><extension url="x"><extension url="y"><valueString value="z"/></extension>'
                           '</extension><relation value="next"/><url value="{url}"/></link>',
    "an extension in url": '<link><relation value="next"/><url value="{url}"><extension url="x">'
                           '<valueString value="y"/></extension></url></link>',
    "comments and spaces": '<link >\n  <!-- the next page -->\n  <relation value = "next" />\n'
                           '  <url value="{url}" ></url >\n</link >',
    "a CDATA section": '<link><![CDATA[ ]]><relation value="next"/><url value="{url}"/></link>',
    "single quotes": "<link><relation value='next'/><url value='{url}'/></link>",
    "an id on link": '<link id="n1"><relation value="next"/><url value="{url}"/></link>',
    "attributes reordered": '<link><relation id="r" value="next"/><url id="u" value="{url}"/></link>',
    "a namespace prefix": '<fhir:link xmlns:fhir="http://hl7.org/fhir"><fhir:relation value="next"/>'
                          '<fhir:url value="{url}"/></fhir:link>',
    "a character reference": '<link><relation value="next"/><url value="&#104;{tail}"/></link>',
}


@pytest.mark.parametrize("shape", XML_LINK_SHAPES)
@pytest.mark.parametrize("where", ["elsewhere", "on the provider"])
async def test_every_xml_bundle_link_is_judged_whatever_its_shape(services, provider, shape, where):
    """A provider writes its XML as it likes: a ``next`` link elsewhere is dropped, one on the provider's base is
    rewritten to the gateway's base and gets its page token, whatever the link's children, comments, quotes,
    attributes or namespace prefix, exactly as for JSON; the entry's ``fullUrl`` is rewritten too."""
    token = await connect(services, TENANT_A, provider.base("/stu3"))

    def reply(r, s):
        host = "https://evil.example/stu3" if where == "elsewhere" else s.base("/stu3")
        url = f"{host}/Patient?page=2"
        return Reply(content_type="application/fhir+xml", body=(
            '<Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/>'
            f'<link><relation value="self"/><url value="{s.base("/stu3")}/Patient"/></link>'
            + XML_LINK_SHAPES[shape].format(url=url.replace("&", "&amp;"), tail=url[1:].replace("&", "&amp;"))
            + f"<entry><fullUrl value='{s.base('/stu3')}/Patient/1'/><resource><Patient><id value='1'/></Patient>"
            "</resource></entry></Bundle>"))

    provider.script = reply
    response = await proxy(request("GET", "/Patient", token, headers=[("Accept", "application/fhir+xml")]),
                           services)
    assert response.status == 200
    text = response.body.decode()
    assert "evil.example" not in text and provider.base("/stu3") not in text
    assert f'<url value="{GW}/Patient"/>' in text and f"<fullUrl value='{GW}/Patient/1'/>" in text
    if where == "elsewhere":
        assert "next" not in text
    else:
        assert f"{GW}/Patient?page=2&amp;_gateway_page=v1." in text


@pytest.mark.parametrize("body", [
    '<Bundle xmlns="http://hl7.org/fhir"><link><relation value="next"/><url value="https://evil.example/x"/>'
    "<extension url='x'></link></Bundle>",  # not well-formed: no parser reads the link as its author meant
    '<!DOCTYPE Bundle [<!ENTITY next "https://evil.example/x">]><Bundle xmlns="http://hl7.org/fhir">'
    '<link><relation value="next"/><url value="&next;"/></link></Bundle>',  # an entity: never expanded
])
async def test_an_xml_answer_whose_links_cannot_be_judged_is_refused(services, provider, body):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    provider.script = lambda r, s: Reply(content_type="application/fhir+xml", body=body)
    response = await proxy(request("GET", "/Patient", token), services)
    assert response.status == 502
    assert b"evil.example" not in response.body
    assert json.loads(response.body)["resourceType"] == "OperationOutcome"


async def test_a_providers_405_keeps_allow(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"), allow_writes=True)
    provider.script = lambda r, s: Reply(status=405, headers={"Allow": "GET, HEAD"},
                                         body={"resourceType": "OperationOutcome", "issue": []})
    response = await proxy(request("DELETE", "/Patient/1", token), services)
    assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"


async def test_a_304_gets_no_invented_content_type(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    provider.script = lambda r, s: Reply(status=304, headers={"ETag": 'W/"1"'})
    response = await proxy(request("GET", "/Patient/1", token, headers=[("If-None-Match", 'W/"1"')]), services)
    assert response.status == 304 and response.body == b""
    assert "content-type" not in response.headers and "content-disposition" not in response.headers
    assert response.headers["ETag"] == 'W/"1"'


async def test_the_policy_survives_the_functions_host(start_gateway):
    """Through the local host (the worker's response conversion included): headers as the client sees them."""
    gw = await start_gateway()
    auth = [("Authorization", f"Bearer {gw.token}")]
    gw.provider.script = lambda r, s: Reply(body=b"<script>alert(1)</script>", content_type="text/html",
                                            headers={"Cache-Control": "public, max-age=600"})
    html = rawhttp.send(gw.url, "GET", "/fhir/Binary/1", auth)
    assert html.status == 200
    assert (html.headers["content-disposition"], html.headers["x-content-type-options"],
            html.headers["cache-control"]) == ("attachment", "nosniff", "no-store")
    assert html.headers["content-security-policy"].split(";")[0] == "sandbox"
    assert html.body == b"<script>alert(1)</script>"
    gw.provider.script = lambda r, s: Reply(status=304, headers={"ETag": 'W/"1"'})
    not_modified = rawhttp.send(gw.url, "GET", "/fhir/Patient/1", [*auth, ("If-None-Match", 'W/"1"')])
    assert not_modified.status == 304 and not_modified.headers["etag"] == 'W/"1"'
    assert "content-type" not in not_modified.headers  # not the worker's text/plain either


BUNDLE_MODELS = {"STU3": STU3Bundle, "R4": R4BBundle}  # fhir.resources has no DSTU2 models; R4B checks R4's rules


@pytest.mark.parametrize("version", ["STU3", "R4"])
async def test_a_fanout_batch_response_is_valid_fhir(services, provider, version):
    """``entry.response.lastModified`` is an instant converted from the HTTP-date; ``location`` follows the
    link policy; the whole Bundle validates against the version's FHIR model."""
    token = await connect(services, TENANT_A, provider.base("/fhir"), batch_mode="fanout", fhir_version=version)
    dates = {"1": "Tue, 01 Dec 2026 05:42:10 GMT", "2": "Sunday, 06-Nov-94 08:49:37 GMT",
             "3": "Sun Nov  6 08:49:37 1994", "4": "yesterday"}

    def reply(r, s):
        rid = r.path.rsplit("/", 1)[-1]
        return Reply(body={"resourceType": "Patient", "id": rid}, headers={
            "Last-Modified": dates[rid], "ETag": f'W/"{rid}"',
            "Location": f"{s.base('/fhir')}/Patient/{rid}/_history/1" if rid != "4" else "https://evil.example/x"})

    provider.script = reply
    batch = {"resourceType": "Bundle", "type": "batch",
             "entry": [{"request": {"method": "GET", "url": f"Patient/{rid}"}} for rid in dates]}
    response = await proxy(request("POST", "", token, body=json.dumps(batch).encode(),
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.status == 200
    bundle = json.loads(response.body)
    BUNDLE_MODELS[version].model_validate(bundle)  # raises on any invalid element
    responses = [entry["response"] for entry in bundle["entry"]]
    assert [r.get("lastModified") for r in responses] == [
        "2026-12-01T05:42:10Z", "1994-11-06T08:49:37Z", "1994-11-06T08:49:37Z", None]
    assert [r.get("location") for r in responses] == [
        f"{GW}/Patient/1/_history/1", f"{GW}/Patient/2/_history/1", f"{GW}/Patient/3/_history/1", None]
    assert [r["status"] for r in responses] == ["200 OK"] * 4
