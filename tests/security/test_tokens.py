"""Hostile bearer tokens at the FHIR proxy: every one is a 401 ``invalid_token`` that never reaches
the provider; a token only ever reaches its own tenant's provider; a disabled or deleted client's
tokens stop within CLIENT_CACHE_SECONDS (the kill switch); a retired signing key's tokens stop once
its secret is deleted from Key Vault (the leaked-key runbook).

In-process on the in-memory stores with the recording provider stand-in over real sockets; the
same refusals through the local host (funchost) on Azurite and the Key Vault emulator are in
``test_host.py``.
"""

from __future__ import annotations

import base64
import json

import pytest

from gateway.admin.actor import Actor
from gateway.credentials import signing_key_secret_name
from gateway.services import memory_services
from gateway.stores.models import Client
from gateway.tokens.access_tokens import InvalidToken
from tests.fixtures.common import make_settings
from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import connect
from tests.security.forge import hostile_tokens, signed
from tests.support.constants import CLIENT_ID, TENANT_A, TENANT_B
from tests.support.fhir import request
from tests.support.oauth import post_form, token_request
from tests.support.surfaces import proxy, respond
from tests.unit.oauth.helpers import add_client

pytestmark = pytest.mark.integration  # the recording provider stand-in, over real sockets

ADMIN = Actor("security-suite")
HOSTILE_NAMES = sorted([
    "bad-signature", "tampered-payload", "foreign-key-with-our-kid", "unknown-kid", "no-kid", "expired",
    "not-yet-valid", "issued-in-the-future", "wrong-issuer", "wrong-audience", "alg-none",
    "alg-none-with-signature", "hs256-keyed-with-our-public-key", "typ-jwt", "typ-missing",
    "scope-not-the-tenant", "sub-not-the-client", "exp-not-a-number",
    *(f"missing-{c}" for c in ("iss", "aud", "sub", "client_id", "scope", "tid", "iat", "nbf", "exp", "jti")),
])


def assert_invalid_token(response, token: str) -> None:
    assert response.status == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=") and 'error="invalid_token"' in challenge
    body = response.body.decode()
    assert json.loads(body)["resourceType"] == "OperationOutcome"
    assert token not in body and token not in challenge  # never echoed
    for part in token.split("."):
        assert len(part) < 8 or part not in body


async def test_every_hostile_token_is_refused_and_never_reaches_the_provider(services, provider):
    good = await connect(services, TENANT_A, provider.base("/stu3"))
    tokens = await hostile_tokens(services, CLIENT_ID, TENANT_A)
    assert sorted(tokens) == HOSTILE_NAMES
    for name, token in tokens.items():
        response = await proxy(request("GET", "/Patient/1", token), services)
        assert response.status == 401, name
        assert_invalid_token(response, token)
    assert provider.requests == []
    assert (await proxy(request("GET", "/Patient/1", good), services)).status == 200  # the control
    assert [r.path for r in provider.requests] == ["/stu3/Patient/1"]


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Basic dGVhbXM6c2VjcmV0", "Token abc",
                                           "Bearer a.b.c", "Bearer " + "x" * 5000])
async def test_malformed_authorization_is_refused(services, provider, authorization):
    await connect(services, TENANT_A, provider.base("/stu3"))
    response = await proxy(request("GET", "/Patient/1", None, headers=[("Authorization", authorization)]), services)
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert provider.requests == []


@pytest.mark.parametrize("trick", [
    ("query", "/Patient?tenant={b}&tid={b}&x-tenant={b}"),  # _tenant: an unknown special name, refused (403)
    ("header", "/Patient"),
    ("path", "/{b}/Patient"),
    ("absolute", "/https://127.0.0.1/dstu2/Patient"),
])
async def test_a_tenant_a_token_only_ever_reaches_tenant_a(services, provider, trick):
    token_a = await connect(services, TENANT_A, provider.base("/tenant-a"))
    await connect(services, TENANT_B, provider.base("/tenant-b"), fhir_version="STU3")
    kind, path = trick
    headers = [("Accept", "application/fhir+json")]
    if kind == "header":
        headers += [("X-Tenant-Id", TENANT_B), ("X-MS-Tenant-Id", TENANT_B), ("tid", TENANT_B),
                    ("X-Forwarded-Host", "tenant-b.example"), ("X-Original-URL", f"/fhir/{TENANT_B}/Patient")]
    response = await proxy(request("GET", path.format(b=TENANT_B), token_a, headers=headers), services)
    assert response.status in (200, 400)
    assert all(r.path.startswith("/tenant-a/") for r in provider.requests)
    assert all(TENANT_B not in r.path for r in provider.requests)
    if kind == "query":  # the query is the tenant A provider's business, passed verbatim
        assert [r.path for r in provider.requests] == ["/tenant-a/Patient"]
    else:
        assert TENANT_B not in response.body.decode()


