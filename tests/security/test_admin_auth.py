"""The admin plane verifies Entra ID access tokens itself; no header a caller sets names the caller.

In-process against a real local issuer (discovery + JWKS over loopback HTTP): every kind of forged,
foreign or stale token is a 401 with ``WWW-Authenticate: Bearer`` and changes nothing, a token without
the app role is a 403, user and app-only tokens with the role pass, and every refusal is audited without
the token and without flooding the audit table.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.admin import access
from gateway.admin.actor import Actor
from gateway.config import Settings, SettingsError
from gateway.http import Headers, Request
from gateway.services import memory_services
from tests.fixtures.common import DEV_SETTINGS, make_settings
from tests.fixtures.entra import ADMIN_ROLE, AUDIENCE, SERVICE_APP_ID, LocalEntraTenant, SigningKey
from tests.security import rawhttp
from tests.support.constants import TENANT
from tests.support.surfaces import dispatch

KEY = "security-test-function-key-0123456789"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return head + "." + b64url(signature)


def hs256_with_public_key(issuer: LocalEntraTenant) -> str:
    """The classic confusion attack: HMAC keyed with the issuer's public key (which anyone can download)."""
    key = issuer.keys[-1]
    pem = key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode()) + "." + \
        b64url(json.dumps(issuer.user_claims()).encode())
    return head + "." + b64url(hmac.new(pem, head.encode(), hashlib.sha256).digest())


def hostile_tokens(issuer: LocalEntraTenant) -> dict[str, str]:
    real = issuer.keys[-1]
    attacker = SigningKey()
    other_tenant = str(uuid.uuid4())
    now = int(time.time())
    valid = issuer.user_token()
    head, payload, signature = valid.split(".")
    forged_payload = b64url(json.dumps(issuer.user_claims(preferred_username="mallory@evil.example")).encode())
    return {
        "forged with the tenant's kid": issuer.sign(issuer.user_claims(), key=attacker,
                                                    headers={"kid": real.kid}),
        "claims swapped under a valid signature": f"{head}.{forged_payload}.{signature}",
        "unsigned": f"{head}.{payload}.",
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": real.kid}, issuer.user_claims()),
        "alg None": unsigned({"alg": "None", "kid": real.kid}, issuer.user_claims()),
        "HS256 keyed with the public key": hs256_with_public_key(issuer),
        "RS512 by the right key": issuer.sign(issuer.user_claims(), algorithm="RS512"),
        "PS256 by the right key": issuer.sign(issuer.user_claims(), algorithm="PS256"),
        "foreign key and kid": issuer.sign(issuer.user_claims(), key=attacker),
        "foreign key embedded as jwk": issuer.sign(issuer.user_claims(), key=attacker,
                                                   headers={"jwk": attacker.jwk}),
        "foreign key set named by jku": issuer.sign(issuer.user_claims(), key=attacker, headers={
            "jku": f"http://127.0.0.1:{issuer.port}/attacker/keys", "kid": attacker.kid}),
        "unknown kid": issuer.sign(issuer.user_claims(), key=real, headers={"kid": "no-such-kid"}),
        "no kid": issuer.sign(issuer.user_claims(), key=real, headers={"kid": None}),
        "v1.0 issuer of the same tenant": issuer.user_token(iss=issuer.v1_issuer),
        "another tenant's v2.0 issuer": issuer.user_token(
            iss=f"http://127.0.0.1:{issuer.port}/{other_tenant}/v2.0"),
        "issuer with a trailing slash": issuer.user_token(iss=issuer.issuer + "/"),
        "issuer of the multi-tenant template": issuer.user_token(
            iss=f"http://127.0.0.1:{issuer.port}/{{tenantid}}/v2.0"),
        "no issuer": issuer.user_token(iss=None),
        "wrong audience": issuer.user_token(aud="https://management.azure.com"),
        "audience as a list with ours": issuer.user_token(aud=[AUDIENCE, "https://graph.microsoft.com"]),
        "no audience": issuer.user_token(aud=None),
        "expired": issuer.user_token(exp=now - 600, iat=now - 4200, nbf=now - 4200),
        "not yet valid": issuer.user_token(nbf=now + 600, iat=now + 600, exp=now + 4200),
        "no expiry": issuer.user_token(exp=None),
        "exp as a string": issuer.user_token(exp=str(now + 3600)),
        "not a JWT": "not-a-jwt",
        "two segments": f"{head}.{payload}",
        "oversized": issuer.user_token(padding="x" * 20000),
    }


