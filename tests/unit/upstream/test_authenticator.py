"""Provider tokens by the route's kind: client credentials from Key Vault and managed identity, cached per route."""

import asyncio
import base64
import json
import time
from types import SimpleNamespace

import pytest

from gateway.outbound.identity_scopes import token_scope
from gateway.outbound.transport import MockTransport, UpstreamResponse
from gateway.stores.models import Route, UpstreamAuth
from gateway.upstream.authenticator import UpstreamAuthenticator
from gateway.upstream.kind import UpstreamAuthError
from tests.support.constants import TENANT


def cc_route(**auth):
    return Route(tenant_id=TENANT, fhir_base_url="http://127.0.0.1:9/r4", fhir_version="R4",
                 upstream_auth=UpstreamAuth(type="clientCredentials", token_url="http://127.0.0.1:9/token",
                                            client_id="gw", scope="system/*.read", secret_name="provider-secret",
                                            **auth))


async def test_client_credentials_token_is_fetched_once_and_cached(services):
    await services.secrets.set("provider-secret", "s3cr3t:/+")
    calls = []

    async def token_endpoint(request):
        calls.append(request)
        await asyncio.sleep(0.01)
        return UpstreamResponse(200, [], json.dumps({"access_token": "provider-at", "expires_in": 3600}).encode())

    transport = MockTransport(token_endpoint)
    auth = services.upstream_authenticator
    values = await asyncio.gather(*(auth.authorization(cc_route(), transport) for _ in range(5)))
    assert values == ["Bearer provider-at"] * 5
    assert len(calls) == 1
    sent = calls[0]
    assert sent.method == "POST" and sent.body == b"grant_type=client_credentials&scope=system%2F%2A.read"
    basic = dict(sent.headers)["Authorization"].split(" ", 1)[1]
    assert base64.b64decode(basic).decode() == "gw:s3cr3t%3A%2F%2B"
    auth.forget(cc_route())
    await auth.authorization(cc_route(), transport)
    assert len(calls) == 2


async def test_refused_credentials_and_missing_secret_are_errors_without_the_secret(services):
    transport = MockTransport(lambda r: UpstreamResponse(401, [], b'{"error":"invalid_client"}'))
    auth = services.upstream_authenticator
    with pytest.raises(UpstreamAuthError, match="unavailable"):
        await auth.authorization(cc_route(), transport)
    await services.secrets.set("provider-secret", "s3cr3t")
    with pytest.raises(UpstreamAuthError) as caught:
        await auth.authorization(cc_route(), transport)
    assert "s3cr3t" not in str(caught.value)


async def test_managed_identity_uses_the_provider_scope(services):
    scopes = []

    class FakeCredential:
        async def get_token(self, scope):
            scopes.append(scope)
            return SimpleNamespace(token="mi-token", expires_on=int(time.time()) + 3600)

        async def close(self):
            scopes.append("closed")

    route = Route(tenant_id=TENANT, fhir_base_url="https://ws-fhir.fhir.azurehealthcareapis.com",
                  fhir_version="R4", upstream_auth=UpstreamAuth(type="managedIdentity"))
    auth = UpstreamAuthenticator(settings=services.settings, secrets=services.secrets,
                                 signer=services.provider_key_ring,
                                 credential_factory=lambda client_id: FakeCredential())
    assert await auth.authorization(route, MockTransport(lambda r: None)) == "Bearer mi-token"
    assert await auth.authorization(route, MockTransport(lambda r: None)) == "Bearer mi-token"
    assert scopes == ["https://ws-fhir.fhir.azurehealthcareapis.com/.default"]
    await auth.aclose()
    assert scopes[-1] == "closed"


def test_the_managed_identity_scope_is_the_provider_origin():
    assert token_scope("https://x.azurehealthcareapis.com/fhir") == "https://x.azurehealthcareapis.com/.default"


async def test_none_sends_no_authorization(services):
    route = Route(tenant_id=TENANT, fhir_base_url="http://127.0.0.1:9/r4", fhir_version="R4")
    assert await services.upstream_authenticator.authorization(route, MockTransport(lambda r: None)) is None


async def test_an_edited_route_gets_a_fresh_token_and_the_cache_stays_one_entry_per_tenant(services):
    await services.secrets.set("provider-secret", "s3cr3t")
    await services.secrets.set("provider-secret-2", "other")
    issued = iter(["first", "second", "third"])

    async def token_endpoint(request):
        return UpstreamResponse(200, [], json.dumps({"access_token": next(issued), "expires_in": 3600}).encode())

    transport = MockTransport(token_endpoint)
    auth = services.upstream_authenticator
    assert await auth.authorization(cc_route(), transport) == "Bearer first"
    edited = Route(
        tenant_id=TENANT, fhir_base_url="http://127.0.0.1:9/r4", fhir_version="R4",
        upstream_auth=UpstreamAuth(type="clientCredentials", token_url="http://127.0.0.1:9/token",
                                   client_id="gw", scope="system/*.read", secret_name="provider-secret-2"))
    assert await auth.authorization(edited, transport) == "Bearer second"
    assert await auth.authorization(edited, transport) == "Bearer second"
    assert len(auth._tokens) == 1


@pytest.mark.parametrize("expires_in", ["1e999", '"Infinity"', '"NaN"'])
async def test_a_non_finite_expires_in_does_not_cache_the_provider_token_forever(services, expires_in):
    # json.loads("1e999") is inf, float("Infinity") too: the token must still be refreshed (as without expires_in).
    await services.secrets.set("provider-secret", "s3cr3t")
    body = f'{{"access_token": "provider-at", "expires_in": {expires_in}}}'.encode()
    auth = services.upstream_authenticator
    await auth.authorization(cc_route(), MockTransport(lambda r: UpstreamResponse(200, [], body)))
    lifetime = auth._tokens[TENANT][1].expires_at - time.monotonic()
    assert 0 < lifetime <= 300
