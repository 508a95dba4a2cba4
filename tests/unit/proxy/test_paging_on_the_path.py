"""Signed page links through the proxy (gateway.proxy.paging): every paging link an answer hands out carries a
token for the tenant, the client and the needs of the request; following it needs exactly those needs; anything
else on the base needs a system search. In-memory stores, a MockTransport provider of the HAPI family (``next`` on
the base) or of Medplum's (``next`` on the type)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from gateway.outbound.transport import MockTransport, UpstreamRequest, UpstreamResponse
from gateway.proxy import page_links
from gateway.services import Services
from gateway.stores.models import Client, Route
from tests.support.constants import GW, PROVIDER, TENANT
from tests.support.fhir import request
from tests.support.surfaces import proxy

NARROW = "narrow-client"
OTHER = "other-client"


def hapi(sent: UpstreamRequest) -> UpstreamResponse:
    """``next`` on the base, an id that names the search (computable, as the demo provider's are)."""
    split = urlsplit(sent.url)
    if split.path.endswith("/Observation") or "_getpages=obs" in split.query:
        resource = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "BP"}}
        page = "obs"
    else:
        resource = {"resourceType": "Patient", "id": "p1"}
        page = "pat"
    body = {"resourceType": "Bundle", "type": "searchset", "total": 9,
            "link": [{"relation": "self", "url": sent.url},
                     {"relation": "next", "url": f"{PROVIDER}?_getpages={page}&_getpagesoffset=2&_count=2"},
                     {"relation": "previous", "url": f"{PROVIDER}?_getpages={page}&_getpagesoffset=0&_count=2"}],
            "entry": [{"fullUrl": f"{PROVIDER}/{resource['resourceType']}/x", "resource": resource}]}
    return UpstreamResponse(200, [("Content-Type", "application/fhir+json")], json.dumps(body).encode(), "OK")


@pytest.fixture
async def connected(services: Services):
    for client, scopes in ((NARROW, "system/Observation.rs"), (OTHER, "system/*.rs")):
        await services.clients.create(Client(client_id=client, display_name=client, allowed_tenants=(TENANT,),
                                             allowed_scopes=scopes))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="STU3"))
    transport = services.use_transport(MockTransport(hapi))
    return services, transport


async def token(services: Services, client: str = NARROW, scope: str | None = None) -> str:
    claim = TENANT if scope is None else f"{TENANT} {scope}"
    return (await services.token_issuer.issue(client_id=client, tenant_id=TENANT, scope=claim)).access_token


def links(response) -> dict[str, str]:
    assert response.status == 200, response.body
    return {link["relation"]: link["url"] for link in json.loads(response.body)["link"]}


async def test_paging_links_carry_a_token_and_a_narrow_client_pages_to_the_end(connected):
    services, transport = connected
    narrow = await token(services)
    first = links(await proxy(request("GET", "/Observation?patient=1&_count=2", narrow), services))
    assert first["next"].startswith(f"{GW}?_getpages=obs&_getpagesoffset=2&_count=2&{page_links.PAGE_PARAMETER}=v1.")
    assert page_links.PAGE_PARAMETER in first["previous"]
    assert page_links.PAGE_PARAMETER not in first["self"]  # the search itself: judged as any search
    second = await proxy(request("GET", first["next"], narrow), services)
    assert second.status == 200
    assert transport.requests[1].url == f"{PROVIDER}?_getpages=obs&_getpagesoffset=2&_count=2"  # token taken off
    third = links(second)["next"]  # a continuation's own links are signed again, with the same needs
    assert (await proxy(request("GET", third, narrow), services)).status == 200


