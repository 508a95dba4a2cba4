"""SMART Backend Services end to end with a real third-party client: authlib's ``OAuth2Session`` with
``PrivateKeyJWT`` client authentication (RS384 and ES384 assertions valid five minutes, SMART's bound) gets a token
from the local Functions host (token_fn on Azurite + the Key Vault emulator), discovered from the SMART
configuration, then reads through fhir_proxy_fn within its scopes and is refused (403) outside them. The client's
JWKS is served over HTTP by a loopback server, as a client hosts its JWKS URL. Generic clients that send no
``scope`` (authlib with ``private_key_jwt``, requests-oauthlib with a secret) get the client's only tenant."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey, RSAKey
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session as OAuthlibSession

from gateway.config import Settings
from gateway.services import build_services
from gateway.stores.models import Client, ClientAuthentication, Route
from tests.fixtures.provider import Reply
from tests.support.constants import BACKEND_CLIENT_ID as CLIENT_ID
from tests.support.constants import CLIENT_ID as REFERENCE_CLIENT
from tests.support.constants import TENANT
from tests.unit.oauth.helpers import add_client
from tests.unit.oauth.keys import ec_key, five_minute_private_key_jwt, public_jwk, rsa_key

pytestmark = pytest.mark.e2e

FiveMinutePrivateKeyJWT = five_minute_private_key_jwt()


def serve(provider) -> None:
    """The loopback server: the client's JWKS at /client/jwks.json, a FHIR server under /r4."""
    def reply(request, server):
        if request.path == "/client/jwks.json":
            return Reply(body={"keys": [public_jwk(rsa_key(), "rsa-2026"), public_jwk(ec_key(), "ec-2026")]},
                         content_type="application/jwk-set+json", headers={"Cache-Control": "max-age=600"})
        return Reply(body={"resourceType": "Bundle", "type": "searchset", "link": [
            {"relation": "self", "url": f"{server.base('/r4')}{request.path.removeprefix('/r4')}"}]})
    provider.script = reply


@pytest.fixture
def stack(funchost, azurite, keyvault, provider, monkeypatch):
    """The local host on fresh tables/secrets: a Backend Services client (JWKS URL), the reference client
    (a secret), one route to the loopback provider."""
    azurite.start()
    keyvault.start()
    serve(provider)
    prefix = "b" + uuid.uuid4().hex[:12]
    env = {"GATEWAY_ENVIRONMENT": "development", **azurite.settings(), **keyvault.settings(),
           "TABLE_NAME_PREFIX": prefix, "KEY_VAULT_SECRET_PREFIX": prefix, "FHIR_VERSION": "R4"}

    async def seed() -> str:
        services = await build_services(Settings.from_mapping(env), create_tables=True)
        try:
            await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=provider.base("/r4"),
                                               fhir_version="R4"))
            await services.clients.create(Client(
                client_id=CLIENT_ID, display_name="Backend", allowed_tenants=(TENANT,),
                allowed_scopes="system/Patient.rs system/Observation.rs",
                authentication=ClientAuthentication(method="private_key_jwt",
                                                    jwks_url=provider.origin + "/client/jwks.json")))
            return await add_client(services, REFERENCE_CLIENT)
        finally:
            await services.aclose()

    secret = asyncio.run(seed())
    host = funchost(env)
    host.stop()  # now that its port is known, advertise it as the public base URL (the assertions' aud)
    host.env["PUBLIC_BASE_URL"] = host.base_url
    host.start()
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback only
    return host, secret


def discover(base_url: str) -> dict:
    smart = requests.get(f"{base_url}/fhir/.well-known/smart-configuration", timeout=10).json()
    assert "private_key_jwt" in smart["token_endpoint_auth_methods_supported"]
    assert {"RS384", "ES384"} <= set(smart["token_endpoint_auth_signing_alg_values_supported"])
    assert {"client-confidential-asymmetric", "permission-v2"} <= set(smart["capabilities"])
    return smart


def backend_session(kid: str, alg: str, scope: str) -> OAuth2Session:
    private = rsa_key() if alg == "RS384" else ec_key()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key = RSAKey.import_key(pem) if alg == "RS384" else ECKey.import_key(pem)
    return OAuth2Session(CLIENT_ID, key, scope=scope,
                         token_endpoint_auth_method=FiveMinutePrivateKeyJWT(headers={"kid": kid}, alg=alg))


