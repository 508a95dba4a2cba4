"""Admin API for clients that authenticate with private_key_jwt (RFC 7523, SMART Backend Services) and for every
client's allowedScopes: validation, no secrets, PATCH of keys audited field by field, caches forgotten."""

from __future__ import annotations

import json

import pytest

from gateway.oauth.jwks import parse_public_jwks
from tests.support.constants import TENANT
from tests.support.vault import deployment_secret
from tests.unit.admin.test_handlers import assert_problem
from tests.unit.oauth.keys import ec_key, private_jwk, public_jwk, rsa_key

JWKS = {"keys": [public_jwk(rsa_key(), "rsa-1"), public_jwk(ec_key(), "ec-1")]}


def key_client(**overrides) -> dict:
    body = {"displayName": "Backend service", "allowedTenants": [TENANT],
            "authentication": {"method": "private_key_jwt", "jwks": JWKS}}
    body.update(overrides)
    return body


async def create(admin, **overrides) -> dict:
    reply = await admin("POST", "/manage/clients", key_client(**overrides))
    assert reply.status == 201, reply.json()
    return reply.json()


async def test_a_private_key_jwt_client_is_created_without_a_secret(admin, services):
    body = await create(admin)
    assert set(body) == {"clientId", "client"}
    client = body["client"]
    assert client["secrets"] == [] and client["allowedScopes"] == "system/*.rs"
    assert client["authentication"] == {"method": "private_key_jwt", "jwksUrl": None, "jwks": JWKS}
    assert [s for s in await services.secrets.list() if not deployment_secret(s.name)] == []  # no verifier either
    stored = await services.clients.get(body["clientId"])
    assert len(parse_public_jwks(json.loads(stored.authentication.jwks))) == 2


async def test_a_secret_client_still_gets_its_secret_and_shows_its_method(admin):
    reply = await admin("POST", "/manage/clients", {"displayName": "Teams", "allowedTenants": [TENANT]})
    body = reply.json()
    assert reply.status == 201 and body["clientSecret"] and body["secretId"]
    assert body["client"]["authentication"] == {"method": "client_secret"}
    assert body["client"]["allowedScopes"] == "system/*.rs"


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
async def test_a_private_rsa_member_is_a_422_naming_it_never_its_value(admin, services, member):
    key = {**public_jwk(rsa_key(), "rsa-1"), member: private_jwk(rsa_key(), "x")[member]}
    reply = await admin("POST", "/manage/clients", key_client(authentication={"method": "private_key_jwt",
                                                                              "jwks": {"keys": [key]}}))
    problem = assert_problem(reply, 422)
    assert any(f"'{member}'" in e["message"] and e["field"] == "authentication/jwks" for e in problem["errors"])
    assert key[member] not in reply.response.body.decode()
    assert (await services.clients.list()).items == []


