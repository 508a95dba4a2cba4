"""A route's fhirVersion is its provider's: checked against the provider's metadata at every save (a contradiction
is an audited 422 naming what the provider states; an unreadable metadata leaves the route unverified, said in
the answer and the audit record) and on demand (``POST /manage/routes/{tenantId}/verify``). The provider here is
a MockTransport; the destination rules over real sockets are tests/security/test_provider_urls.py's."""

from __future__ import annotations

import json

import pytest

from gateway.admin.provider_metadata import compare
from gateway.outbound.transport import MockTransport, UpstreamRequest, UpstreamResponse, UpstreamUnreachable
from tests.support.constants import TENANT
from tests.unit.admin.conftest import route_body

BASE = "http://127.0.0.1:9999/fhir"


def metadata(number: str | None, status: int = 200, resource_type: str = "CapabilityStatement"):
    def answer(sent: UpstreamRequest) -> UpstreamResponse:
        document = {"resourceType": resource_type, "status": "active", "kind": "instance"}
        if number is not None:
            document["fhirVersion"] = number
        return UpstreamResponse(status, [("Content-Type", "application/fhir+json")], json.dumps(document).encode(), "")
    return answer


def unreachable(sent: UpstreamRequest) -> UpstreamResponse:
    raise UpstreamUnreachable("refused")


async def audit_of(services, action: str) -> list:
    return [r for r in (await services.audit.query(page_size=100)).items if r.action == action]


async def test_a_version_the_providers_metadata_contradicts_is_refused_naming_what_it_states(services, admin):
    transport = services.use_transport(MockTransport(metadata("4.0.1")))
    reply = await admin("PUT", f"/manage/routes/{TENANT}", route_body(fhirVersion="STU3"))
    assert reply.status == 422
    problem = reply.json()
    assert problem["errors"] == [{"field": "fhirVersion", "message": "the provider's metadata states fhirVersion "
                                                                     "4.0.1 (FHIR R4), not STU3"}]
    assert await services.routes.get(TENANT) is None
    [refused] = await audit_of(services, "route.put")
    assert refused.outcome == "failed:422 fhir-version-mismatch"
    [sent] = transport.requests
    assert (sent.method, sent.url) == ("GET", f"{BASE}/metadata")
    assert not any(k.lower() == "authorization" for k, _ in sent.headers)  # metadata is open: no credentials


@pytest.mark.parametrize("declared, number", [("R4", "4.0.1"), ("R4", "4.0.0"), ("STU3", "3.0.2"),
                                              ("DSTU2", "1.0.2")])
async def test_a_confirmed_version_is_saved_and_said_verified(services, admin, declared, number):
    services.use_transport(MockTransport(metadata(number, resource_type="Conformance" if declared == "DSTU2"
                                                  else "CapabilityStatement")))
    reply = await admin("PUT", f"/manage/routes/{TENANT}", route_body(fhirVersion=declared))
    assert reply.status == 201
    assert reply.json()["fhirVersion"] == declared
    assert reply.json()["fhirVersionCheck"] == {"status": "verified", "declaredFhirVersion": declared,
                                                "observedFhirVersion": number,
                                                "detail": f"the provider states fhirVersion {number}"}
    [created] = await audit_of(services, "route.create")
    assert created.details["fhirVersionCheck"]["status"] == "verified"


@pytest.mark.parametrize("handler, detail", [
    (unreachable, "could not be read (UpstreamUnreachable)"),
    (metadata("4.0.1", status=401), "answered HTTP 401 (it asks for authentication)"),
    (metadata(None), "not a FHIR JSON capability statement"),
    (metadata("4.0.1", resource_type="Patient"), "not a FHIR JSON capability statement"),
    (metadata("5.0.0"), "fhirVersion 5.0.0, which the gateway does not serve"),
])
async def test_a_provider_that_cannot_confirm_does_not_block_the_save(services, admin, handler, detail):
    services.use_transport(MockTransport(handler))
    reply = await admin("PUT", f"/manage/routes/{TENANT}", route_body(fhirVersion="R4"))
    assert reply.status == 201
    check = reply.json()["fhirVersionCheck"]
    assert check["status"] == "unverified" and detail in check["detail"]
    [created] = await audit_of(services, "route.create")
    assert created.details["fhirVersionCheck"]["status"] == "unverified"
    strict = await admin("PUT", f"/manage/routes/{TENANT}?requireVerified=true", route_body(fhirVersion="R4",
                                                                                          displayName="strict"))
    assert strict.status == 422 and strict.json()["errors"][0]["field"] == "fhirVersion"
    assert (await services.routes.get(TENANT)).display_name == "Contoso Hospital"  # unchanged
    [refused] = await audit_of(services, "route.put")
    assert refused.outcome == "failed:422 fhir-version-unverified"


async def test_require_verified_takes_true_or_false_only(services, admin):
    services.use_transport(MockTransport(metadata("3.0.1")))
    assert (await admin("PUT", f"/manage/routes/{TENANT}?requireVerified=true", route_body())).status == 201
    assert (await admin("PUT", f"/manage/routes/{TENANT}?requireVerified=yes", route_body())).status == 400


async def test_verify_checks_a_stored_route_again_on_demand(services, admin):
    services.use_transport(MockTransport(metadata("3.0.1")))
    assert (await admin("PUT", f"/manage/routes/{TENANT}", route_body(fhirVersion="STU3"))).status == 201
    ok = await admin("POST", f"/manage/routes/{TENANT}/verify")
    assert ok.status == 200 and ok.json()["status"] == "verified"
    services.use_transport(MockTransport(metadata("4.0.1")))  # the hospital upgraded its server since
    moved = await admin("POST", f"/manage/routes/{TENANT}/verify")
    assert moved.status == 200 and moved.json() == {
        "status": "mismatch", "declaredFhirVersion": "STU3", "observedFhirVersion": "4.0.1",
        "detail": "the provider's metadata states fhirVersion 4.0.1 (FHIR R4), not STU3"}
    checks = await audit_of(services, "route.verify")
    assert sorted(c.details["fhirVersionCheck"]["status"] for c in checks) == ["mismatch", "verified"]
    assert (await admin("POST", "/manage/routes/11111111-2222-3333-4444-555555555555/verify")).status == 404
    assert (await admin("GET", f"/manage/routes/{TENANT}/verify")).status == 405


async def test_what_a_provider_states_is_shown_as_printable_ascii_only(services, admin):
    services.use_transport(MockTransport(metadata("4.0.1\u202e\n" + "9" * 100)))
    check = (await admin("PUT", f"/manage/routes/{TENANT}", route_body(fhirVersion="R4"))).json()["fhirVersionCheck"]
    assert check["observedFhirVersion"] == "4.0.1" + "9" * 33  # at most 40 characters, the rest dropped


def test_only_the_major_and_minor_release_decide() -> None:
    assert [compare("R4", n).status for n in ("4.0.1", "4.0.0", "4.0.1-cibuild", "3.0.1", "4.3.0", "x")] == [
        "verified", "verified", "verified", "mismatch", "unverified", "unverified"]
