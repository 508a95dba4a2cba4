"""Provider assertions (privateKeyJwt routes): the gateway's private key never leaves the key store, the
published key set holds public members only, an assertion's audience is exactly the saved (and audited)
token URL whatever the proxied request carries, and a stored token URL that breaks the provider URL rules
is refused before anything is signed."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.admin.actor import Actor
from gateway.admin.tenant_routes import RouteSpec
from gateway.http import Headers, Request
from gateway.services import memory_services
from gateway.stores.memory_provider_keys import MemoryProviderKeyStore
from gateway.stores.models import Route, UpstreamAuth
from gateway.upstream.private_key_jwt import PrivateKeyJwtAuth
from tests.fixtures.common import make_settings
from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import Reply, connect, default_script
from tests.integration.test_proxy_destinations import PRODUCTION
from tests.support.constants import TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import proxy, respond

pytestmark = pytest.mark.integration

ADMIN = Actor("security-suite")
PUBLIC_MEMBERS = {"kty", "n", "e", "crv", "x", "y", "kid", "alg", "use"}


class CountingKeyStore(MemoryProviderKeyStore):
    """The in-memory key store, counting signatures (to prove a refusal came before any)."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.signed = 0

    async def sign(self, name, version, alg, digest):
        self.signed += 1
        return await super().sign(name, version, alg, digest)

    def private_values(self) -> list[str]:
        """Every private number of every key, base64url and decimal: what must never appear anywhere."""
        out = []
        for versions in self._keys.values():
            for item in versions:
                key = item.private
                if isinstance(key, rsa.RSAPrivateKey):
                    numbers = key.private_numbers()
                    values = [numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp]
                else:
                    assert isinstance(key, ec.EllipticCurvePrivateKey)
                    values = [key.private_numbers().private_value]
                for value in values:
                    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
                    out += [base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), str(value)]
        return out


@pytest.fixture
async def services(clock):
    svc = memory_services(make_settings())
    svc.provider_keys = CountingKeyStore(svc.clock)
    yield svc
    await svc.aclose()


def token_script(seen: list):
    def script(recorded, server):
        if recorded.path.endswith("/auth/token"):
            seen.append(recorded)
            return Reply(body={"access_token": "provider-at-" + "x" * 24, "expires_in": 300, "token_type": "bearer"},
                         content_type="application/json")
        return default_script(recorded, server)
    return script


def pkj_spec(provider, token_url: str, **auth) -> RouteSpec:
    return RouteSpec(fhir_base_url=provider.base("/stu3"), fhir_version="STU3",
                     upstream=PrivateKeyJwtAuth(token_url=token_url, client_id="gw-client", scope="system/*.rs",
                                                **auth))


async def provider_jwks(services, query: str = "") -> tuple[int, bytes]:
    response = await respond(Request("GET", f"http://localhost:7071/oauth2/provider-jwks{query}", Headers(),
                                     {"endpoint": "provider-jwks"}), services)
    return response.status, response.body


async def test_provider_jwks_has_no_private_members(services):
    ring = services.provider_key_ring
    for key_name, alg in (("gateway", "RS384"), ("gateway", "ES384"), ("st-mary", "ES384")):
        await ring.ensure(key_name, alg)
    await ring.rotate("gateway", "RS384")
    ring.forget()
    for query in ("", "?key=st-mary"):
        status, body = await provider_jwks(services, query)
        keys = json.loads(body)["keys"]
        assert status == 200 and keys
        for key in keys:
            assert set(key) <= PUBLIC_MEMBERS and key["use"] == "sig" and key["alg"] in ("RS384", "ES384")
        for value in services.provider_keys.private_values():
            assert value not in body.decode()
    assert len(json.loads((await provider_jwks(services))[1])["keys"]) == 3  # RS384 x2 (one pending), ES384