async def test_the_headline_attack_a_type_added_to_a_base_page_link(connected):
    """With ``system/Patient.rs``, a base page link with ``&_type=Patient`` added (or an Observation page's id put
    in a signed Patient link) must not reach the Observation page the id names."""
    services, transport = connected
    patient_only = await token(services, OTHER, "system/Patient.rs")
    signed = links(await proxy(request("GET", "/Patient?name=x", patient_only), services))["next"]
    assert (await proxy(request("GET", signed, patient_only), services)).status == 200
    sent_before = len(transport.requests)
    head, _, token_part = signed.rpartition("&")
    attacks = [
        f"{GW}?_getpages=obs&_getpagesoffset=2&_count=2&_type=Patient",        # unsigned, with a type added
        f"{head}&_type=Patient&{token_part}",                                  # signed link, a type added
        f"{head.replace('_getpages=pat', '_getpages=obs')}&{token_part}",      # signed link, another page's id
        f"{head};_type=Observation&{token_part}",                               # a parameter split off with ';'
        f"{signed}&_type=Patient",                                             # the token no longer last
    ]
    for attack in attacks:
        response = await proxy(request("GET", attack, patient_only), services)
        assert response.status == 403, attack
        assert json.loads(response.body)["issue"][0]["code"] == "forbidden"
    assert len(transport.requests) == sent_before  # none reached the provider


async def test_a_link_works_for_its_own_client_and_tenant_only(connected):
    services, transport = connected
    signed = links(await proxy(request("GET", "/Observation?patient=1", await token(services)), services))["next"]
    other = await token(services, OTHER, "system/Observation.rs")
    assert (await proxy(request("GET", signed, other), services)).status == 403  # another client's link
    wide = await token(services, OTHER)  # a client that may search every type needs no token at all
    assert (await proxy(request("GET", signed, wide), services)).status == 200


async def test_a_link_expires_with_the_token_lifetime(connected, clock):
    services, _ = connected
    narrow = await token(services)
    signed = links(await proxy(request("GET", "/Observation?patient=1", narrow), services))["next"]
    clock.advance(services.settings.token_lifetime_seconds - 5)
    fresh = await token(services)  # the client got a new access token meanwhile
    assert (await proxy(request("GET", signed, fresh), services)).status == 200
    clock.advance(10)
    assert (await proxy(request("GET", signed, await token(services)), services)).status == 403


async def test_a_link_needs_the_scopes_now_not_only_when_it_was_signed(connected):
    services, _ = connected
    signed = links(await proxy(request("GET", "/Observation?patient=1", await token(services)), services))["next"]
    narrower = await token(services, scope="system/Patient.rs")  # a token of the same client without Observation
    assert (await proxy(request("GET", signed, narrower), services)).status == 403


async def test_a_link_survives_a_restart_and_works_on_another_instance(connected):
    """The MAC key comes from the key ring's signing key (Key Vault): a fresh worker over the same stores derives
    the same one."""
    services, transport = connected
    signed = links(await proxy(request("GET", "/Observation?patient=1", await token(services)), services))["next"]
    other = Services(settings=services.settings, routes=services.routes, clients=services.clients,
                     audit=services.audit, secrets=services.secrets, clock=services.clock, transport=transport)
    try:
        response = await proxy(request("GET", signed, await token(other)), other)
        assert response.status == 200
    finally:
        await other.aclose()


async def test_a_link_signed_before_a_key_rotation_keeps_working_on_this_worker(connected):
    services, _ = connected
    signed = links(await proxy(request("GET", "/Observation?patient=1", await token(services)), services))["next"]
    await services.signing_key_admin.rotate()
    services.key_ring.invalidate()
    fresh = links(await proxy(request("GET", "/Observation?patient=1", await token(services)), services))["next"]
    kid = lambda url: url.split(f"{page_links.PAGE_PARAMETER}=")[1].split(".")[1]  # noqa: E731
    assert kid(signed) != kid(fresh)  # new links carry the new key's kid
    assert (await proxy(request("GET", signed, await token(services)), services)).status == 200


async def test_a_link_signed_before_a_key_rotation_works_on_a_worker_started_after_it(connected):
    """The previous key stays published until it retires, so a worker that never signed with it still derives its
    MAC key from the key ring."""
    services, transport = connected
    narrow = await token(services, scope="system/Observation.rs")
    signed = links(await proxy(request("GET", "/Observation?patient=1", narrow), services))["next"]
    await services.signing_key_admin.rotate()
    later = Services(settings=services.settings, routes=services.routes, clients=services.clients,
                     audit=services.audit, secrets=services.secrets, clock=services.clock, transport=transport)
    try:
        assert (await proxy(request("GET", signed, await token(later, scope="system/Observation.rs")), later)).status \
            == 200
        tampered = signed.replace("_count=2", "_count=3")
        assert (await proxy(request("GET", tampered, await token(later, scope="system/Observation.rs")),
                            later)).status == 403
    finally:
        await later.aclose()


