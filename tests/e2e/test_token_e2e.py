"""Discovery and tokens over real sockets: the local Functions host on Azurite and the Key Vault emulator,
driven by standard OAuth client libraries (authlib, requests-oauthlib) and verified with pyjwt's JWKS client."""

from __future__ import annotations

import asyncio
import uuid

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from gateway.config import Settings
from gateway.fhir.capability import OAUTH_URIS
from gateway.services import build_services
from tests.support.constants import CLIENT_ID, TENANT
from tests.unit.oauth.helpers import add_client, add_route

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(funchost, azurite, keyvault, monkeypatch):
    """A host serving the function folders on fresh tables/secrets, with one client and one route."""
    azurite.start()
    keyvault.start()
    prefix = "e" + uuid.uuid4().hex[:12]
    env = {"GATEWAY_ENVIRONMENT": "development", **azurite.settings(), **keyvault.settings(),
           "TABLE_NAME_PREFIX": prefix, "KEY_VAULT_SECRET_PREFIX": prefix, "FHIR_VERSION": "STU3"}

    async def seed() -> str:
        services = await build_services(Settings.from_mapping(env), create_tables=True)
        try:
            await add_route(services)
            return await add_client(services)
        finally:
            await services.aclose()

    secret = asyncio.run(seed())
    host = funchost(env)
    host.stop()  # now that its port is known, advertise it as the public base URL
    host.env["PUBLIC_BASE_URL"] = host.base_url
    host.start()
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback only
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    return host, secret


def discover(base_url: str) -> tuple[str, str]:
    metadata = requests.get(f"{base_url}/fhir/metadata", timeout=10)
    assert metadata.status_code == 200 and "max-age" in metadata.headers["Cache-Control"]
    (oauth,) = [e for e in metadata.json()["rest"][0]["security"]["extension"] if e["url"] == OAUTH_URIS]
    token_url = next(e["valueUri"] for e in oauth["extension"] if e["url"] == "token")
    smart = requests.get(f"{base_url}/fhir/.well-known/smart-configuration", timeout=10).json()
    assert smart["token_endpoint"] == token_url
    return token_url, smart["jwks_uri"]


def check_jwt(token: str, jwks_uri: str, base_url: str) -> dict:
    signing_key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)  # JWKS fetched over HTTP
    return jwt.decode(token, signing_key.key, algorithms=["ES256"], audience=f"{base_url}/fhir", issuer=base_url)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_with_either_auth_method(stack, method):
    host, secret = stack
    token_url, jwks_uri = discover(host.base_url)
    with AuthlibSession(CLIENT_ID, secret, token_endpoint_auth_method=method, scope=TENANT) as session:
        token = session.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600 and token["scope"] == TENANT
    claims = check_jwt(token["access_token"], jwks_uri, host.base_url)
    assert claims["tid"] == TENANT and claims["client_id"] == CLIENT_ID
    output = host.output()
    assert secret not in output and token["access_token"] not in output


def test_requests_oauthlib_backend_client_post_and_basic(stack):
    host, secret = stack
    token_url, jwks_uri = discover(host.base_url)
    session = OAuth2Session(client=BackendApplicationClient(client_id=CLIENT_ID, scope=[TENANT]))
    posted = session.fetch_token(token_url, client_id=CLIENT_ID, client_secret=secret, include_client_id=True)
    basic = OAuth2Session(client=BackendApplicationClient(client_id=CLIENT_ID, scope=[TENANT])).fetch_token(
        token_url, auth=HTTPBasicAuth(CLIENT_ID, secret))
    for token in (posted, basic):
        assert token["scope"] in (TENANT, [TENANT])
        assert check_jwt(token["access_token"], jwks_uri, host.base_url)["scope"] == TENANT


def test_wrong_secret_is_refused_by_the_libraries_as_invalid_client(stack):
    host, secret = stack
    token_url, _ = discover(host.base_url)
    wrong = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    with AuthlibSession(CLIENT_ID, wrong, token_endpoint_auth_method="client_secret_basic", scope=TENANT) as session:
        with pytest.raises(OAuthError) as info:
            session.fetch_token(token_url, grant_type="client_credentials")
    assert info.value.error == "invalid_client"
    raw = requests.post(token_url, data={"grant_type": "client_credentials", "scope": TENANT},
                        auth=(CLIENT_ID, wrong), timeout=10)
    assert raw.status_code == 401 and raw.headers["WWW-Authenticate"].startswith("Basic")
    assert raw.headers["Cache-Control"] == "no-store"


def test_status_codes_over_the_socket(stack):
    host, secret = stack
    base = host.base_url
    assert requests.get(f"{base}/oauth2/token", timeout=10).status_code == 405
    too_big = requests.post(f"{base}/oauth2/token", data={"x": "y" * 20000}, timeout=10)
    assert too_big.status_code == 413 and too_big.json()["error"] == "invalid_request"
    typo = requests.post(f"{base}/oauth2/token", timeout=10,
                         data={"grant-type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret})
    assert typo.status_code == 400 and "grant_type" in typo.json()["error_description"]
    authorize = requests.get(f"{base}/oauth2/authorize?response_type=code&redirect_uri=https://evil.example",
                             allow_redirects=False, timeout=10)
    assert authorize.status_code == 400 and authorize.json()["error"] == "unsupported_response_type"
    missing = requests.get(f"{base}/fhir/.well-known/openid-configuration", timeout=10)
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    jwks = requests.get(f"{base}/oauth2/jwks", timeout=10)
    assert jwks.status_code == 200 and all("d" not in k for k in jwks.json()["keys"])
