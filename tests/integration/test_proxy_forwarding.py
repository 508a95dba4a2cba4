"""What the proxy forwards and returns, over real sockets to a recording provider stand-in."""

import json

import pytest

from tests.fixtures.provider import Reply, connect
from tests.support.constants import GW, TENANT_A, TENANT_B
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration


async def test_raw_query_and_fhir_headers_reach_the_provider_verbatim(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    query = "patient=SMART-1288992&_sort:desc=date&category=vital-signs&code=a%7Cb&code=c&name:contains=chau"
    response = await proxy(request("GET", f"/Observation?{query}", token, headers=[
        ("Accept", "application/json+fhir;charset=utf-8"), ("Prefer", "return=representation"),
        ("If-None-Match", 'W/"1"'), ("Cookie", "session=1"), ("x-functions-key", "k"),
        ("X-Forwarded-For", "203.0.113.7:443")]), services)
    assert response.status == 200
    [seen] = provider.requests
    assert (seen.method, seen.path, seen.raw_query) == ("GET", "/stu3/Observation", query)
    assert seen.header("Accept") == "application/json+fhir;charset=utf-8"
    assert seen.header("Prefer") == "return=representation"
    assert seen.header("If-None-Match") == 'W/"1"'
    assert seen.header("X-Forwarded-For") == "203.0.113.7"
    assert seen.header("X-Forwarded-Host") == "localhost:7071"
    assert seen.header("X-Request-Id") == response.headers["X-Request-Id"]
    assert not {"authorization", "cookie", "x-functions-key"} & seen.header_names()


async def test_form_search_post_is_forwarded_with_its_body(services, provider):
    token = await connect(services, TENANT_A, provider.base("/dstu2"), fhir_version="DSTU2")
    body = b"name%3Acontains=chau&birthdate=1957-06"
    response = await proxy(request("POST", "/Patient/_search", token, body=body,
                                   headers=[("Content-Type", "application/x-www-form-urlencoded")]), services)
    assert response.status == 200
    [seen] = provider.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/dstu2/Patient/_search", body)
    assert seen.header("Content-Type") == "application/x-www-form-urlencoded"


async def test_links_are_rewritten_and_paging_through_next_keeps_going_through_the_gateway(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    first = json.loads((await proxy(request("GET", "/Observation?patient=1&_count=10", token), services)).body)
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert links["self"] == f"{GW}/Observation?patient=1&_count=10"
    assert links["next"].startswith(f"{GW}?")
    assert first["entry"][0]["fullUrl"] == f"{GW}/Observation/1"
    assert first["entry"][0]["resource"]["subject"]["reference"] == f"{GW}/Patient/1"
    assert provider.origin not in json.dumps(first)
    second = await proxy(request("GET", links["next"], token), services)
    assert second.status == 200
    assert (provider.requests[1].path, provider.requests[1].raw_query) == ("/stu3", "_getpages=abc&_getpagesoffset=10")


async def test_gzip_bodies_are_decoded_and_rewritten(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    payload = {"resourceType": "Patient", "id": "1", "link": [{"other": {"reference": f"{provider.base()}/Patient/2"}}]}
    provider.script = lambda r, s: Reply(body=payload, gzip=True)
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert provider.requests[0].header("Accept-Encoding").startswith("gzip")
    assert "content-encoding" not in response.headers
    assert json.loads(response.body)["link"][0]["other"]["reference"] == f"{GW}/Patient/2"


async def test_json_escaped_provider_urls_are_rewritten(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    escaped = provider.base().replace("/", "\\/")
    provider.script = lambda r, s: Reply(body='{"resourceType":"Bundle","link":[{"url":"' + escaped + '\\/Patient"}]}')
    response = await proxy(request("GET", "/Patient", token), services)
    assert json.loads(response.body)["link"][0]["url"] == f"{GW}/Patient"


async def test_provider_errors_pass_through_unchanged(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    outcome = b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}'
    provider.script = lambda r, s: Reply(status=404, body=outcome,
                                         headers={"Set-Cookie": "track=1", "Server": "HAPI", "ETag": 'W/"9"'})
    response = await proxy(request("GET", "/Patient/404", token), services)
    assert (response.status, response.body) == (404, outcome)
    assert response.headers["Content-Type"] == "application/fhir+json;charset=UTF-8"
    assert response.headers["ETag"] == 'W/"9"'
    assert "set-cookie" not in response.headers and "server" not in response.headers


async def test_media_types_and_xml_pass_through(services, provider):
    token = await connect(services, TENANT_A, provider.base("/dstu2"), fhir_version="DSTU2")
    xml = b'<Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>'
    provider.script = lambda r, s: Reply(body=xml, content_type="application/xml+fhir")
    response = await proxy(request("GET", "/Patient/1?_format=xml", token,
                                   headers=[("Accept", "application/xml+fhir")]), services)
    assert (response.body, response.headers["Content-Type"]) == (xml, "application/xml+fhir")
    assert provider.requests[0].raw_query == "_format=xml"
    assert provider.requests[0].header("Accept") == "application/xml+fhir"


async def test_head_returns_headers_only(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    provider.script = lambda r, s: Reply(body=b"", headers={"ETag": 'W/"3"'})
    response = await proxy(request("HEAD", "/Patient/1", token), services)
    assert response.status == 200 and response.body == b"" and response.headers["ETag"] == 'W/"3"'
    assert provider.requests[0].method == "HEAD"


async def test_writes_on_a_write_route_rewrite_location(services, provider):
    token = await connect(services, TENANT_A, provider.base("/r4"), fhir_version="R4", allow_writes=True)
    provider.script = lambda r, s: Reply(status=201, body=b"", headers={
        "Location": f"{s.base('/r4')}/Patient/7/_history/1", "Content-Location": f"{s.base('/r4')}/Patient/7"})
    response = await proxy(request("POST", "/Patient", token, body=b'{"resourceType":"Patient"}',
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    assert response.status == 201
    assert response.headers["Location"] == f"{GW}/Patient/7/_history/1"
    assert response.headers["Content-Location"] == f"{GW}/Patient/7"
    assert provider.requests[0].body == b'{"resourceType":"Patient"}'


async def test_two_tenants_reach_only_their_own_provider(services, provider):
    token_a = await connect(services, TENANT_A, provider.base("/tenant-a"))
    token_b = await connect(services, TENANT_B, provider.base("/tenant-b"))
    provider.script = lambda r, s: Reply(body={"resourceType": "Patient", "id": r.path.split("/")[1]},
                                         headers={"Set-Cookie": f"who={r.path.split('/')[1]}"})
    a = json.loads((await proxy(request("GET", "/Patient/1", token_a), services)).body)
    b = json.loads((await proxy(request("GET", "/Patient/1", token_b), services)).body)
    a_again = json.loads((await proxy(request("GET", "/Patient/1", token_a), services)).body)
    assert (a["id"], b["id"], a_again["id"]) == ("tenant-a", "tenant-b", "tenant-a")
    assert [r.path for r in provider.requests] == ["/tenant-a/Patient/1", "/tenant-b/Patient/1", "/tenant-a/Patient/1"]
    assert all(r.header("Cookie") is None for r in provider.requests)


async def test_fanout_batch_runs_entries_concurrently(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"), batch_mode="fanout")
    provider.script = lambda r, s: Reply(body={"resourceType": "Bundle", "type": "searchset", "total": 0,
                                               "link": [{"relation": "self", "url": s.base() + r.path[5:]}]},
                                         delay=0.2)
    urls = ["Patient/1", "Encounter?patient=1", "Observation?patient=1", "MedicationRequest?patient=1",
            "AllergyIntolerance?patient=1", "Condition?patient=1"]
    body = json.dumps({"resourceType": "Bundle", "type": "batch",
                       "entry": [{"request": {"method": "GET", "url": u}} for u in urls]}).encode()
    response = await proxy(request("POST", "", token, body=body,
                                   headers=[("Content-Type", "application/fhir+json")]), services)
    out = json.loads(response.body)
    assert response.status == 200 and out["type"] == "batch-response"
    assert [e["response"]["status"] for e in out["entry"]] == ["200 OK"] * 6
    assert [e["resource"]["link"][0]["url"] for e in out["entry"]] == [f"{GW}/{u.split('?')[0]}" for u in urls]
    assert sorted(r.path + "?" + r.raw_query for r in provider.requests) == sorted(
        f"/stu3/{u.split('?')[0]}?{u.split('?')[1] if '?' in u else ''}" for u in urls)


async def test_passthrough_batch_reaches_the_provider_base(services, provider):
    token = await connect(services, TENANT_A, provider.base("/dstu2"), fhir_version="DSTU2")
    body = b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/19"}}]}'
    response = await proxy(request("POST", "", token, body=body,
                                   headers=[("Content-Type", "application/json+fhir;charset=utf-8")]), services)
    assert response.status == 200
    assert (provider.requests[0].path, provider.requests[0].body) == ("/dstu2", body)

