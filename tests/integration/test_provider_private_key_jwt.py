"""A ``privateKeyJwt`` route against the demo provider in SMART Backend Services mode, over real sockets.

The provider fetches the gateway's ``/oauth2/provider-jwks`` (served from the same services on a loopback
socket), verifies each RFC 7523 assertion the gateway signs with its key store, and demands its own bearer
tokens on every FHIR read. The rotation test moves past the activation delay and the retention time without
sleeping (the in-memory key store ages its versions: the provider checks assertion times on the real clock);
the provider refetches the JWKS when it meets the new ``kid``.
"""

from __future__ import annotations

import json

import pytest

from devtools.demo_provider import running_provider
from devtools.demo_provider.backend_services import BackendServicesConfig
from gateway.admin.actor import Actor
from gateway.admin.tenant_routes import RouteSpec
from gateway.http import Headers, Request
from gateway.services import memory_services
from gateway.stores.models import Client
from gateway.upstream.private_key_jwt import PrivateKeyJwtAuth
from tests.fixtures.common import make_settings
from tests.fixtures.provider_jwks import serving_provider_jwks
from tests.support.constants import DOTNET_HEADERS, TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

ACTOR = Actor("function-key:test")
GATEWAY_CLIENT = "interop-gateway"


@pytest.fixture
async def services():
    svc = memory_services(make_settings(PROVIDER_JWKS_MAX_AGE_SECONDS="2"))
    await svc.clients.create(Client(client_id="teams-patients", display_name="Teams Patients",
                                    allowed_tenants=("*",)))
    yield svc
    await svc.aclose()


async def token_for(services) -> str:
    return (await services.token_issuer.issue(client_id="teams-patients", tenant_id=TENANT_A)).access_token


async def put_route(services, provider, **auth):
    spec = RouteSpec(fhir_base_url=f"{provider.base_url}/stu3", fhir_version="STU3",
                     upstream=PrivateKeyJwtAuth(token_url=provider.token_url, client_id=GATEWAY_CLIENT,
                                                scope="system/*.rs", **auth))
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT_A, spec)
    return route


async def read_patient(services, token: str) -> dict:
    response = await proxy(request("GET", "/Patient/demo-patient-1", token, headers=DOTNET_HEADERS), services)
    assert response.status == 200, response.body[:300]
    return json.loads(response.body)


async def jwks(services, query: str = "") -> dict:
    from tests.support.surfaces import respond

    response = await respond(Request("GET", f"http://localhost:7071/oauth2/provider-jwks{query}", Headers(),
                                     {"endpoint": "provider-jwks"}), services)
    assert response.status == 200
    return json.loads(response.body)


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
async def test_a_route_reads_through_a_backend_services_provider(services, algorithm):
    async with serving_provider_jwks(services) as jwks_url, running_provider(
            backend_services=BackendServicesConfig(clients={GATEWAY_CLIENT: jwks_url})) as provider:
        route = await put_route(services, provider, algorithm=algorithm)
        assert route.upstream_auth.algorithm == algorithm and route.upstream_auth.key_name == "gateway"
        token = await token_for(services)
        patient = await read_patient(services, token)
        assert patient["id"] == "demo-patient-1"
        await read_patient(services, token)  # the provider token is reused (cached per route)
        published = (await jwks(services))["keys"]
        assert [k["alg"] for k in published] == [algorithm]
        created = [r for r in services.audit.records if r.action == "provider-key.create"]
        assert [r.target_id for r in created] == [f"gateway-{algorithm.lower()}"]


async def test_a_provider_without_the_gateway_key_refuses_and_the_read_is_a_502(services):
    async with serving_provider_jwks(services) as jwks_url, running_provider(
            backend_services=BackendServicesConfig(clients={"someone-else": jwks_url})) as provider:
        await put_route(services, provider)
        response = await proxy(request("GET", "/Patient/demo-patient-1", await token_for(services)), services)
        assert response.status == 502
        assert json.loads(response.body)["resourceType"] == "OperationOutcome"


async def test_rotation_keeps_requests_flowing(services):
    store = services.provider_keys
    ring = services.provider_key_ring
    async with serving_provider_jwks(services) as jwks_url, running_provider(
            backend_services=BackendServicesConfig(clients={GATEWAY_CLIENT: jwks_url},
                                                   jwks_refetch_seconds=0)) as provider:
        route = await put_route(services, provider)
        token = await token_for(services)
        authenticator = services.upstream_authenticator

        async def read_with_a_fresh_provider_token() -> str:
            authenticator.forget(route)  # every read asks the provider's token endpoint again
            await read_patient(services, token)
            return next(s.key.kid for s in await ring.states("gateway", "RS384") if s.status == "active")

        first = await read_with_a_fresh_provider_token()  # the provider caches a JWKS holding only the first key
        await ring.rotate("gateway", "RS384")
        ring.forget()
        # Published at once, not yet signing: the old key keeps signing and the provider's cache still works.
        assert len((await jwks(services))["keys"]) == 2
        assert await read_with_a_fresh_provider_token() == first
        store.age(ring.timing.activation + 1)
        ring.forget()
        second = await read_with_a_fresh_provider_token()  # unknown kid at the provider: it refetches, accepts
        assert second != first
        assert {k["kid"] for k in (await jwks(services))["keys"]} == {first, second}  # first: still valid ones
        store.age(ring.timing.retention + 1)
        ring.forget()
        assert [k["kid"] for k in (await jwks(services))["keys"]] == [second]
        assert await read_with_a_fresh_provider_token() == second


async def test_a_route_key_has_its_own_jwks_that_the_gateway_key_is_not_in(services):
    async with serving_provider_jwks(services) as jwks_url, running_provider(
            backend_services=BackendServicesConfig(clients={GATEWAY_CLIENT: f"{jwks_url}?key=st-mary"})) as provider:
        await put_route(services, provider, key_name="st-mary", algorithm="ES384")
        await read_patient(services, await token_for(services))
        own = (await jwks(services, "?key=st-mary"))["keys"]
        assert len(own) == 1 and own[0]["alg"] == "ES384"
        assert (await jwks(services))["keys"] == []  # the gateway key was never needed, so never created
