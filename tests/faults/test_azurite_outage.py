"""Azurite (Table Storage) stopped while traffic flows through the local host, then started again.

Cached clients and routes keep serving tokens and proxied reads (stale-if-error; the host runs with no
fresh cache at all, so every request really goes to Table Storage and finds it down); anything that needs
Table Storage and is not cached gets a clean 503 in the surface's own format; every admin change fails fast
with 503 problem+json and Retry-After and leaves nothing half-written; everything recovers without a restart.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import (
    FAIL_FAST_SECONDS,
    NO_FRESH_CACHE,
    TENANT_C,
    Traffic,
    assert_nothing_half_written,
    mint_token,
    oauth_error,
    operation_outcome,
    stored_state,
    unavailable,
    upstream_route,
)
from tests.support.constants import TENANT_A, TENANT_B

pytestmark = pytest.mark.integration


def test_azurite_outage_cached_traffic_serves_writes_fail_cleanly_and_all_recovers(gateway, azurite, provider):
    gw = gateway(**NO_FRESH_CACHE)
    client_id, secret = gw.onboard(TENANT_A, provider.base("/tenant-a"))
    secret_id = gw.admin.get(f"/manage/clients/{client_id}").json()["secrets"][0]["secretId"]
    assert gw.put_route(TENANT_B, provider.base("/tenant-b")).status_code == 201  # never looked up by the host
    tenant_b_calls = sum(r.path.startswith("/tenant-b") for r in provider.requests)  # the save's metadata read
    cold = gw.create_client(TENANT_A)  # never authenticated at the host
    assert cold.status_code == 201
    cold_id, cold_secret = cold.json()["clientId"], cold.json()["clientSecret"]
    token_a = gw.token(client_id, secret, TENANT_A)
    assert gw.read(token_a).status_code == 200
    token_b = mint_token(gw.settings, client_id, TENANT_B)
    before = stored_state(gw.settings)

    with Traffic(gw, client_id, secret, TENANT_A, token_a) as traffic:
        traffic.wait_for(20)
        azurite.stop()
        try:
            traffic.wait_for(40)
            fast = {"timeout": FAIL_FAST_SECONDS}

            # Cold entries: a clean 503 in each surface's own error format, never a 500.
            refused = gw.token_response(cold_id, cold_secret, TENANT_A)
            oauth_error(refused, 503, "temporarily_unavailable")
            assert int(refused.headers["Retry-After"]) > 0
            oauth_error(gw.token_response(client_id, secret, TENANT_B), 503, "temporarily_unavailable")
            cold_read = gw.read(token_b)
            assert operation_outcome(cold_read, 503)["code"] == "transient"
            assert int(cold_read.headers["Retry-After"]) > 0
            assert sum(r.path.startswith("/tenant-b") for r in provider.requests) == tenant_b_calls
            assert gw.http.get("/fhir/metadata").status_code == 200
            assert gw.http.get("/oauth2/jwks").status_code == 200

            # Every admin change needs Table Storage: 503 problem+json with Retry-After, quickly.
            unavailable(gw.admin.post("/manage/clients", json={"displayName": "x", "allowedTenants": ["*"]}, **fast))
            unavailable(gw.admin.put(f"/manage/routes/{TENANT_C}", json=upstream_route(TENANT_C, "upstream-s3cret-1"),
                                     **fast))
            unavailable(gw.admin.put(f"/manage/routes/{TENANT_A}", json={
                "fhirBaseUrl": provider.base("/moved"), "fhirVersion": "STU3"}, **fast))
            unavailable(gw.admin.post(f"/manage/clients/{client_id}/secrets", **fast))
            unavailable(gw.admin.delete(f"/manage/clients/{client_id}/secrets/{secret_id}", **fast))
            unavailable(gw.admin.patch(f"/manage/clients/{client_id}", json={"enabled": False}, **fast))
            unavailable(gw.admin.delete(f"/manage/routes/{TENANT_B}", **fast))
            unavailable(gw.admin.delete(f"/manage/clients/{cold_id}", **fast))
            unavailable(gw.admin.get("/manage/clients", **fast))
            unavailable(gw.admin.post("/manage/signing-keys", **fast))  # it could not be audited
            traffic.wait_for(20)
        finally:
            azurite.start()
        traffic.wait_for(40)  # the same host, never restarted, on the restarted Azurite

    assert set(traffic.statuses) == {("token", 200), ("read", 200)}, dict(traffic.statuses)

    # Recovery by itself: cold entries load, admin changes work again.
    assert gw.token_response(cold_id, cold_secret, TENANT_A).status_code == 200
    assert gw.read(token_b).status_code == 200
    assert provider.requests[-1].path == "/tenant-b/Patient/1"
    created = gw.create_client(TENANT_C)
    assert created.status_code == 201, created.text
    assert gw.put_route(TENANT_C, provider.base("/tenant-c")).status_code == 201
    assert gw.read(gw.token(created.json()["clientId"], created.json()["clientSecret"], TENANT_C)).status_code == 200

    # Nothing the outage refused was half-written.
    after = stored_state(gw.settings)
    assert set(after.clients) == set(before.clients) | {created.json()["clientId"]}
    assert after.clients[client_id].enabled and [s.secret_id for s in after.clients[client_id].secrets] == [secret_id]
    assert after.routes[TENANT_A].fhir_base_url == provider.base("/tenant-a")
    assert set(after.routes) == {TENANT_A, TENANT_B, TENANT_C}
    assert after.routes[TENANT_C].upstream_auth.type == "none"
    assert_nothing_half_written(after, gw.settings)
    assert after.signing_key_names() == before.signing_key_names()
