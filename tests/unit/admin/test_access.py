"""The admin caller: the function key the host accepted, bearer tokens, Entra identities, the refusal budget."""

from __future__ import annotations

import pytest

from gateway.admin.access import REFUSAL_BURST, AdminAccess, RefusalBudget, accepted_function_key, key_actor
from gateway.admin.actor import Actor
from gateway.admin.audit_trail import AuditTrail
from gateway.admin.entra import allowed_fetch_url, bearer_token, identity_of, rsa_keys
from gateway.http import Headers, Request
from gateway.stores.memory import MemoryAuditStore
from tests.fixtures.entra import SigningKey


def request(headers: list[tuple[str, str]] | dict[str, str], query: str = "") -> Request:
    url = "http://localhost:7071/manage/clients" + (f"?{query}" if query else "")
    return Request("GET", url, Headers(headers), {"path": "clients"})


@pytest.mark.parametrize("headers, query, accepted", [
    ({"x-functions-key": "k-123"}, "", "k-123"),
    ({}, "code=k-123", "k-123"),
    ({}, "CODE=k-123&code=junk", "k-123"),  # ASP.NET Core query names are case-insensitive; the first counts
    ({}, "Code=k%2B1%3D%3D&code=junk", "k+1=="),
    ({}, "%63ode=k-123", "k-123"),  # names are decoded before they are compared
    ({}, "other=1&code=k-123&CODE=junk", "k-123"),
    ([("x-functions-key", "k-123"), ("x-functions-key", "junk")], "", "k-123"),  # StringValues.First()
    ({"x-functions-key": "k-123,junk"}, "", "k-123"),  # as the worker passes repeated headers
    ({"x-functions-key": "k-123"}, "code=junk", "k-123"),  # the header wins over the query
    ({"x-functions-key": ""}, "code=k-123", None),  # a header present but empty: the host checks no key
    ({}, "code=&code=k-123", None),
    ({}, "", None),
])
def test_the_accepted_function_key_follows_the_hosts_rule(headers, query, accepted):
    assert accepted_function_key(request(headers, query)) == accepted


def test_the_actor_is_the_fingerprint_of_the_accepted_key_only():
    expected = Actor.from_function_key("k-123").name
    assert expected.startswith("function-key:") and "k-123" not in expected
    for req in (request({"x-functions-key": "k-123"}), request({}, "CODE=k-123&code=junk"),
                request([("x-functions-key", "k-123"), ("x-functions-key", "junk")])):
        assert key_actor(req).name == expected
    assert key_actor(request({})).name == "function-key"


async def test_without_entra_settings_the_function_key_names_the_caller(clock):
    def no_verifier():
        raise AssertionError("without Entra settings no token is verified")

    access = AdminAccess(entra_auth=False, verifier=no_verifier, budget=RefusalBudget(),
                         audit=AuditTrail(MemoryAuditStore(), clock), clock=clock)
    actor = await access.authorize(request({"x-functions-key": "k-123", "Authorization": "Bearer x.y.z",
                                            "X-MS-CLIENT-PRINCIPAL": "eyJjbGFpbXMiOltdfQ=="}))
    assert actor.name == Actor.from_function_key("k-123").name


@pytest.mark.parametrize("header, token", [
    ("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer abc.def.ghi", "abc.def.ghi"), ("BEARER  abc ", "abc"),
    ("Basic abc", None), ("Bearer", None), ("", None), (None, None), ("Bearerabc", None),
])
def test_bearer_token(header, token):
    assert bearer_token(header) == token


def test_identity_of_user_and_app_tokens():
    user = identity_of({"oid": "o-1", "sub": "pairwise", "preferred_username": "ops@contoso", "scp": "x",
                        "azp": "cli", "roles": ["A", 3]})
    assert user.label == "entra:ops@contoso (oid o-1)" and user.roles == {"A"} and not user.is_app
    upn = identity_of({"oid": "o-2", "sub": "s", "upn": "legacy@contoso", "scp": "x"})
    assert upn.label == "entra:legacy@contoso (oid o-2)"
    app = identity_of({"oid": "sp", "sub": "sp", "azp": "app-id", "roles": "A"})
    assert app.label == "entra:app app-id (oid sp)" and app.roles == frozenset() and app.is_app
    v1_app = identity_of({"oid": "sp", "sub": "sp", "appid": "app-id", "idtyp": "app"})
    assert v1_app.label == "entra:app app-id (oid sp)"
    odd = identity_of({"oid": "o\n-3", "sub": "s", "preferred_username": "x" * 500})
    assert odd.object_id == "s" and len(odd.username) == 128


def test_refusal_budget_records_a_burst_then_counts_the_rest():
    budget = RefusalBudget()
    taken = [budget.take(100.0) for _ in range(REFUSAL_BURST + 5)]
    assert taken[:REFUSAL_BURST] == [0] * REFUSAL_BURST and taken[REFUSAL_BURST:] == [None] * 5
    assert budget.take(100.0 + 60.0 / REFUSAL_BURST) == 5  # one token back: the next record names the skipped


def test_only_rs256_capable_rsa_signing_keys_are_taken():
    good, small = SigningKey(), SigningKey(bits=1024)
    jwks = {"keys": [good.jwk, small.jwk, {**SigningKey().jwk, "use": "enc"}, {**SigningKey().jwk, "alg": "RS512"},
                     {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}, {"kty": "oct", "kid": "h"},
                     {**SigningKey().jwk, "kid": ""}, "junk", {"kty": "RSA", "kid": "broken", "n": "!", "e": "AQAB"}]}
    assert list(rsa_keys(jwks)) == [good.kid]


@pytest.mark.parametrize("url, production, allowed", [
    ("https://login.microsoftonline.com/t/discovery/v2.0/keys", True, True),
    ("http://login.microsoftonline.com/t/discovery/v2.0/keys", False, False),
    ("http://127.0.0.1:8080/keys", False, True),
    ("http://127.0.0.1:8080/keys", True, False),
    ("http://[::1]:8080/keys", False, True),
    ("https://user:pw@login.microsoftonline.com/keys", True, False),
    ("file:///etc/passwd", False, False),
    (None, False, False),
])
def test_key_urls_are_https_or_development_loopback(url, production, allowed):
    assert allowed_fetch_url(url, production=production) is allowed