def make_request(method: str, path: str, *, token: str | None = None, headers: dict[str, str] | None = None,
                 body: Any = None, key: str = KEY) -> Request:
    hdrs = Headers({"x-functions-key": key, "x-forwarded-for": "203.0.113.9:40000"})
    if token is not None:
        hdrs.set("Authorization", f"Bearer {token}")
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.set("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        hdrs.set(name, value)
    return Request(method, f"http://localhost:7071{path}", hdrs, {"path": path.removeprefix("/manage/")}, data)


@pytest.fixture
def entra_services(entra_issuer, clock):
    return memory_services(make_settings(**entra_issuer.settings()), clock)


NEW_CLIENT = {"displayName": "Mallory's client", "allowedTenants": ["*"]}


async def test_user_and_app_only_tokens_with_the_role_are_accepted_and_name_the_actor(entra_issuer,
                                                                                      entra_services):
    user = await dispatch(make_request("POST", "/manage/clients", token=entra_issuer.user_token(), body=NEW_CLIENT),
                          entra_services)
    assert user.status == 201
    app = await dispatch(make_request("PUT", f"/manage/routes/{TENANT}", token=entra_issuer.app_token(),
                                      body={"fhirBaseUrl": "http://127.0.0.1:9/fhir", "fhirVersion": "STU3"}),
                         entra_services)
    assert app.status == 201
    actors = [r.actor for r in entra_services.audit.records]
    assert actors == ["entra:alice@contoso.example (oid a1b2c3d4-0000-4000-8000-00000000a11c)",
                      f"entra:app {SERVICE_APP_ID} (oid 5d6e7f80-0000-4000-8000-0000000005b5)"]


async def test_hostile_tokens_are_refused_with_a_bearer_challenge_and_change_nothing(entra_issuer,
                                                                                     entra_services):
    for name, token in hostile_tokens(entra_issuer).items():
        reply = await dispatch(make_request("POST", "/manage/clients", token=token, body=NEW_CLIENT), entra_services)
        assert reply.status == 401, name
        assert reply.headers["WWW-Authenticate"].startswith("Bearer "), name
        assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"], name
        assert reply.headers["Content-Type"].startswith("application/problem+json"), name
        assert token[-20:] not in reply.body.decode(), name
    assert (await entra_services.clients.list()).items == []
    # Each refusal is in the audit trail, with a reason and the function key's fingerprint, never the token.
    records = entra_services.audit.records
    assert len(records) == len(hostile_tokens(entra_issuer))
    key_actor = Actor.from_function_key(KEY).name
    assert {r.actor for r in records} == {key_actor}
    assert all(r.action == "client.create" and r.outcome.startswith("failed:401 ") for r in records)
    reasons = {r.outcome.removeprefix("failed:401 ") for r in records}
    assert {"bad-signature", "algorithm", "unknown-key", "wrong-issuer", "wrong-audience", "expired",
            "not-yet-valid", "malformed-token", "missing-claim"} <= reasons
    assert all("eyJ" not in json.dumps([r.outcome, r.details, r.target_id]) for r in records)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YWRtaW46YWRtaW4="}, {"Authorization": "Bearer"},
                                     {"Authorization": "Bearer  "}])
async def test_no_bearer_token_is_401_without_an_error_code(entra_services, headers):
    reply = await dispatch(make_request("GET", "/manage/clients", headers=headers), entra_services)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="gateway-admin"'
    assert json.loads(reply.body)["type"].endswith(":unauthorized")
    [record] = entra_services.audit.records
    assert (record.action, record.outcome) == ("admin.access", "failed:401 missing-token")


