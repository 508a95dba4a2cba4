"""A hospital's provider token never reaches another origin, whatever sequence of admin calls a key holder makes.

A hospital registers one of the gateway's assertion keys (its JWKS URL) for a client id. The attacks below are the
outside review's: copy the hospital route's ``tokenUrl`` and ``clientId`` onto a route whose ``fhirBaseUrl`` is the
attacker's server; move the hospital route's ``fhirBaseUrl`` there; and the same after deleting the route or
switching its authentication away and back. The gateway runs in process on the in-memory stores and the admin API;
the hospital and the attacker are two real loopback servers, so every provider token the gateway obtains travels
over a real socket, and the attacker server's recording shows that none ever arrives there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import jwt
import pytest

from gateway.stores.models import Client, Route, UpstreamAuth
from tests.fixtures.provider import ProviderServer, Recorded, Reply, default_script
from tests.support.constants import CLIENT_ID, TENANT_A, TENANT_B
from tests.support.fhir import request
from tests.support.surfaces import proxy
from tests.unit.admin.conftest import AdminCaller

pytestmark = pytest.mark.integration

HOSPITAL_CLIENT_ID = "gateway-at-st-mary"
HOSPITAL_TOKEN = "st-mary-provider-token-" + "q" * 24


class Hospital:
    """The hospital's token endpoint: a token for an assertion of its registered client id signed by a key whose
    ``kid`` it registered (the JWKS URL it was given), 401 for anything else; its FHIR server under ``/fhir``."""

    def __init__(self, server: ProviderServer) -> None:
        self.server = server
        self.registered_kids: set[str] = set()
        self.issued = 0
        server.script = self.answer

    @property
    def token_url(self) -> str:
        return self.server.base("/auth/token")

    def answer(self, recorded: Recorded, server: ProviderServer) -> Reply:
        if recorded.path != "/auth/token":
            return default_script(recorded, server)
        assertion = parse_qs(recorded.body.decode())["client_assertion"][0]
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
        if header.get("kid") not in self.registered_kids or claims.get("iss") != HOSPITAL_CLIENT_ID:
            return Reply(status=401, body={"error": "invalid_client"}, content_type="application/json")
        self.issued += 1
        return Reply(body={"access_token": HOSPITAL_TOKEN, "expires_in": 300, "token_type": "bearer"},
                     content_type="application/json")


@pytest.fixture
def attacker() -> Iterator[ProviderServer]:
    server = ProviderServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def stack(services, provider, attacker):
    """The hospital route of TENANT_A (a key of its own, registered at the hospital) and a client allowed both
    tenants."""
    hospital = Hospital(provider)
    admin = AdminCaller(services)
    await services.clients.create(Client(client_id=CLIENT_ID, display_name="client", allowed_tenants=("*",)))
    saved = await admin("PUT", f"/manage/routes/{TENANT_A}", route(hospital.server.base("/fhir"), hospital))
    assert saved.status == 201, saved.json()
    key_name = saved.json()["upstreamAuth"]["keyName"]
    published = await services.provider_key_ring.jwks(key_name)
    hospital.registered_kids = {k["kid"] for k in published["keys"]}  # the hospital registered this key's set
    token = await access_token(services, TENANT_A)
    assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200
    assert hospital.issued == 1
    return admin, hospital, key_name


def route(base: str, hospital: Hospital, **auth) -> dict:
    return {"fhirBaseUrl": base, "fhirVersion": "STU3",
            "upstreamAuth": {"type": "privateKeyJwt", "tokenUrl": hospital.token_url, "clientId": HOSPITAL_CLIENT_ID,
                             "scope": "system/*.rs", **auth}}


async def access_token(services, tenant: str) -> str:
    return (await services.token_issuer.issue(client_id=CLIENT_ID, tenant_id=tenant)).access_token


async def read_through(services, tenant: str) -> int:
    return (await proxy(request("GET", "/Patient/1", await access_token(services, tenant)), services)).status


def no_hospital_token_reached(attacker: ProviderServer) -> None:
    for recorded in attacker.requests:
        assert HOSPITAL_TOKEN not in (recorded.header("Authorization") or "")
        assert HOSPITAL_TOKEN.encode() not in recorded.body


def refused_for_the_key(reply) -> None:
    assert reply.status == 422, reply.json()
    assert "upstreamAuth/keyName" in [e["field"] for e in reply.json()["errors"]]


async def test_copying_token_url_and_client_id_onto_a_route_to_another_server_gets_no_hospital_token(
        services, stack, attacker):
    admin, hospital, key_name = stack
    evil = attacker.base("/fhir")
    refused_for_the_key(await admin("PUT", f"/manage/routes/{TENANT_B}", route(evil, hospital, keyName=key_name)))
    assert [r.outcome for r in services.audit.records if r.action == "route.put"][-1] == (
        "failed:422 provider-key-bound-elsewhere")
    # Without naming the key, the route gets a key of its own: the hospital never registered it.
    own = await admin("PUT", f"/manage/routes/{TENANT_B}", route(evil, hospital))
    assert own.status == 201 and own.json()["upstreamAuth"]["keyName"] != key_name
    # The shared default key is no way round it either: bound to its first route's origins.
    assert (await admin("PUT", f"/manage/routes/{TENANT_B}", route(evil, hospital, keyName="gateway"))).status == 200
    assert await read_through(services, TENANT_B) == 502
    assert hospital.issued == 1
    no_hospital_token_reached(attacker)


async def test_moving_the_hospital_routes_fhir_base_gets_no_hospital_token_there(services, stack, attacker):
    admin, hospital, key_name = stack
    evil = attacker.base("/fhir")
    refused_for_the_key(await admin("PUT", f"/manage/routes/{TENANT_A}", route(evil, hospital, keyName=key_name)))
    moved = await admin("PUT", f"/manage/routes/{TENANT_A}", route(evil, hospital))
    assert moved.status == 200 and moved.json()["upstreamAuth"]["keyName"] != key_name
    record = [r for r in services.audit.records if r.action == "route.replace"][-1]
    assert {"fhirBaseUrl", "upstreamAuth/keyName"} <= set(record.details["boundFieldsMoved"])
    assert await read_through(services, TENANT_A) == 502
    assert hospital.issued == 1
    no_hospital_token_reached(attacker)


@pytest.mark.parametrize("detour", ["delete", "switch-to-none"])
async def test_no_detour_frees_the_hospitals_key(services, stack, attacker, detour):
    admin, hospital, key_name = stack
    evil = attacker.base("/fhir")
    if detour == "delete":
        assert (await admin("DELETE", f"/manage/routes/{TENANT_A}")).status == 204
    else:
        body = {"fhirBaseUrl": evil, "fhirVersion": "STU3", "upstreamAuth": {"type": "none"}}
        assert (await admin("PUT", f"/manage/routes/{TENANT_A}", body)).status == 200
    for tenant in (TENANT_A, TENANT_B):
        refused_for_the_key(await admin("PUT", f"/manage/routes/{tenant}", route(evil, hospital, keyName=key_name)))
    assert hospital.issued == 1
    no_hospital_token_reached(attacker)


async def test_a_key_shared_before_bindings_is_bound_to_the_routes_using_it(services, provider, attacker):
    """Routes saved before this rule all signed with the shared ``gateway`` key: each keeps working, none can move,
    and no new route can join it at another origin."""
    hospital = Hospital(provider)
    admin = AdminCaller(services)
    await services.provider_key_ring.ensure("gateway", "RS384")
    legacy = UpstreamAuth(type="privateKeyJwt", token_url=hospital.token_url, client_id=HOSPITAL_CLIENT_ID,
                          algorithm="RS384", scope="system/*.rs")  # no keyName: the shared key
    await services.routes.create(Route(tenant_id=TENANT_A, fhir_base_url=hospital.server.base("/fhir"),
                                       fhir_version="STU3", upstream_auth=legacy))
    evil = attacker.base("/fhir")
    refused_for_the_key(await admin("PUT", f"/manage/routes/{TENANT_B}", route(evil, hospital, keyName="gateway")))
    bound = [r for r in services.audit.records if r.action == "provider-key.bind"]
    assert [(r.target_id, r.details["from"]) for r in bound] == [("gateway", "routes using it")]
    kept = await admin("PUT", f"/manage/routes/{TENANT_A}", route(hospital.server.base("/fhir/r4"), hospital))
    assert kept.status == 200 and kept.json()["upstreamAuth"]["keyName"] == "gateway"  # same origins: kept
    refused_for_the_key(await admin("PUT", f"/manage/routes/{TENANT_A}", route(evil, hospital, keyName="gateway")))
    assert json.loads((await admin("GET", f"/manage/routes/{TENANT_A}")).response.body)["fhirBaseUrl"] == (
        hospital.server.base("/fhir/r4"))
