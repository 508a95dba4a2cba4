"""The token service on the real stores: Table Storage on Azurite, secrets and keys on the Key Vault emulator."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest

from gateway.credentials import signing_key_secret_name
from gateway.services import build_services
from tests.support.constants import CLIENT_ID, TENANT
from tests.support.oauth import basic, post_form, token_request
from tests.support.surfaces import respond
from tests.unit.oauth.helpers import add_client, add_route

pytestmark = pytest.mark.integration


async def test_the_deployment_creates_the_first_signing_key_and_its_index(azure_services):
    ring = azure_services.key_ring
    key = await ring.signing_key()
    prefix = azure_services.settings.key_vault_secret_prefix
    stored = await azure_services.secrets.get(signing_key_secret_name(prefix, key.kid))
    assert stored is not None and "PRIVATE KEY" in stored.value
    assert stored.tags["kid"] == key.kid and stored.tags["alg"] == "ES256" and stored.tags["generation"] == "1"
    assert key.kid in (await azure_services.secrets.get(f"{prefix}-signing-index")).value
    assert [(i.kid, i.status) for i in await azure_services.signing_key_admin.list_keys()] == [(key.kid, "active")]


async def test_a_worker_in_an_empty_vault_creates_nothing_and_answers_503(azure_settings, keyvault):
    from gateway.tokens.keyring import NoSigningKey

    services = await build_services(azure_settings)
    try:
        await add_route(services)
        secret = await add_client(services)
        response = await respond(token_request(post_form(CLIENT_ID, secret)), services)
        assert response.status == 503 and json.loads(response.body)["error"] == "temporarily_unavailable"
        prefix = azure_settings.key_vault_secret_prefix
        assert not [s for s in await services.secrets.list() if s.name.startswith(f"{prefix}-signing-")]
        with pytest.raises(NoSigningKey):
            await services.key_ring.signing_key()
        assert await services.admin_api.deployment.ensure()
        assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
    finally:
        await services.aclose()


async def test_concurrent_ensure_and_cold_start_of_several_workers(azure_settings):
    workers = [await build_services(azure_settings) for _ in range(4)]
    try:
        await asyncio.gather(*(w.signing_key_admin.ensure() for w in workers))
        for worker in workers:
            worker.key_ring.invalidate()
        keys = await asyncio.gather(*(w.key_ring.signing_key() for w in workers))
        assert len({key.kid for key in keys}) == 1
        for worker in workers:
            for key in keys:
                assert await worker.key_ring.verification_key(key.kid) is not None
    finally:
        for worker in workers:
            await worker.aclose()


async def test_rotation_is_seen_by_a_second_worker(azure_services, azure_settings):
    other = await build_services(azure_settings)
    try:
        old = await azure_services.key_ring.signing_key()
        assert (await other.key_ring.signing_key()).kid == old.kid
        rotated = await other.signing_key_admin.rotate()
        # a token signed with the new key verifies at once on the first worker (a new kid: one refresh)
        await add_route(other)
        secret = await add_client(other)
        response = await respond(token_request(post_form(CLIENT_ID, secret)), other)
        token = json.loads(response.body)["access_token"]
        assert jwt.get_unverified_header(token)["kid"] == rotated.kid
        assert (await azure_services.token_verifier.verify(token)).client_id == CLIENT_ID
        # both keys are published until the old one's tokens have expired
        kids = {k["kid"] for k in (await azure_services.key_ring.jwks())["keys"]}
        assert kids == {old.kid, rotated.kid}
    finally:
        await other.aclose()


async def test_tokens_issued_on_the_real_stores_with_both_auth_methods(azure_services):
    await add_route(azure_services)
    secret = await add_client(azure_services)
    post = await respond(token_request(post_form(CLIENT_ID, secret)), azure_services)
    with_basic = await respond(token_request({"grant_type": "client_credentials", "scope": TENANT},
                                             headers={"Authorization": basic(CLIENT_ID, secret)}), azure_services)
    jwks = (await azure_services.key_ring.jwks())["keys"]
    for response in (post, with_basic):
        assert response.status == 200, response.body
        token = json.loads(response.body)["access_token"]
        kid = jwt.get_unverified_header(token)["kid"]
        public = jwt.PyJWK(next(k for k in jwks if k["kid"] == kid)).key
        claims = jwt.decode(token, public, algorithms=["ES256"], audience="http://localhost:7071/fhir",
                            issuer="http://localhost:7071")
        assert claims["tid"] == TENANT and claims["client_id"] == CLIENT_ID
    wrong = await respond(token_request(post_form(CLIENT_ID, secret[:-1] + ("A" if secret[-1] != "A" else "B"))),
                          azure_services)
    assert wrong.status == 401


async def test_key_vault_down_warm_caches_serve_cold_worker_gets_503(azure_services, azure_settings, keyvault):
    await add_route(azure_services)
    secret = await add_client(azure_services)
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), azure_services)).status == 200
    cold = await build_services(azure_settings)
    keyvault.stop()
    try:
        warm = await respond(token_request(post_form(CLIENT_ID, secret)), azure_services)
        assert warm.status == 200
        down = await respond(token_request(post_form(CLIENT_ID, secret)), cold)
        assert down.status == 503, down.body
        assert json.loads(down.body)["error"] == "temporarily_unavailable" and down.headers["Retry-After"]
    finally:
        keyvault.start()
        await cold.aclose()
