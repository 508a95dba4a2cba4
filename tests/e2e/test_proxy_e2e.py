"""The proxy end to end: client -> local Functions host (fhir_proxy_fn) -> recording provider, over
real sockets, with routes and clients in Azurite and signing keys in the Key Vault emulator."""

import json

import aiohttp
import pytest
from yarl import URL

from gateway.config import Settings
from gateway.services import Services
from tests.fixtures.provider import connect
from tests.support.constants import BASE_URL as ADVERTISED
from tests.support.constants import DOTNET_HEADERS, TENANT_A, TENANT_B

pytestmark = pytest.mark.e2e



def host_env(settings: Settings, azurite, keyvault) -> dict[str, str]:
    return {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": ADVERTISED, **azurite.settings(),
            **keyvault.settings(), "TABLE_NAME_PREFIX": settings.table_name_prefix,
            "KEY_VAULT_SECRET_PREFIX": settings.key_vault_secret_prefix}


async def test_reference_client_through_the_local_host(azure_settings: Settings, azure_services: Services,
                                                       azurite, keyvault, funchost, provider):
    token_a = await connect(azure_services, TENANT_A, provider.base("/stu3"))
    token_b = await connect(azure_services, TENANT_B, provider.base("/dstu2"), fhir_version="DSTU2")
    host = funchost(host_env(azure_settings, azurite, keyvault))
    fhir = f"{host.base_url}/fhir"
    async with aiohttp.ClientSession(headers=DOTNET_HEADERS) as http:
        query = "patient=SMART-1288992&_sort:desc=date&category=vital-signs"
        async with http.get(f"{fhir}/Observation?{query}", headers={"Authorization": f"Bearer {token_a}"}) as r:
            assert r.status == 200
            first = json.loads(await r.read())
        assert (provider.requests[-1].path, provider.requests[-1].raw_query) == ("/stu3/Observation", query)
        assert provider.requests[-1].header("Authorization") is None
        next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
        assert next_url.startswith(f"{ADVERTISED}/fhir")
        async with http.get(next_url.replace(ADVERTISED, host.base_url),
                            headers={"Authorization": f"Bearer {token_a}"}) as r:
            assert r.status == 200
        assert provider.requests[-1].raw_query == "_getpages=abc&_getpagesoffset=10"

        async with http.post(f"{fhir}/DSTU2/Patient/_search", data=b"name:contains=chau",
                             headers={"Authorization": f"Bearer {token_b}",
                                      "Content-Type": "application/x-www-form-urlencoded"}) as r:
            assert r.status == 200
        assert (provider.requests[-1].path, provider.requests[-1].body) == ("/dstu2/Patient/_search",
                                                                          b"name:contains=chau")
        batch = b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/19"}}]}'
        async with http.post(f"{fhir}/DSTU2", data=batch, headers={"Authorization": f"Bearer {token_b}",
                                                        "Content-Type": "application/json+fhir;charset=utf-8"}) as r:
            assert r.status == 200
        assert (provider.requests[-1].method, provider.requests[-1].path, provider.requests[-1].body) == (
            "POST", "/dstu2", batch)
        seen = len(provider.requests)

        async with http.get(f"{fhir}/Patient/1") as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"].startswith("Bearer realm=")
            assert json.loads(await r.read())["resourceType"] == "OperationOutcome"
        for target in ("Patient/%252e%252e/%252e%252e/x", "Patient/..%5c..%5cx", "Patient//1"):
            async with http.get(URL(f"{fhir}/{target}", encoded=True),
                                headers={"Authorization": f"Bearer {token_a}"}) as r:
                assert r.status == 400, target
                assert json.loads(await r.read())["resourceType"] == "OperationOutcome"
        # The host itself resolves %2e%2e before routing (this one lands on the admin API, 401): never the provider.
        async with http.get(URL(f"{fhir}/Patient/%2e%2e/%2e%2e/manage/clients", encoded=True),
                            headers={"Authorization": f"Bearer {token_a}"}) as r:
            assert r.status in (400, 401, 404)
        async with http.delete(f"{fhir}/Patient/1", headers={"Authorization": f"Bearer {token_a}"}) as r:
            assert r.status == 403
        assert len(provider.requests) == seen
