"""Provider address rules at connect time: a DNS name resolving to a refused address is refused
before any byte reaches it (production), unless the route is marked as a private network."""


import pytest

from gateway.outbound.transport import AiohttpTransport
from gateway.services import memory_services
from tests.fixtures.common import make_settings
from tests.fixtures.provider import connect
from tests.fixtures.resolver import StaticResolver
from tests.support.constants import TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration

PRODUCTION = dict(GATEWAY_ENVIRONMENT="production", PUBLIC_BASE_URL="https://gw.example",
                  KEY_VAULT_URL="https://kv.vault.azure.net", TABLES_ENDPOINT="https://t.table.core.windows.net")



@pytest.fixture
async def production(clock):
    svc = memory_services(make_settings(**PRODUCTION), clock)
    yield svc
    await svc.aclose()


async def test_ip_literal_route_is_refused_in_production(production, provider):
    token = await connect(production, TENANT_A, f"https://127.0.0.1:{provider.port}/stu3")
    response = await proxy(request("GET", "https://gw.example/fhir/Patient/1", token), production)
    assert response.status == 502
    assert provider.requests == []


@pytest.mark.parametrize("addresses", [("127.0.0.1",), ("10.0.0.8",), ("169.254.169.254",),
                                       ("93.184.216.34", "127.0.0.1")])
async def test_name_resolving_to_a_refused_address_is_refused_at_connect_time(production, provider, addresses):
    resolver = StaticResolver(*addresses)
    production.use_transport(AiohttpTransport(production.settings, resolver=resolver))
    token = await connect(production, TENANT_A, f"https://ehr.hospital.example:{provider.port}/stu3")
    response = await proxy(request("GET", "https://gw.example/fhir/Patient/1", token), production)
    assert response.status == 502
    assert "not allowed" in response.body.decode()
    assert "ehr.hospital.example" not in response.body.decode()
    assert resolver.asked == ["ehr.hospital.example"]  # the check ran on the resolved address
    assert provider.requests == []


async def test_private_network_route_may_connect_to_a_private_address_in_production(production, provider):
    resolver = StaticResolver("10.255.255.1")
    production.use_transport(AiohttpTransport(production.settings, resolver=resolver))
    token = await connect(production, TENANT_A, f"https://ehr.internal.example:{provider.port}/stu3",
                          private_network=True, connect_timeout_seconds=0.5)
    response = await proxy(request("GET", "https://gw.example/fhir/Patient/1", token), production)
    # The address check passes and the gateway tries to connect; nothing answers at that address here, so the
    # answer is a 502/504 failure, but not the "address not allowed" refusal.
    assert response.status in (502, 504)
    assert "not allowed" not in response.body.decode()
    assert resolver.asked == ["ehr.internal.example"]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "0.0.0.0", "169.254.10.10", "fe80::1", "64:ff9b::a9fe:a9fe"])
async def test_private_network_route_never_connects_to_loopback_unspecified_or_link_local(production, provider,
                                                                                          address):
    resolver = StaticResolver(address)
    production.use_transport(AiohttpTransport(production.settings, resolver=resolver))
    token = await connect(production, TENANT_A, f"https://ehr.internal.example:{provider.port}/stu3",
                          private_network=True)
    response = await proxy(request("GET", "https://gw.example/fhir/Patient/1", token), production)
    assert response.status == 502 and "not allowed" in response.body.decode()
    assert provider.requests == []


async def test_development_refuses_a_name_resolving_to_a_private_address(clock, provider):
    svc = memory_services(make_settings(), clock)
    try:
        svc.use_transport(AiohttpTransport(svc.settings, resolver=StaticResolver("10.0.0.8")))
        token = await connect(svc, TENANT_A, f"http://ehr.internal.example:{provider.port}/stu3")
        response = await proxy(request("GET", "/Patient/1", token), svc)
        assert response.status == 502 and "not allowed" in response.body.decode()
        assert provider.requests == []
    finally:
        await svc.aclose()


async def test_development_still_refuses_private_ranges_on_ordinary_routes(services, provider):
    token = await connect(services, TENANT_A, "http://10.255.255.1:9/stu3")
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 502
    assert provider.requests == []