async def test_a_private_ec_key_and_a_symmetric_key_are_refused(admin):
    ec_private = private_jwk(ec_key(), "ec-1")
    assert_problem(await admin("POST", "/manage/clients", key_client(
        authentication={"method": "private_key_jwt", "jwks": {"keys": [ec_private]}})), 422)
    assert_problem(await admin("POST", "/manage/clients", key_client(
        authentication={"method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}})),
        422)


@pytest.mark.parametrize("authentication", [
    {"method": "private_key_jwt"},
    {"method": "private_key_jwt", "jwks": JWKS, "jwksUrl": "https://keys.example.org/jwks.json"},
    {"method": "client_secret", "jwks": JWKS},
    {"method": "tls_client_auth"},
    {"method": "private_key_jwt", "jwksUrl": "ftp://keys.example.org/jwks.json"},
    {"method": "private_key_jwt", "jwks": {"keys": []}},
    {"method": "private_key_jwt", "jwks": {"keys": [public_jwk(rsa_key(), "same"), public_jwk(ec_key(), "same")]}},
])
async def test_malformed_authentication_is_422_and_creates_nothing(admin, services, authentication):
    assert_problem(await admin("POST", "/manage/clients", key_client(authentication=authentication)), 422)
    assert (await services.clients.list()).items == []


@pytest.mark.parametrize("scopes", ["", "system/*.sr", "patient/*.read", "openid", "system/Patient.rs x",
                                    "system/*.rs " * 300])
async def test_invalid_allowed_scopes_are_422(admin, scopes):
    assert_problem(await admin("POST", "/manage/clients", key_client(allowedScopes=scopes)), 422)


async def test_allowed_scopes_are_stored_in_v2_form(admin):
    body = await create(admin, allowedScopes="system/Patient.read system/Observation.rs system/Patient.rs")
    assert body["client"]["allowedScopes"] == "system/Observation.rs system/Patient.rs"


async def test_the_secrets_endpoints_refuse_a_private_key_jwt_client(admin, services):
    client_id = (await create(admin))["clientId"]
    assert_problem(await admin("POST", f"/manage/clients/{client_id}/secrets"), 409)
    assert_problem(await admin("DELETE", f"/manage/clients/{client_id}/secrets/0123456789abcdef"), 409)
    assert [s for s in await services.secrets.list() if not deployment_secret(s.name)] == []


async def test_patch_replaces_the_keys_audits_them_and_forgets_the_cached_ones(admin, services):
    client_id = (await create(admin))["clientId"]
    authenticator = services.assertion_authenticator
    fetched_before = authenticator.fetcher.fetches
    new_jwks = {"keys": [public_jwk(rsa_key("rotated"), "rsa-2")]}
    reply = await admin("PATCH", f"/manage/clients/{client_id}",
                        {"authentication": {"method": "private_key_jwt", "jwks": new_jwks},
                         "allowedScopes": "system/Patient.rs"}, content_type="application/merge-patch+json")
    assert reply.status == 200 and reply.json()["authentication"]["jwks"] == new_jwks
    assert reply.json()["allowedScopes"] == "system/Patient.rs"
    changes = services.audit.records[-1].details["changes"]
    assert set(changes) == {"authentication/jwks", "allowedScopes"}
    assert [name.split("#")[0] for name in changes["authentication/jwks"]["old"]] == ["rsa-1", "ec-1"]
    assert [name.split("#")[0] for name in changes["authentication/jwks"]["new"]] == ["rsa-2"]
    assert changes["allowedScopes"] == {"old": "system/*.rs", "new": "system/Patient.rs"}
    url = "https://keys.example.org/jwks.json"
    reply = await admin("PATCH", f"/manage/clients/{client_id}",
                        {"authentication": {"method": "private_key_jwt", "jwksUrl": url}},
                        content_type="application/merge-patch+json")
    assert reply.status == 200 and reply.json()["authentication"] == {"method": "private_key_jwt", "jwksUrl": url,
                                                                      "jwks": None}
    changes = services.audit.records[-1].details["changes"]
    assert changes["authentication/jwksUrl"] == {"old": None, "new": url}
    assert changes["authentication/jwks"]["new"] is None
    assert authenticator.fetcher.fetches == fetched_before


async def test_patch_forgets_this_workers_fetched_jwks(admin, services):
    url = "https://keys.example.org/jwks.json"
    client_id = (await create(admin, authentication={"method": "private_key_jwt", "jwksUrl": url}))["clientId"]
    fetcher = services.assertion_authenticator.fetcher
    forgotten: list[str] = []
    original = fetcher.invalidate
    fetcher.invalidate = lambda cid: (forgotten.append(cid), original(cid))[1]
    await admin("PATCH", f"/manage/clients/{client_id}",
                {"authentication": {"method": "private_key_jwt", "jwksUrl": url + "?v=2"}},
                content_type="application/merge-patch+json")
    await admin("PATCH", f"/manage/clients/{client_id}",
                {"authentication": {"method": "private_key_jwt", "jwksUrl": "https://keys.example.org/v2.json"}},
                content_type="application/merge-patch+json")
    assert forgotten == [client_id]  # the 422 (a query in the URL) changed nothing


async def test_the_method_cannot_change(admin):
    client_id = (await create(admin))["clientId"]
    reply = await admin("PATCH", f"/manage/clients/{client_id}", {"authentication": {"method": "client_secret"}},
                        content_type="application/merge-patch+json")
    problem = assert_problem(reply, 422)
    assert problem["errors"][0]["field"] == "authentication/method"


async def test_the_openapi_document_describes_authentication_and_scopes(admin):
    document = (await admin("GET", "/manage/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "authentication" in schemas["ClientCreate"]["properties"]
    assert "allowedScopes" in schemas["ClientPatch"]["properties"]
    assert set(schemas["ClientAuthentication"]["discriminator"]["mapping"]) == {"client_secret", "private_key_jwt"}
    assert {"authentication", "allowedScopes"} <= set(schemas["Client"]["required"])


async def test_views_never_return_a_private_member_even_if_one_were_stored(admin, services):
    from tests.unit.oauth.helpers import add_key_client

    leaked = {**public_jwk(rsa_key(), "rsa-1"), "d": private_jwk(rsa_key(), "x")["d"]}
    await add_key_client(services, "stored-by-hand", jwks={"keys": [leaked]})  # bypassing the admin API's check
    listing = await admin("GET", "/manage/clients")
    assert listing.status == 200 and leaked["d"] not in listing.response.body.decode()
    (item,) = listing.json()["items"]
    assert "d" not in item["authentication"]["jwks"]["keys"][0] and item["authentication"]["jwks"]["keys"][0]["n"]