async def test_a_valid_token_without_the_role_is_403_and_audited_under_its_identity(entra_issuer,
                                                                                    entra_services):
    for token in (entra_issuer.user_token(roles=["Gateway.Reader"]), entra_issuer.app_token(roles=[]),
                  entra_issuer.sign({**entra_issuer.user_claims(), "roles": ADMIN_ROLE}),  # a string, not a list
                  entra_issuer.user_token(roles=["gateway.admin"])):  # roles compare exactly
        reply = await dispatch(make_request("DELETE", f"/manage/routes/{TENANT}", token=token), entra_services)
        assert reply.status == 403
        assert 'error="insufficient_scope"' in reply.headers["WWW-Authenticate"]
    outcomes = [(r.action, r.actor.split(" ")[0], r.outcome) for r in entra_services.audit.records]
    assert outcomes[0] == ("route.delete", "entra:alice@contoso.example", "failed:403 missing-role")
    assert outcomes[1] == ("route.delete", "entra:app", "failed:403 missing-role")


@pytest.mark.parametrize("principal_claims", [
    {"auth_typ": "aad", "claims": [{"typ": "roles", "val": ADMIN_ROLE}, {"typ": "name", "val": "ops@contoso"}],
     "name_typ": "name", "role_typ": "roles"}])
async def test_a_forged_client_principal_header_grants_nothing(entra_issuer, entra_services, clock,
                                                               principal_claims):
    forged = {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal_claims).encode()).decode(),
              "X-MS-CLIENT-PRINCIPAL-NAME": "ops@contoso", "X-MS-CLIENT-PRINCIPAL-ID": "0000"}
    alone = await dispatch(make_request("POST", "/manage/clients", headers=forged, body=NEW_CLIENT), entra_services)
    assert alone.status == 401
    with_reader = await dispatch(make_request("POST", "/manage/clients", headers=forged, body=NEW_CLIENT,
                                              token=entra_issuer.user_token(roles=["Gateway.Reader"])), entra_services)
    assert with_reader.status == 403
    assert (await entra_services.clients.list()).items == []
    assert all("ops@contoso" not in r.actor for r in entra_services.audit.records)
    # Without Entra ID authentication configured the header does not name the actor either.
    plain = memory_services(make_settings(), clock)
    reply = await dispatch(make_request("POST", "/manage/clients", headers=forged, body=NEW_CLIENT), plain)
    assert reply.status == 201
    assert [r.actor for r in plain.audit.records] == [Actor.from_function_key(KEY).name]


async def test_refused_attempts_cannot_flood_the_audit_trail(entra_issuer, entra_services, clock):
    bad = entra_issuer.user_token(aud="https://elsewhere.example")
    for _ in range(access.REFUSAL_BURST * 4):
        reply = await dispatch(make_request("DELETE", f"/manage/routes/{TENANT}", token=bad), entra_services)
        assert reply.status == 401
    records = entra_services.audit.records
    assert len(records) == access.REFUSAL_BURST
    clock.advance(60)
    await dispatch(make_request("DELETE", f"/manage/routes/{TENANT}", token=bad), entra_services)
    latest = entra_services.audit.records[-1]
    assert latest.outcome == f"failed:401 wrong-audience (+{access.REFUSAL_BURST * 3} unrecorded)"
    assert all(len(json.dumps([r.actor, r.action, r.target_id, r.outcome, r.details])) < 400
               for r in entra_services.audit.records)


async def test_unknown_kid_refetches_the_keys_at_most_once_a_minute(entra_issuer, entra_services, clock):
    async def status(token: str) -> int:
        return (await dispatch(make_request("GET", "/manage/clients", token=token), entra_services)).status

    assert await status(entra_issuer.user_token()) == 200
    assert entra_issuer.key_fetches == 1
    for i in range(20):  # made-up kids: refused without a fetch each
        assert await status(entra_issuer.sign(entra_issuer.user_claims(), headers={"kid": f"made-up-{i}"})) == 401
    assert entra_issuer.key_fetches == 1  # the first fetch was less than a minute ago
    entra_issuer.rotate()
    rotated = entra_issuer.user_token()
    assert await status(rotated) == 401  # not yet: the last fetch is under a minute old
    assert entra_issuer.key_fetches == 1
    clock.advance(61)
    burst = await asyncio.gather(*(status(rotated) for _ in range(10)))  # the new key is picked up, once
    assert burst == [200] * 10
    assert entra_issuer.key_fetches == 2
    for _ in range(10):
        assert await status(entra_issuer.sign(entra_issuer.user_claims(), headers={"kid": "made-up"})) == 401
    assert entra_issuer.key_fetches == 2
    assert entra_issuer.discovery_fetches == 1


