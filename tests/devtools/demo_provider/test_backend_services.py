"""SMART Backend Services mode over real sockets: a JWKS server publishes test keys, clients sign RFC 7523
assertions with PyJWT, the demo provider's token endpoint verifies them and its FHIR routes demand the token."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import fhir.resources.R4B as r4b
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from devtools.demo_provider import RunningProvider, running_provider
from devtools.demo_provider.backend_services import BackendServicesConfig
from devtools.demo_provider.server import bind

ROOT = Path(__file__).resolve().parents[3]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PID = "demo-patient-1"
CLIENT, OTHER = "gateway-client", "other-client"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: object

    def public_jwk(self) -> dict:
        public = self.private.public_key()
        to_jwk = ECAlgorithm.to_jwk if self.algorithm.startswith("ES") else RSAAlgorithm.to_jwk
        return {**to_jwk(public, as_dict=True), "kid": self.kid, "use": "sig", "alg": self.algorithm}


def new_key(algorithm: str = "ES384") -> SigningKey:
    private = ec.generate_private_key(ec.SECP384R1()) if algorithm == "ES384" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(uuid.uuid4().hex, algorithm, private)


@dataclass
class JwksServer:
    """Each client's published keys at ``<url>/<client>/jwks``; ``fetches`` counts requests."""

    url: str = ""
    keys: dict[str, list[SigningKey]] = field(default_factory=dict)
    fetches: int = 0

    def jwks_url(self, client: str) -> str:
        return f"{self.url}/{client}/jwks"

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        keys = self.keys.get(request.match_info["client"], [])
        return web.json_response({"keys": [k.public_jwk() for k in keys]})


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    server = JwksServer(keys={CLIENT: [new_key("ES384"), new_key("RS384")], OTHER: [new_key("ES384")]})
    app = web.Application()
    app.router.add_get("/{client}/jwks", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bind("127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    await web.SockSite(runner, sock).start()
    yield server
    await runner.cleanup()
    sock.close()


def config(jwks: JwksServer, **overrides) -> BackendServicesConfig:
    return BackendServicesConfig(clients={CLIENT: jwks.jwks_url(CLIENT), OTHER: jwks.jwks_url(OTHER)}, **overrides)


@pytest.fixture
async def provider(jwks_server: JwksServer) -> AsyncIterator[RunningProvider]:
    async with running_provider(backend_services=config(jwks_server)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def assertion(provider: RunningProvider, key: SigningKey, *, client: str = CLIENT, algorithm: str | None = None,
              signing_key: object = None, **claims) -> str:
    now = int(time.time())
    body = {"iss": client, "sub": client, "aud": provider.token_url, "exp": now + 240, "jti": uuid.uuid4().hex,
            "iat": now, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, signing_key if signing_key is not None else key.private,
                      algorithm=algorithm or key.algorithm, headers={"kid": key.kid})


async def token_request(http, provider, signed: str | None, scope: str | None = "system/*.rs", **extra):
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "scope": scope,
            "client_assertion": signed, **extra}
    async with http.post(provider.token_url, data={k: v for k, v in form.items() if v is not None}) as response:
        return response.status, response.headers, await response.json(content_type=None)


async def access_token(http, provider, key, scope="system/*.rs") -> str:
    status, _, body = await token_request(http, provider, assertion(provider, key), scope)
    assert status == 200, body
    return body["access_token"]


async def fhir_get(http, url, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers) as response:
        return response.status, response.headers, await response.read()


# -- discovery ----------------------------------------------------------------------------------------------------

async def test_discovery_and_capability_statement_advertise_the_token_endpoint(provider, http):
    status, headers, body = await fhir_get(http, f"{provider.fhir_base('R4')}/.well-known/smart-configuration")
    discovery = json.loads(body)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert discovery["token_endpoint"] == provider.token_url == f"{provider.base_url}/auth/token"
    assert discovery["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert discovery["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert "client-confidential-asymmetric" in discovery["capabilities"]

    status, _, body = await fhir_get(http, f"{provider.fhir_base('R4')}/metadata")
    statement = json.loads(body)
    assert status == 200
    r4b.get_fhir_model_class("CapabilityStatement").model_validate_json(body)
    security = statement["rest"][0]["security"]
    uris = next(e for e in security["extension"] if e["url"].endswith("/oauth-uris"))
    assert uris["extension"] == [{"url": "token", "valueUri": provider.token_url}]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


async def test_the_mode_is_off_by_default(http):
    async with running_provider() as open_provider:
        status, _, body = await fhir_get(http, f"{open_provider.fhir_base('STU3')}/Patient/{PID}")
        assert status == 200 and open_provider.token_url is None
        status, _, body = await fhir_get(http, f"{open_provider.fhir_base('R4')}/metadata")
        assert "security" not in json.loads(body)["rest"][0]
        status, _, _ = await fhir_get(http, f"{open_provider.fhir_base('R4')}/.well-known/smart-configuration")
        assert status == 404
        async with http.post(f"{open_provider.url}/auth/token", data={"grant_type": "client_credentials"}) as r:
            assert r.status == 404


# -- FHIR with and without a token -----------------------------------------------------------------------------------

async def test_fhir_read_without_a_token_is_a_401_outcome(provider, http):
    for path in (f"/stu3/Patient/{PID}", "/r4/Observation?patient=x", "/stu3/Patient/x/everything/else"):
        status, headers, body = await fhir_get(http, provider.base_url + path)
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="demo-provider"'
        issue = json.loads(body)["issue"][0]
        assert issue["code"] == "login"
    status, headers, _ = await fhir_get(http, f"{provider.fhir_base('STU3')}/Patient/{PID}", "made-up-token")
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    async with http.post(provider.fhir_base("STU3"), data=b"{}", headers={"Content-Type": "application/fhir+json"}) \
            as response:
        assert response.status == 401


@pytest.mark.parametrize("algorithm", ["ES384", "RS384"])
async def test_a_signed_assertion_gets_a_token_that_reads(provider, http, jwks_server, algorithm):
    key = next(k for k in jwks_server.keys[CLIENT] if k.algorithm == algorithm)
    status, headers, body = await token_request(http, provider, assertion(provider, key), "system/*.rs")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "bearer" and body["expires_in"] == 300 and body["scope"] == "system/*.rs"
    status, _, read = await fhir_get(http, f"{provider.fhir_base('STU3')}/Patient/{PID}", body["access_token"])
    assert status == 200 and json.loads(read)["id"] == PID
    status, _, found = await fhir_get(http, f"{provider.fhir_base('R4')}/Observation?patient={PID}&_count=2",
                                      body["access_token"])
    bundle = json.loads(found)
    assert status == 200 and bundle["total"] > 2
    next_link = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    assert (await fhir_get(http, next_link, body["access_token"]))[0] == 200


async def test_granted_scopes_limit_what_the_token_reads(provider, http, jwks_server):
    key = jwks_server.keys[CLIENT][0]
    status, _, body = await token_request(http, provider, assertion(provider, key),
                                          "system/Patient.rs system/Observation.s")
    assert status == 200 and body["scope"] == "system/Patient.rs system/Observation.s"
    token = body["access_token"]
    base = provider.fhir_base("STU3")
    assert (await fhir_get(http, f"{base}/Patient/{PID}", token))[0] == 200
    assert (await fhir_get(http, f"{base}/Observation?patient={PID}", token))[0] == 200
    status, headers, outcome = await fhir_get(http, f"{base}/Condition?patient={PID}", token)
    assert status == 403 and 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert json.loads(outcome)["issue"][0]["code"] == "forbidden"
    observation_id = json.loads((await fhir_get(http, f"{base}/Observation?patient={PID}", token))[2])[
        "entry"][0]["resource"]["id"]
    assert (await fhir_get(http, f"{base}/Observation/{observation_id}", token))[0] == 403  # search, not read

    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{PID}"}},
        {"request": {"method": "GET", "url": f"Condition?patient={PID}"}}]}
    async with http.post(base, data=json.dumps(batch), headers={"Authorization": f"Bearer {token}",
                                                                "Content-Type": "application/fhir+json"}) as response:
        entries = json.loads(await response.read())["entry"]
    assert [e["response"]["status"] for e in entries] == ["200 OK", "403 Forbidden"]

    wide = await access_token(http, provider, key, "system/Condition.rs")
    condition_search = json.loads((await fhir_get(http, f"{base}/Condition?patient={PID}&_count=1", wide))[2])
    next_link = next(link["url"] for link in condition_search["link"] if link["relation"] == "next")
    assert (await fhir_get(http, next_link, token))[0] == 403  # a page of a search the token may not do


async def test_tokens_expire_and_a_new_assertion_gets_a_new_one(jwks_server, http):
    async with running_provider(backend_services=config(jwks_server, token_lifetime_seconds=1)) as provider:
        key = jwks_server.keys[CLIENT][0]
        token = await access_token(http, provider, key)
        url = f"{provider.fhir_base('STU3')}/Patient/{PID}"
        assert (await fhir_get(http, url, token))[0] == 200
        await asyncio.sleep(1.1)
        status, headers, _ = await fhir_get(http, url, token)
        assert status == 401 and "expired" in headers["WWW-Authenticate"]
        assert (await fhir_get(http, url, await access_token(http, provider, key)))[0] == 200


async def test_a_rotated_key_is_fetched_when_its_kid_first_appears(jwks_server, http):
    async with running_provider(backend_services=config(jwks_server, jwks_refetch_seconds=0)) as provider:
        await access_token(http, provider, jwks_server.keys[CLIENT][0])
        fetches = jwks_server.fetches
        await access_token(http, provider, jwks_server.keys[CLIENT][0])
        assert jwks_server.fetches == fetches  # cached
        rotated = new_key("ES384")
        jwks_server.keys[CLIENT].append(rotated)
        await access_token(http, provider, rotated)
        assert jwks_server.fetches == fetches + 1


async def test_unknown_kids_do_not_make_the_provider_fetch_again_and_again(provider, http, jwks_server):
    await access_token(http, provider, jwks_server.keys[CLIENT][0])
    fetches = jwks_server.fetches
    for _ in range(5):
        status, _, body = await token_request(http, provider, assertion(provider, new_key()))
        assert status == 401 and body["error"] == "invalid_client"
    assert jwks_server.fetches <= fetches + 1


# -- refusals ------------------------------------------------------------------------------------------------------

async def test_a_replayed_assertion_is_refused(provider, http, jwks_server):
    signed = assertion(provider, jwks_server.keys[CLIENT][0])
    assert (await token_request(http, provider, signed))[0] == 200
    status, headers, body = await token_request(http, provider, signed)
    assert (status, body["error"]) == (401, "invalid_client") and headers["Cache-Control"] == "no-store"
    assert "used before" in body["error_description"]


def _hmac(provider, key):
    return assertion(provider, key, algorithm="HS384", signing_key="a-shared-secret-" * 4)


def _none(provider, key):
    return assertion(provider, key, algorithm="none", signing_key="")


REFUSED = {
    "wrong audience": lambda p, k, o: assertion(p, k, aud="https://elsewhere.example/auth/token"),
    "expired": lambda p, k, o: assertion(p, k, exp=int(time.time()) - 60),
    "more than five minutes ahead": lambda p, k, o: assertion(p, k, exp=int(time.time()) + 400),
    "no exp": lambda p, k, o: assertion(p, k, exp=None),
    "no jti": lambda p, k, o: assertion(p, k, jti=None),
    "sub differs from iss": lambda p, k, o: assertion(p, k, sub="someone-else"),
    "unknown client": lambda p, k, o: assertion(p, k, client="nobody", sub="nobody"),
    "unknown kid": lambda p, k, o: assertion(p, new_key()),
    "key of another client's JWKS": lambda p, k, o: assertion(p, o),
    "another client's key claiming to be this client": lambda p, k, o: assertion(
        p, SigningKey(k.kid, "ES384", o.private)),
    "HS384": lambda p, k, o: _hmac(p, k),
    "none": lambda p, k, o: _none(p, k),
    "RS256": lambda p, k, o: assertion(p, SigningKey(k.kid, "RS256", new_key("RS384").private)),
    "not a JWT": lambda p, k, o: "not.a.jwt",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_bad_assertions_are_invalid_client(provider, http, jwks_server, case):
    key, other = jwks_server.keys[CLIENT][0], jwks_server.keys[OTHER][0]
    status, headers, body = await token_request(http, provider, REFUSED[case](provider, key, other))
    assert (status, body["error"]) == (401, "invalid_client"), body
    assert headers["Cache-Control"] == "no-store" and "access_token" not in body


async def test_client_id_must_match_the_assertion(provider, http, jwks_server):
    signed = assertion(provider, jwks_server.keys[CLIENT][0])
    status, _, body = await token_request(http, provider, signed, client_id=OTHER)
    assert (status, body["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(("form", "error"), [
    ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ({"grant_type": None}, "invalid_request"),
    ({"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}, "invalid_request"),
    ({"client_assertion_type": None}, "invalid_request"),
])
async def test_malformed_token_requests_are_invalid_request(provider, http, jwks_server, form, error):
    signed = assertion(provider, jwks_server.keys[CLIENT][0])
    fields = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
              "client_assertion": signed, "scope": "system/*.rs", **form}
    async with http.post(provider.token_url, data={k: v for k, v in fields.items() if v is not None}) as response:
        assert response.status == 400 and (await response.json())["error"] == error


async def test_repeated_parameters_json_bodies_and_get_are_refused(provider, http, jwks_server):
    signed = assertion(provider, jwks_server.keys[CLIENT][0])
    repeated = [("grant_type", "client_credentials"), ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", signed), ("scope", "system/*.rs"), ("scope", "system/*.read")]
    async with http.post(provider.token_url, data=repeated) as response:
        assert response.status == 400 and (await response.json())["error"] == "invalid_request"
    async with http.post(provider.token_url, json={"grant_type": "client_credentials"}) as response:
        assert response.status == 400 and (await response.json())["error"] == "invalid_request"
    async with http.get(provider.token_url) as response:
        assert response.status == 405 and response.headers["Allow"] == "POST"


@pytest.mark.parametrize("scope", [None, "", "system/*.write", "system/Patient.cruds", "patient/*.rs", "openid",
                                   "system/*.rs user/*.rs", "system/Patient.", "system/*.*"])
async def test_scopes_beyond_read_and_search_are_invalid_scope(provider, http, jwks_server, scope):
    status, _, body = await token_request(http, provider, assertion(provider, jwks_server.keys[CLIENT][0]), scope)
    assert (status, body["error"]) == (400, "invalid_scope") and "access_token" not in body


async def test_v1_read_scopes_are_granted(provider, http, jwks_server):
    token = await access_token(http, provider, jwks_server.keys[CLIENT][0], "system/Patient.read")
    assert (await fhir_get(http, f"{provider.fhir_base('DSTU2')}/Patient?_id={PID}", token))[0] == 200
    assert (await fhir_get(http, f"{provider.fhir_base('DSTU2')}/Encounter?patient={PID}", token))[0] == 403


async def test_an_unreachable_jwks_is_invalid_client(http, jwks_server):
    async with running_provider(backend_services=BackendServicesConfig(
            clients={CLIENT: f"{jwks_server.url}/no-such/jwks/../../missing"})) as provider:
        jwks_server.keys.clear()
        status, _, body = await token_request(http, provider, assertion(provider, new_key()))
        assert (status, body["error"]) == (401, "invalid_client")


# -- command line --------------------------------------------------------------------------------------------------

def test_the_command_line_starts_backend_services_mode():
    process = subprocess.Popen([sys.executable, "-m", "devtools.demo_provider", "--port", "0", "--quiet",
                                "--backend-client", "gateway=http://127.0.0.1:9/oauth2/provider-jwks"],
                               cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = process.stdout.readline()
        assert ready.startswith("demo-provider ready http://127.0.0.1:"), ready + process.stderr.read()
        url = ready.split()[-1]
        mode = process.stdout.readline()
        assert f"token endpoint {url}/auth/token" in mode and "gateway" in mode
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{url}/stu3/Patient/{PID}", timeout=10)
        assert info.value.code == 401
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.mark.parametrize("args", [["--backend-client", "gateway"], ["--backend-client", "gateway=ftp://x/jwks"],
                                  ["--token-lifetime", "0"],
                                  ["--backend-client", "a=http://x/j", "--backend-client", "a=http://y/j"]])
def test_bad_backend_options_are_refused(args):
    done = subprocess.run([sys.executable, "-m", "devtools.demo_provider", "--port", "0", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "error" in done.stderr