async def test_a_validly_signed_token_for_a_tenant_the_client_may_not_use_is_refused(services, provider):
    await services.clients.create(Client(client_id="only-a", display_name="A only", allowed_tenants=(TENANT_A,)))
    await connect(services, TENANT_A, provider.base("/tenant-a"))
    await connect(services, TENANT_B, provider.base("/tenant-b"))
    # signed with the real key, e.g. minted before allowedTenants was narrowed
    token = await signed(services, "only-a", TENANT_B)
    response = await proxy(request("GET", "/Patient/1", token), services)
    assert response.status == 401 and "may not access this tenant" in response.body.decode()
    mixed = await signed(services, "only-a", TENANT_A, scope=TENANT_B)  # scope and tid disagree
    assert (await proxy(request("GET", "/Patient/1", mixed), services)).status == 401
    assert provider.requests == []


@pytest.mark.parametrize("change", ["disable", "delete"])
async def test_kill_switch_stops_a_clients_tokens_within_the_client_cache_lifetime(clock, provider, change):
    services = memory_services(make_settings(CLIENT_CACHE_SECONDS="5"), clock)
    try:
        token = await connect(services, TENANT_A, provider.base("/stu3"))
        assert (await proxy(request("GET", "/Patient/1", token), services)).status == 200
        if change == "disable":
            await services.admin_api.clients.update(ADMIN, CLIENT_ID, enabled=False)
        else:
            await services.admin_api.clients.delete(ADMIN, CLIENT_ID)
        clock.advance(5.01)
        response = await proxy(request("GET", "/Patient/1", token), services)
        assert response.status == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        assert len(provider.requests) == 1
        fresh = (await services.token_issuer.issue(client_id=CLIENT_ID, tenant_id=TENANT_A)).access_token
        assert (await proxy(request("GET", "/Patient/1", fresh), services)).status == 401  # no way back in
    finally:
        await services.aclose()


async def test_deleting_a_leaked_signing_key_cuts_its_grace_period(clock, provider):
    """Runbook: rotate, then delete the old key's Key Vault secret: its tokens stop within
    SIGNING_KEY_CACHE_SECONDS + the proxy's 60 s verified-token memo, tokens of the new key keep working."""
    services = memory_services(make_settings(SIGNING_KEY_CACHE_SECONDS="30"), clock)
    try:
        old_token = await connect(services, TENANT_A, provider.base("/stu3"))
        old_kid = (await services.key_ring.signing_key()).kid
        assert (await proxy(request("GET", "/Patient/1", old_token), services)).status == 200
        new = await services.admin_api.signing_keys.rotate(ADMIN)
        assert new.kid != old_kid
        new_token = (await services.token_issuer.issue(client_id=CLIENT_ID, tenant_id=TENANT_A)).access_token
        clock.advance(1)
        assert (await proxy(request("GET", "/Patient/1", old_token), services)).status == 200  # grace period
        await services.secrets.delete(signing_key_secret_name(services.settings.key_vault_secret_prefix, old_kid))
        clock.advance(61)  # > SIGNING_KEY_CACHE_SECONDS and the verified-token memo
        refused = await proxy(request("GET", "/Patient/1", old_token), services)
        assert refused.status == 401 and "retired signing key" in refused.headers["WWW-Authenticate"]
        assert (await proxy(request("GET", "/Patient/1", new_token), services)).status == 200
    finally:
        await services.aclose()