async def test_an_unreachable_issuer_is_503_not_a_pass(entra_issuer, clock):
    settings = make_settings(**entra_issuer.settings())
    entra_issuer.stop()
    services = memory_services(settings, clock)
    reply = await dispatch(make_request("POST", "/manage/clients", token="a.b.c", body=NEW_CLIENT), services)
    assert reply.status in (401, 503)  # a malformed token needs no keys
    token = LocalEntraTenant().user_token()
    reply = await dispatch(make_request("POST", "/manage/clients", token=token, body=NEW_CLIENT), services)
    assert reply.status == 503 and reply.headers["Retry-After"]
    assert (await services.clients.list()).items == []


@pytest.mark.parametrize("overrides, named", [
    ({"ADMIN_REQUIRED_ROLE": ADMIN_ROLE}, "ADMIN_AUTH_AUTHORITY"),
    ({"ADMIN_AUTH_AUDIENCE": AUDIENCE}, "ADMIN_AUTH_AUTHORITY"),
    ({"ADMIN_AUTH_AUTHORITY": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"},
     "ADMIN_AUTH_AUDIENCE"),
    ({"ADMIN_AUTH_AUTHORITY": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
      "ADMIN_AUTH_AUDIENCE": AUDIENCE}, "ADMIN_REQUIRED_ROLE"),
    ({"ADMIN_AUTH_AUTHORITY": "https://login.microsoftonline.com/common/v2.0", "ADMIN_AUTH_AUDIENCE": AUDIENCE,
      "ADMIN_REQUIRED_ROLE": ADMIN_ROLE}, "ADMIN_AUTH_AUTHORITY"),
    ({"ADMIN_AUTH_AUTHORITY": "https://login.microsoftonline.com/organizations/v2.0",
      "ADMIN_AUTH_AUDIENCE": AUDIENCE, "ADMIN_REQUIRED_ROLE": ADMIN_ROLE}, "ADMIN_AUTH_AUTHORITY"),
    ({"ADMIN_AUTH_AUTHORITY": "http://login.example.org/tenant/v2.0", "ADMIN_AUTH_AUDIENCE": AUDIENCE,
      "ADMIN_REQUIRED_ROLE": ADMIN_ROLE}, "ADMIN_AUTH_AUTHORITY"),
])
def test_incomplete_or_unsafe_admin_auth_settings_fail_at_start(overrides, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_mapping({**DEV_SETTINGS, **overrides})


def test_a_loopback_http_authority_is_for_development_only():
    local = {"ADMIN_AUTH_AUTHORITY": "http://127.0.0.1:8123/tenant/v2.0", "ADMIN_AUTH_AUDIENCE": AUDIENCE,
             "ADMIN_REQUIRED_ROLE": ADMIN_ROLE}
    assert Settings.from_mapping({**DEV_SETTINGS, **local}).admin_entra_auth
    production = {"GATEWAY_ENVIRONMENT": "production", "PUBLIC_BASE_URL": "https://gw.example.org",
                  "TABLES_ENDPOINT": "https://st.table.core.windows.net", "KEY_VAULT_URL": "https://kv.vault.azure.net"}
    with pytest.raises(SettingsError, match="ADMIN_AUTH_AUTHORITY"):
        Settings.from_mapping({**production, **local})
    accepted = Settings.from_mapping({**production, **local, "ADMIN_AUTH_AUTHORITY":
                                      "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"})
    assert accepted.admin_auth_audience == AUDIENCE and accepted.admin_required_role == ADMIN_ROLE


# --------------------------------------------------------------------------- through the local Functions host

def _audit_actors(gw, token: str | None = None) -> list[tuple[str, str, str]]:
    headers = [("x-functions-key", gw.function_key)] + ([("Authorization", f"Bearer {token}")] if token else [])
    reply = rawhttp.send(gw.url, "GET", "/manage/audit?pageSize=50", headers)
    assert reply.status == 200, reply.text
    return [(r["actor"], r["action"], r["outcome"]) for r in json.loads(reply.text)["items"]]


@pytest.mark.e2e
async def test_the_audit_actor_is_the_key_the_host_accepted(start_gateway):
    gw = await start_gateway()
    body = json.dumps(NEW_CLIENT).encode()
    json_type = ("Content-Type", "application/json")
    # ?CODE=<key>&code=junk: the host takes the first (query names are case-insensitive in ASP.NET Core).
    by_query = rawhttp.send(gw.url, "POST", f"/manage/clients?CODE={gw.function_key}&code=junk", [json_type], body)
    assert by_query.status == 201
    # Two x-functions-key headers: the host takes the first; the worker sees them joined with ",".
    by_headers = rawhttp.send(gw.url, "POST", "/manage/clients",
                              [("x-functions-key", gw.function_key), ("x-functions-key", "junk"), json_type], body)
    assert by_headers.status == 201
    # The host refuses what Azure refuses: the first value wrong, or an empty header before a good query key.
    for target, headers in ((f"/manage/clients?code=junk&CODE={gw.function_key}", []),
                            ("/manage/clients", [("x-functions-key", "junk"), ("x-functions-key", gw.function_key)]),
                            (f"/manage/clients?code={gw.function_key}", [("x-functions-key", "")])):
        assert rawhttp.send(gw.url, "POST", target, [*headers, json_type], body).status == 401, (target, headers)
    expected = Actor.from_function_key(gw.function_key).name
    assert [a for a, action, _ in _audit_actors(gw) if action == "client.create"] == [expected, expected]


@pytest.mark.e2e
async def test_entra_tokens_through_the_local_host(start_gateway, entra_issuer):
    gw = await start_gateway(**entra_issuer.settings())
    key = ("x-functions-key", gw.function_key)
    json_type = ("Content-Type", "application/json")
    body = json.dumps(NEW_CLIENT).encode()
    principal = base64.b64encode(json.dumps({"auth_typ": "aad", "claims": [
        {"typ": "roles", "val": ADMIN_ROLE}, {"typ": "name", "val": "ops@contoso"}]}).encode()).decode()

    missing = rawhttp.send(gw.url, "POST", "/manage/clients", [key, json_type, ("X-MS-CLIENT-PRINCIPAL", principal)],
                           body)
    assert missing.status == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"].startswith("application/problem+json")
    expired = entra_issuer.user_token(exp=int(time.time()) - 600)
    refused = rawhttp.send(gw.url, "POST", "/manage/clients", [key, json_type, ("Authorization", f"Bearer {expired}")],
                           body)
    assert refused.status == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert expired not in refused.text
    # A valid token without the function key never reaches the app.
    token = entra_issuer.user_token()
    assert rawhttp.send(gw.url, "GET", "/manage/clients", [("Authorization", f"Bearer {token}")]).status == 401
    created = rawhttp.send(gw.url, "POST", "/manage/clients", [key, json_type, ("Authorization", f"Bearer {token}")],
                           body)
    assert created.status == 201, created.text
    app = rawhttp.send(gw.url, "GET", "/manage/clients", [key, ("Authorization", f"Bearer {entra_issuer.app_token()}")])
    assert app.status == 200
    reader = entra_issuer.user_token(roles=["Gateway.Reader"])
    assert rawhttp.send(gw.url, "GET", "/manage/clients", [key, ("Authorization", f"Bearer {reader}")]).status == 403

    key_actor = Actor.from_function_key(gw.function_key).name
    audit = _audit_actors(gw, token)
    assert ("entra:alice@contoso.example (oid a1b2c3d4-0000-4000-8000-00000000a11c)", "client.create",
            "success") in audit
    assert (key_actor, "client.create", "failed:401 missing-token") in audit
    assert (key_actor, "client.create", "failed:401 expired") in audit
    assert any(actor.startswith("entra:alice") and outcome == "failed:403 missing-role" for actor, _, outcome in audit)
    assert entra_issuer.key_fetches == 1
