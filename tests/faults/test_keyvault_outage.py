"""The Key Vault emulator stopped while traffic flows through the local host, then started again.

Cached verifiers and signing keys keep the token and proxy paths working (the host runs with no fresh cache,
so every request asks Key Vault and finds it down); creating a secret (client, secret, route with a provider
secret) and rotating the signing key fail cleanly with 503 and leave no orphan Table record; changes that
delete from Key Vault are undone; everything recovers without a restart.
"""

from __future__ import annotations

import jwt
import pytest

from tests.faults.conftest import (
    FAIL_FAST_SECONDS,
    NO_FRESH_CACHE,
    TENANT_C,
    Traffic,
    assert_nothing_half_written,
    oauth_error,
    stored_state,
    unavailable,
    upstream_route,
)
from tests.support.constants import TENANT_A

pytestmark = pytest.mark.integration


def test_keyvault_outage_cached_traffic_serves_secret_writes_fail_cleanly_and_all_recovers(gateway, keyvault,
                                                                                          provider):
    gw = gateway(**NO_FRESH_CACHE)
    client_id, secret = gw.onboard(TENANT_A, provider.base("/tenant-a"))
    second = gw.add_secret(client_id)  # to be revoked during the outage
    assert second.status_code == 201
    second_id, second_secret = second.json()["secretId"], second.json()["clientSecret"]
    other = gw.create_client(TENANT_A)  # to be deleted during the outage
    assert other.status_code == 201
    other_id, other_secret = other.json()["clientId"], other.json()["clientSecret"]
    cold = gw.create_client(TENANT_A)  # its verifier is never read by the host before the outage
    cold_id, cold_secret = cold.json()["clientId"], cold.json()["clientSecret"]
    token_a = gw.token(client_id, secret, TENANT_A)
    assert gw.token_response(client_id, second_secret, TENANT_A).status_code == 200
    assert gw.token_response(other_id, other_secret, TENANT_A).status_code == 200
    assert gw.read(token_a).status_code == 200
    kid_before = jwt.get_unverified_header(token_a)["kid"]
    before = stored_state(gw.settings)

    with Traffic(gw, client_id, secret, TENANT_A, token_a) as traffic:
        traffic.wait_for(20)
        keyvault.stop()
        try:
            traffic.wait_for(40)
            fast = {"timeout": FAIL_FAST_SECONDS}
            # An uncached verifier cannot be checked: a clean OAuth error, never a 500 or a wrong 401.
            refused = gw.token_response(cold_id, cold_secret, TENANT_A)
            oauth_error(refused, 503, "temporarily_unavailable")
            assert int(refused.headers["Retry-After"]) > 0
            assert gw.http.get("/oauth2/jwks").status_code == 200  # the cached key set

            # Creating a secret needs Key Vault first: 503, and no Table record is left behind.
            unavailable(gw.admin.post("/manage/clients", json={"displayName": "x", "allowedTenants": ["*"]}, **fast))
            unavailable(gw.admin.post(f"/manage/clients/{cold_id}/secrets", **fast))
            unavailable(gw.admin.put(f"/manage/routes/{TENANT_C}", json=upstream_route(TENANT_C, "upstream-s3cret-2"),
                                     **fast))
            unavailable(gw.admin.post("/manage/signing-keys", **fast))
            # Deleting from Key Vault fails after the Table change: the Table change is undone.
            unavailable(gw.admin.delete(f"/manage/clients/{client_id}/secrets/{second_id}", **fast))
            unavailable(gw.admin.delete(f"/manage/clients/{other_id}", **fast))
            # A Table-only change does not need Key Vault.
            renamed = gw.admin.patch(f"/manage/clients/{cold_id}", json={"displayName": "renamed"}, **fast)
            assert renamed.status_code == 200, renamed.text
            traffic.wait_for(20)
        finally:
            keyvault.start()
        traffic.wait_for(40)

    assert set(traffic.statuses) == {("token", 200), ("read", 200)}, dict(traffic.statuses)

    # Nothing was half-written; what the outage refused is as it was.
    during = stored_state(gw.settings)
    assert set(during.clients) == set(before.clients)
    assert {s.secret_id for s in during.clients[client_id].secrets} == {s.secret_id for s in
                                                                       before.clients[client_id].secrets}
    assert TENANT_C not in during.routes
    assert during.signing_key_names() == before.signing_key_names()
    assert_nothing_half_written(during, gw.settings)

    # Recovery without a restart: the secrets kept by the undo still work, new ones can be made, keys rotate.
    assert gw.token_response(client_id, second_secret, TENANT_A).status_code == 200
    assert gw.token_response(other_id, other_secret, TENANT_A).status_code == 200
    assert gw.token_response(cold_id, cold_secret, TENANT_A).status_code == 200
    created = gw.create_client(TENANT_A)
    assert created.status_code == 201, created.text
    assert gw.token_response(created.json()["clientId"], created.json()["clientSecret"], TENANT_A).status_code == 200
    assert gw.admin.put(f"/manage/routes/{TENANT_C}", json=upstream_route(TENANT_C, "upstream-s3cret-3")
                        ).status_code == 201
    rotated = gw.admin.post("/manage/signing-keys")
    assert rotated.status_code == 201, rotated.text
    fresh = gw.token(client_id, secret, TENANT_A)
    assert jwt.get_unverified_header(fresh)["kid"] == rotated.json()["kid"] != kid_before
    assert gw.read(token_a).status_code == 200  # signed by the previous key: still accepted
    assert gw.read(fresh).status_code == 200
    assert gw.admin.delete(f"/manage/clients/{other_id}").status_code == 204
    assert gw.admin.delete(f"/manage/clients/{client_id}/secrets/{second_id}").status_code == 204

    after = stored_state(gw.settings)
    assert_nothing_half_written(after, gw.settings)
    assert len(after.signing_key_names()) == len(before.signing_key_names()) + 1
    assert after.routes[TENANT_C].upstream_auth.secret_name in after.upstream_names()