async def test_leaked_secret_runbook_revoke_then_kill_switch(clock, provider):
    """Revoking a leaked secret stops new tokens within CLIENT_CACHE_SECONDS, but tokens already minted
    with it live until they expire (they do not name the secret); the kill switch stops those too."""
    services = memory_services(make_settings(CLIENT_CACHE_SECONDS="5"), clock)
    try:
        await connect(services, TENANT_B, provider.base("/stu3"))  # a route for the tenant
        leaked = await add_client(services, "leaky", tenants=(TENANT_B,))
        register_sensitive(leaked)
        minted = await respond(token_request(post_form("leaky", leaked, scope=TENANT_B)), services)
        assert minted.status == 200
        stolen_token = json.loads(minted.body)["access_token"]
        register_sensitive(stolen_token)
        client = await services.clients.get("leaky")
        replacement = await services.admin_api.client_secrets.add(ADMIN, "leaky")
        register_sensitive(replacement.secret)
        await services.admin_api.client_secrets.revoke(ADMIN, "leaky", client.secrets[0].secret_id)
        clock.advance(5.01)
        refused = await respond(token_request(post_form("leaky", leaked, scope=TENANT_B)), services)
        assert refused.status == 401 and json.loads(refused.body)["error"] == "invalid_client"
        honest = await respond(token_request(post_form("leaky", replacement.secret, scope=TENANT_B)), services)
        assert honest.status == 200
        # The token minted with the revoked secret still works: it expires on its own (TOKEN_LIFETIME_SECONDS).
        assert (await proxy(request("GET", "/Patient/1", stolen_token), services)).status == 200
        await services.admin_api.clients.update(ADMIN, "leaky", enabled=False)  # the kill switch cuts it at once here
        assert (await proxy(request("GET", "/Patient/1", stolen_token), services)).status == 401
        audit = await services.admin_api.audit.list()
        assert {"secret.add", "secret.revoke", "client.update"} <= {record.action for record in audit.items}
    finally:
        await services.aclose()


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # n of P-256 (SEC 2 §2.4.2)


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def other_encodings(token: str) -> dict[str, str]:
    """Other spellings of one valid token: each decodes to the same header, claims and a valid signature."""
    head, body, signature = token.split(".")
    raw = _unb64(signature)
    s = int.from_bytes(raw[32:], "big")
    high_s = raw[:32] + (P256_ORDER - s).to_bytes(32, "big")
    padded = base64.urlsafe_b64encode(raw).decode()  # 64 bytes: 86 characters + "=="
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(signature[-1])
    trailing_bits = signature[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last | 1]
    return {
        "high-s-signature": f"{head}.{body}.{_b64(high_s)}",
        "padded-signature": f"{head}.{body}.{padded}",
        "padded-payload": f"{head}.{body}{'=' * (-len(body) % 4) or '=='}.{signature}",
        "trailing-space": f"{token} ",
        "leading-space": f" {token}",
        "trailing-newline": f"{token}\n",
        "space-inside": f"{head}.{body}. {signature}",
        "non-zero-trailing-bits": f"{head}.{body}.{trailing_bits}",
        "standard-base64-alphabet": f"{head}.{body}.{base64.b64encode(raw).rstrip(b'=').decode()}"
        if any(c in signature for c in "-_") else f"{head}.{body}.{signature}+",
    }


async def test_a_valid_token_has_exactly_one_accepted_encoding(services, provider):
    token = await connect(services, TENANT_A, provider.base("/stu3"))
    variants = other_encodings(token)
    for name, variant in variants.items():
        assert variant != token, name
        with pytest.raises(InvalidToken):
            await services.token_verifier.verify(variant)
        if variant.strip() == token:
            continue  # in a header, surrounding white space is HTTP framing, not the token (RFC 9110 §5.5)
        response = await proxy(request("GET", "/Patient/1", None, headers=[("Authorization", f"Bearer {variant}")]),
                               services)
        assert response.status == 401, name
    assert provider.requests == []
    assert (await services.token_verifier.verify(token)).client_id == CLIENT_ID  # the control


async def test_the_gateway_signs_every_token_in_low_s_form(services):
    await add_client(services, CLIENT_ID, tenants=(TENANT_A,))
    for _ in range(40):  # cryptography's ECDSA emits high S about half of the time
        issued = await services.token_issuer.issue(client_id=CLIENT_ID, tenant_id=TENANT_A)
        signature = _unb64(issued.access_token.split(".")[2])
        assert len(signature) == 64
        assert int.from_bytes(signature[32:], "big") <= P256_ORDER // 2
        await services.token_verifier.verify(issued.access_token)