async def test_a_link_re_encoded_by_the_client_still_works(connected):
    services, transport = connected
    narrow = await token(services)
    signed = links(await proxy(request("GET", "/Observation?code=http://loinc.org|85354-9", narrow), services))
    self_link = signed["next"]
    assert (await proxy(request("GET", self_link.replace("_count=2", "_count=%32"), narrow), services)).status == 200
    assert transport.requests[-1].url.endswith("_count=%32")  # forwarded as the client sent it


async def test_links_of_a_batch_responses_searchsets_are_signed_too(connected):
    services, _ = connected

    def batch(sent: UpstreamRequest) -> UpstreamResponse:
        inner = json.loads(hapi(UpstreamRequest("GET", f"{PROVIDER}/Observation", [])).body)
        return UpstreamResponse(200, [("Content-Type", "application/fhir+json")], json.dumps({
            "resourceType": "Bundle", "type": "batch-response",
            "entry": [{"resource": inner, "response": {"status": "200 OK"}}]}).encode(), "OK")

    services.use_transport(MockTransport(batch))
    narrow = await token(services)
    body = {"resourceType": "Bundle", "type": "batch",
            "entry": [{"request": {"method": "GET", "url": "Observation?patient=1"}}]}
    answer = await proxy(request("POST", "", narrow, body=json.dumps(body).encode(),
                                 headers=[("Content-Type", "application/fhir+json")]), services)
    inner_next = next(link["url"] for link in json.loads(answer.body)["entry"][0]["resource"]["link"]
                      if link["relation"] == "next")
    services.use_transport(MockTransport(hapi))
    assert (await proxy(request("GET", inner_next, narrow), services)).status == 200


async def test_a_bridged_continuation_goes_as_the_provider_wrote_it(services):
    """A DSTU2 client on an R4 provider of Medplum's kind (``next`` on the type, with ``_offset``, which no
    translation knows): the link comes back on the DSTU2 base in DSTU2 terms, and goes out as R4 wrote it."""

    def medplum(sent: UpstreamRequest) -> UpstreamResponse:
        resource = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
                    "medicationCodeableConcept": {"text": "x"}, "subject": {"reference": "Patient/p1"}}
        body = {"resourceType": "Bundle", "type": "searchset",
                "link": [{"relation": "self", "url": sent.url},
                         {"relation": "next", "url": f"{PROVIDER}/MedicationRequest?patient=p1&_offset=1&_count=1"}],
                "entry": [{"fullUrl": f"{PROVIDER}/MedicationRequest/m1", "resource": resource}]}
        return UpstreamResponse(200, [("Content-Type", "application/fhir+json")], json.dumps(body).encode(), "OK")

    await services.clients.create(Client(client_id=NARROW, display_name="x", allowed_tenants=(TENANT,),
                                         allowed_scopes="system/MedicationOrder.rs"))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="R4"))
    transport = services.use_transport(MockTransport(medplum))
    narrow = await token(services)
    first = links(await proxy(request("GET", "/DSTU2/MedicationOrder?patient=p1&_count=1", narrow), services))
    assert first["next"].startswith(f"{GW}/DSTU2/MedicationOrder?patient=p1&_offset=1&_count=1&_gateway_page=")
    second = await proxy(request("GET", first["next"], narrow), services)
    assert second.status == 200
    assert transport.requests[1].url == f"{PROVIDER}/MedicationRequest?patient=p1&_offset=1&_count=1"
    assert json.loads(second.body)["entry"][0]["resource"]["resourceType"] == "MedicationOrder"
    unsigned = first["next"].rpartition("&")[0]  # without the token: a new DSTU2 search, translated, and refused
    refused = await proxy(request("GET", unsigned, narrow), services)
    assert refused.status == 400 and "_offset" in json.loads(refused.body)["issue"][0]["diagnostics"]


