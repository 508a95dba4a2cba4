"""The proxy on the real stores: routes and clients in Azurite, signing keys in the Key Vault emulator.
While Table Storage is down, a recently cached route keeps serving (stale-if-error) and says so in the log."""

import dataclasses
import json

import pytest

from gateway.services import build_services
from tests.fixtures.provider import connect
from tests.support.constants import TENANT_A, TENANT_B
from tests.support.fhir import request
from tests.support.surfaces import proxy

pytestmark = pytest.mark.integration


async def test_cached_route_serves_while_azurite_is_down(azure_settings, azurite, provider, caplog):
    settings = dataclasses.replace(azure_settings, route_cache_seconds=0, client_cache_seconds=0)
    services = await build_services(settings)
    await services.admin_api.deployment.ensure()
    try:
        token = await connect(services, TENANT_A, provider.base("/stu3"))
        other = await connect(services, TENANT_B, provider.base("/other"))
        assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200
        azurite.stop()
        try:
            response = await proxy(request("GET", "/Patient/2", token), services)
            assert response.status == 200
            assert provider.requests[-1].path == "/stu3/Patient/2"
            assert "store unavailable, serving a stale entry" in caplog.text
            never_cached = await proxy(request("GET", "/Patient/3", other), services)
            assert never_cached.status == 503
            assert json.loads(never_cached.body)["resourceType"] == "OperationOutcome"
            assert [r.path for r in provider.requests] == ["/stu3/Patient/1", "/stu3/Patient/2"]
        finally:
            azurite.start()
    finally:
        await services.aclose()