@pytest.mark.parametrize("kid,alg", [("rsa-2026", "RS384"), ("ec-2026", "ES384")])
def test_authlib_private_key_jwt_reads_within_its_scopes_and_is_refused_outside(stack, provider, kid, alg):
    host, _ = stack
    smart = discover(host.base_url)
    fhir = f"{host.base_url}/fhir"
    with backend_session(kid, alg, f"{TENANT} system/Patient.rs") as session:
        token = session.fetch_token(smart["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["scope"] == f"{TENANT} system/Patient.rs"
        read = session.get(f"{fhir}/Patient?family=chau", timeout=10)
        assert read.status_code == 200 and read.json()["link"][0]["url"] == f"{fhir}/Patient"
        seen = len(provider.requests)
        outside = session.get(f"{fhir}/Observation?patient=1", timeout=10)
        assert outside.status_code == 403
        assert outside.json()["issue"][0]["code"] == "forbidden"
        include = session.get(f"{fhir}/Patient?_revinclude=Observation:subject", timeout=10)
        assert include.status_code == 403
        assert len(provider.requests) == seen  # refusals never reach the provider
    output = host.output()
    assert token["access_token"] not in output


def test_a_scope_the_client_may_not_have_is_invalid_scope_and_a_replay_invalid_client(stack):
    host, _ = stack
    token_url = discover(host.base_url)["token_endpoint"]
    with backend_session("rsa-2026", "RS384", f"{TENANT} system/Encounter.rs") as session:
        with pytest.raises(OAuthError) as info:
            session.fetch_token(token_url, grant_type="client_credentials")
    assert info.value.error == "invalid_scope"
    recorded: list[dict] = []
    with backend_session("rsa-2026", "RS384", TENANT) as session:
        session.register_compliance_hook("access_token_response", lambda r: (recorded.append(r.request.body), r)[1])
        session.fetch_token(token_url, grant_type="client_credentials")
    replayed = requests.post(token_url, data=recorded[0], timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client"


def test_the_reference_clients_secret_and_tenant_scope_work_as_before(stack, provider):
    host, secret = stack
    token_url = discover(host.base_url)["token_endpoint"]
    with OAuth2Session(REFERENCE_CLIENT, secret, token_endpoint_auth_method="client_secret_post",
                       scope=TENANT) as session:
        token = session.fetch_token(token_url, grant_type="client_credentials")
        assert token["scope"] == TENANT
        fhir = f"{host.base_url}/fhir"
        search = session.post(f"{fhir}/Patient/_search", data="given=ruth&family=black", timeout=10,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert search.status_code == 200
        batch = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Patient/19"}},
            {"request": {"method": "GET", "url": "Observation?patient=19&category=vital-signs"}}]}
        answered = session.post(fhir, data=json.dumps(batch), timeout=10,
                                headers={"Content-Type": "application/json+fhir;charset=utf-8"})
        assert answered.status_code == 200


@pytest.mark.parametrize("audience", ["token endpoint", "issuer"])
def test_a_generic_backend_services_client_that_sends_no_scope_gets_its_only_tenant(stack, provider, audience):
    """As Medplum's startJwtAssertionLogin does: no ``scope`` at all (RFC 6749 §3.3: the server applies its default,
    the client's only tenant); the assertion's ``aud`` the token endpoint (SMART) or the issuer (RFC 7523bis)."""
    host, _ = stack
    smart = discover(host.base_url)
    aud = smart["token_endpoint"] if audience == "token endpoint" else smart["issuer"]
    private = rsa_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    auth = FiveMinutePrivateKeyJWT(token_endpoint=aud, headers={"kid": "rsa-2026"}, alg="RS384")
    with OAuth2Session(CLIENT_ID, RSAKey.import_key(private), token_endpoint_auth_method=auth) as session:
        sent: list[str] = []
        session.register_compliance_hook("access_token_response", lambda r: (sent.append(r.request.body), r)[1])
        token = session.fetch_token(smart["token_endpoint"], grant_type="client_credentials")
        assert "scope=" not in sent[0]
        assert token["scope"] == TENANT
        assert session.get(f"{host.base_url}/fhir/Patient?family=chau", timeout=10).status_code == 200
        assert session.get(f"{host.base_url}/fhir/Encounter?patient=1", timeout=10).status_code == 403


def test_requests_oauthlib_with_a_secret_and_no_scope_gets_the_only_tenant(stack, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback only
    host, secret = stack
    token_url = discover(host.base_url)["token_endpoint"]
    session = OAuthlibSession(client=BackendApplicationClient(client_id=REFERENCE_CLIENT))
    token = session.fetch_token(token_url, client_id=REFERENCE_CLIENT, client_secret=secret, include_client_id=True)
    assert token["scope"] in (TENANT, [TENANT])
    assert session.get(f"{host.base_url}/fhir/Patient/1", timeout=10).status_code == 200