def test_the_canonical_continuation_reads_both_separators_and_every_encoding() -> None:
    from gateway.proxy.paging import continuation

    assert continuation("", "_getpages=a&_count=2") == continuation("", "_getpages=%61&_count=%32")
    assert continuation("Observation", "code=a|b") == continuation("Observation", "code=a%7Cb")
    assert continuation("", "a=x;b=y") == continuation("", "a=x&b=y") != continuation("", "a=x%3Bb%3Dy")
    assert continuation("", "a") != continuation("", "a=")
    assert dict(parse_qsl(continuation("", "q=a+b").partition("?")[2])) == {"q": "a b"}


def answering(body: bytes, content_type: str = "application/fhir+json"):
    return MockTransport(lambda sent: UpstreamResponse(200, [("Content-Type", content_type)], body, "OK"))


async def test_in_one_answer_a_link_elsewhere_is_dropped_and_the_own_paging_links_are_signed(connected):
    """Links are checked and signed in the one pass that rewrites them: a Bundle that has to be parsed because a
    link goes elsewhere still gets its own paging links signed, and the dropped link no token."""
    services, _ = connected
    body = {"resourceType": "Bundle", "type": "searchset",
            "link": [{"relation": "self", "url": f"{PROVIDER}/Observation?patient=1"},
                     {"relation": "previous", "url": "https://evil.example/fhir?_getpages=obs&_getpagesoffset=0"},
                     {"relation": "next", "url": f"{PROVIDER}?_getpages=obs&_getpagesoffset=2&_count=2"}]}
    services.use_transport(answering(json.dumps(body).encode()))
    narrow = await token(services)
    found = links(await proxy(request("GET", "/Observation?patient=1", narrow), services))
    assert set(found) == {"self", "next"}
    assert found["next"].startswith(f"{GW}?_getpages=obs&_getpagesoffset=2&_count=2&{page_links.PAGE_PARAMETER}=v1.")
    services.use_transport(MockTransport(hapi))
    assert (await proxy(request("GET", found["next"], narrow), services)).status == 200


async def test_json_escaped_and_xml_paging_links_are_signed_as_they_are_written(connected):
    services, _ = connected
    narrow = await token(services)
    escaped = json.dumps({"resourceType": "Bundle", "type": "searchset", "link": [
        {"relation": "next", "url": f"{PROVIDER}?_getpages=obs&_getpagesoffset=2"}]}).replace("/", "\\/")
    services.use_transport(answering(escaped.encode()))
    signed = links(await proxy(request("GET", "/Observation?patient=1", narrow), services))["next"]
    xml = (f'<Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/><link><relation value="next"/>'
           f'<url value="{PROVIDER}?_getpages=obs&amp;_getpagesoffset=2"/></link></Bundle>')
    services.use_transport(answering(xml.encode(), "application/fhir+xml"))
    answer = (await proxy(request("GET", "/Observation?patient=1", narrow), services)).body.decode()
    written = answer.split('<url value="')[1].split('"')[0]
    assert written.startswith(f"{GW}?_getpages=obs&amp;_getpagesoffset=2&amp;{page_links.PAGE_PARAMETER}=v1.")
    services.use_transport(MockTransport(hapi))
    for link in (signed, written.replace("&amp;", "&")):
        assert link.startswith(f"{GW}?_getpages=obs&_getpagesoffset=2&{page_links.PAGE_PARAMETER}=v1.")
        assert (await proxy(request("GET", link, narrow), services)).status == 200


async def test_a_body_that_is_not_fhir_or_text_gets_no_page_token(connected):
    """Page tokens are written where links are rewritten: in FHIR, JSON, XML and text bodies. A Binary served
    as a download is not a page of a search, and its bytes pass as the provider sent them."""
    services, _ = connected
    body = json.dumps({"resourceType": "Bundle", "link": [{"relation": "next", "url": f"{GW}?_getpages=obs"}]})
    services.use_transport(answering(body.encode(), "application/octet-stream"))
    answer = await proxy(request("GET", "/Binary/1", await token(services, OTHER)), services)
    assert answer.status == 200 and answer.body == body.encode()