async def test_the_private_key_never_appears_in_any_response_or_log(services, provider, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list = []
    provider.script = token_script(seen)
    token = await connect(services, "0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f", provider.base("/other"))
    await services.admin_api.routes.put(ADMIN, TENANT_A, pkj_spec(provider, provider.base("/auth/token")))

    token = (await services.token_issuer.issue(client_id="teams-patients", tenant_id=TENANT_A)).access_token
    from tests.unit.admin.conftest import AdminCaller

    admin = AdminCaller(services)
    bodies = [
        (await admin("GET", f"/manage/routes/{TENANT_A}")).response.body,
        (await admin("GET", "/manage/provider-keys")).response.body,
        (await admin("POST", "/manage/provider-keys/gateway-rs384/rotate")).response.body,
        (await admin("GET", "/manage/audit")).response.body,
        (await provider_jwks(services))[1],
        (await proxy(request("GET", "/Patient/1", token), services)).body,
        *(r.body for r in seen),  # even the token request carries only the signed assertion
    ]
    assert seen, "the provider's token endpoint was asked"
    secrets = services.provider_keys.private_values()
    register_sensitive(*secrets)  # the session's log scanner fails the run if any is logged anywhere
    text = "\n".join(b.decode("utf-8", "replace") for b in bodies) + caplog.text
    assert [s for s in secrets if s in text] == []


async def test_the_assertion_audience_is_exactly_the_saved_token_url(services, provider):
    seen: list = []
    provider.script = token_script(seen)
    token_url = provider.base("/tenant-7/auth/token")
    await connect(services, "0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f", provider.base("/x"))  # the client exists
    await services.admin_api.routes.put(ADMIN, TENANT_A, pkj_spec(provider, token_url))

    token = (await services.token_issuer.issue(client_id="teams-patients", tenant_id=TENANT_A)).access_token
    # Whatever the caller of the proxy sends (Host, forwarding headers, path, query) cannot steer the audience.
    hostile = [("Host", "evil.example"), ("X-Forwarded-Host", "evil.example"), ("X-Original-URL", "/auth/token"),
               ("Authorization", f"Bearer {token}")]
    response = await proxy(request("GET", "https://evil.example/fhir/Patient/1?aud=https://evil.example/t", None,
                                   headers=hostile), services)
    assert response.status == 200, response.body[:200]
    claims = [jwt.decode(parse_qs(r.body.decode())["client_assertion"][0], options={"verify_signature": False})
              for r in seen]
    assert [c["aud"] for c in claims] == [token_url]
    assert claims[0]["iss"] == claims[0]["sub"] == "gw-client"

    # Moving the audience takes an admin change, which is audited with the old and new value.
    moved_url = provider.base("/auth/token2")
    await services.admin_api.routes.put(ADMIN, TENANT_A, pkj_spec(provider, moved_url))
    record = [r for r in services.audit.records if r.action == "route.replace"][-1]
    assert record.details["changes"]["upstreamAuth/tokenUrl"] == {"old": token_url, "new": moved_url}
    assert "upstreamAuth/tokenUrl" in record.details["boundFieldsMoved"]


@pytest.mark.parametrize("token_url", ["https://169.254.169.254/metadata/identity/oauth2/token",
                                       "https://10.0.0.5/token", "https://127.0.0.1/token", "http://provider.example/t",
                                       "https://0x7f.1/token"])
async def test_a_stored_route_whose_token_url_breaks_the_rules_is_refused_before_signing(clock, provider, token_url):
    """A route written to the table some other way (older rules, a restore) never gets an assertion signed."""
    services = memory_services(make_settings(**PRODUCTION), clock)
    store = services.provider_keys = CountingKeyStore(clock)
    try:
        await services.provider_key_ring.ensure("gateway", "RS384")
        await connect(services, "0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f", "https://ehr.example/x")
        await services.routes.create(Route(
            tenant_id=TENANT_A, fhir_base_url="https://ehr.hospital.example/fhir", fhir_version="STU3",
            upstream_auth=UpstreamAuth(type="privateKeyJwt", token_url=token_url, client_id="gw",
                                       algorithm="RS384", key_name="gateway")))

        token = (await services.token_issuer.issue(client_id="teams-patients", tenant_id=TENANT_A)).access_token
        response = await proxy(request("GET", "https://gw.example/fhir/Patient/1", token), services)
        assert response.status == 502 and "not an allowed URL" in response.body.decode()
        assert store.signed == 0 and provider.requests == []
    finally:
        await services.aclose()
