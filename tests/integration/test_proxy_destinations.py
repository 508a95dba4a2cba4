"""Provider address rules at connect time: a DNS name resolving to a refused address is refused
before any byte reaches it (production), unless the route is marked as a private network."""

import pytest

from gateway.proxy.forward import proxy
from gateway.services import memory_services
from tests.fixtures.common import make_settings
from tests.integration.proxy_support import TENANT_A, connect, request

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


async def test_name_resolving_to_loopback_is_refused_at_connect_time(production, provider):
    import socket

    name = socket.gethostname()
    assert socket.gethostbyname(name).startswith("127.")  # this machine's own name is a loopback name
    token = await connect(production, TENANT_A, f"https://{name}:{provider.port}/stu3")
    response = await proxy(request("GET", "https://gw.example/fhir/Patient/1", token), production)
    assert response.status == 502
    assert "not allowed" in response.body.decode()
    assert provider.requests == []


async def test_private_network_route_may_connect(clock, provider):
    svc = memory_services(make_settings(), clock)
    try:
        token = await connect(svc, TENANT_A, f"http://{__import__('socket').gethostname()}:{provider.port}/stu3",
                              private_network=True)
        response = await proxy(request("GET", "/Patient/1", token), svc)
        assert response.status == 200
        assert len(provider.requests) == 1
    finally:
        await svc.aclose()


async def test_development_still_refuses_private_ranges_on_ordinary_routes(services, provider):
    token = await connect(services, TENANT_A, "http://10.255.255.1:9/stu3")
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 502
    assert provider.requests == []
