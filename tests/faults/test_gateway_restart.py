"""The gateway restarted (SIGTERM, then a fresh process on the same stores): nothing is lost, because
everything lives in Table Storage and Key Vault, and the very first request after a start is served right:
a proxied read with a token issued before the restart, a token, the metadata, or all of them at once."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from tests.faults.conftest import TENANT_C, stored_state, upstream_route
from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import Reply, default_script
from tests.support.constants import TENANT_A

pytestmark = pytest.mark.integration

PROVIDER_TOKEN = "provider-access-token-7d41c9e2"
UPSTREAM_SECRET = "upstream-secret-restart-5b8e"


def provider_script(recorded, server) -> Reply:
    """The recording provider, with an OAuth token endpoint of its own at /idp/token."""
    if recorded.path == "/idp/token":
        return Reply(body={"access_token": PROVIDER_TOKEN, "token_type": "Bearer", "expires_in": 3600},
                     content_type="application/json")
    return default_script(recorded, server)


def first_requests(gw, client_id: str, secret: str, token: str) -> dict[str, httpx.Response]:
    """What a client may send first after a start, all at once."""
    calls = {
        "read": lambda http: http.get("/fhir/Patient/1", headers={"Authorization": f"Bearer {token}"}),
        "token": lambda http: http.post("/oauth2/token", auth=(client_id, secret),
                                        data={"grant_type": "client_credentials", "scope": TENANT_A}),
        "metadata": lambda http: http.get("/fhir/metadata"),
        "smart": lambda http: http.get("/fhir/.well-known/smart-configuration"),
        "jwks": lambda http: http.get("/oauth2/jwks"),
    }
    with httpx.Client(base_url=gw.base_url, timeout=30) as http, ThreadPoolExecutor(max_workers=10) as pool:
        futures = {f"{name} {i}": pool.submit(call, http) for i in range(2) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("first", ["read", "token", "metadata", "everything at once"])
def test_restart_loses_nothing_and_serves_the_first_request(gateway, provider, first):
    provider.script = provider_script
    register_sensitive(PROVIDER_TOKEN)
    gw = gateway()
    client_id, secret = gw.onboard(TENANT_A, provider.base("/tenant-a"))
    cc = upstream_route(TENANT_C, UPSTREAM_SECRET)
    cc["fhirBaseUrl"], cc["upstreamAuth"]["tokenUrl"] = provider.base("/tenant-c"), provider.base("/idp/token")
    assert gw.admin.put(f"/manage/routes/{TENANT_C}", json=cc).status_code == 201
    old_token = gw.token(client_id, secret, TENANT_A)  # signed by the first key
    assert gw.read(old_token).status_code == 200
    rotated = gw.admin.post("/manage/signing-keys")
    assert rotated.status_code == 201
    token = gw.token(client_id, secret, TENANT_A)
    token_c = gw.token(client_id, secret, TENANT_C)
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid == rotated.json()["kid"] != jwt.get_unverified_header(old_token)["kid"]
    assert gw.read(token_c).status_code == 200  # the provider token is now cached in this process
    jwks = gw.http.get("/oauth2/jwks").json()
    metadata = gw.http.get("/fhir/metadata").json()
    before = stored_state(gw.settings)

    gw.restart()
    provider.requests.clear()
    if first == "read":
        for presented in (old_token, token):  # the previous key's token too: keys come back from Key Vault
            response = gw.read(presented)
            assert response.status_code == 200, response.text
            assert response.json()["resourceType"] == "Patient"
        assert [r.path for r in provider.requests] == ["/tenant-a/Patient/1"] * 2
    elif first == "token":
        issued = gw.token_response(client_id, secret, TENANT_A)
        assert issued.status_code == 200, issued.text
        new = issued.json()["access_token"]
        register_sensitive(new)
        assert jwt.get_unverified_header(new)["kid"] == rotated.json()["kid"]
        assert gw.read(new).status_code == 200
    elif first == "metadata":
        response = gw.http.get("/fhir/metadata")
        assert response.status_code == 200 and response.json() == metadata
    else:
        answers = first_requests(gw, client_id, secret, token)
        assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 200)
        for name, response in answers.items():
            if name.startswith("token"):
                register_sensitive(response.json()["access_token"])
            if name.startswith("jwks"):
                assert response.json() == jwks

    # Everything else survived too: both keys published, the old token accepted, the provider secret used.
    assert gw.http.get("/oauth2/jwks").json() == jwks
    assert gw.read(old_token).status_code == 200
    read_c = gw.read(token_c)
    assert read_c.status_code == 200, read_c.text
    idp = [r for r in provider.requests if r.path == "/idp/token"]
    assert len(idp) == 1  # the provider token cache is per process: fetched again with the stored secret
    user, _, password = base64.b64decode(idp[0].header("Authorization").split()[1]).decode().partition(":")
    assert (user, password) == ("gateway", UPSTREAM_SECRET)
    assert provider.requests[-1].header("Authorization") == f"Bearer {PROVIDER_TOKEN}"
    after = stored_state(gw.settings)
    assert (after.clients.keys(), after.routes.keys(), after.secret_names) == \
        (before.clients.keys(), before.routes.keys(), before.secret_names)  # no key created at start
    output = gw.host.output()
    assert output.count("Host started") == 2 and "Traceback" not in output


def test_a_start_during_a_store_outage_answers_cleanly_and_recovers_without_another_restart(
        gateway, azurite, keyvault, provider):
    gw = gateway()
    client_id, secret = gw.onboard(TENANT_A, provider.base("/tenant-a"))
    token = gw.token(client_id, secret, TENANT_A)
    seen = len(provider.requests)  # the route's save read the provider's metadata
    gw.host.stop()
    azurite.stop()
    keyvault.stop()
    try:
        gw.restart()  # the worker builds its services with both stores down
        assert gw.http.get("/fhir/metadata").status_code == 200
        assert gw.http.get("/fhir/.well-known/smart-configuration").status_code == 200
        refused = gw.token_response(client_id, secret, TENANT_A)
        assert refused.status_code == 503 and refused.json()["error"] == "temporarily_unavailable", refused.text
        read = gw.read(token)
        assert read.status_code == 503 and read.json()["resourceType"] == "OperationOutcome", read.text
        assert gw.http.get("/oauth2/jwks").status_code == 503
        listing = gw.admin.get("/manage/clients")
        assert listing.status_code == 503 and listing.headers["content-type"].startswith("application/problem+json")
        assert provider.requests[seen:] == []
    finally:
        azurite.start()
        keyvault.start()
    assert gw.read(token).status_code == 200  # the same process, never restarted
    assert gw.read(gw.token(client_id, secret, TENANT_A)).status_code == 200
    assert gw.admin.get("/manage/clients").json()["items"][0]["clientId"] == client_id
    assert "Traceback" not in gw.host.output()
