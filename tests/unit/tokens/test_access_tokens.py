"""Issuing and verifying access tokens: every refusal a verifier must make (RFC 9068 §4, RFC 8725)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.services import memory_services
from gateway.tokens.access_tokens import (
    MAX_TOKEN_LENGTH,
    InvalidToken,
    decode_segment,
)
from gateway.tokens.keyring import LEEWAY_SECONDS
from gateway.tokens.keys import low_s_jws
from tests.fixtures.common import make_settings
from tests.support.constants import TENANT


async def issue(services):
    return (await services.token_issuer.issue(client_id="c1", tenant_id=TENANT)).access_token


async def forged(services, **changes) -> str:
    """A token signed with the real active key, with claims changed."""
    key = await services.key_ring.signing_key()
    now = int(services.clock.now().timestamp())
    claims = {"iss": "http://localhost:7071", "aud": "http://localhost:7071/fhir", "sub": "c1", "client_id": "c1",
              "scope": TENANT, "tid": TENANT, "iat": now, "nbf": now, "exp": now + 3600, "jti": "j"}
    header = {"kid": key.kid, "typ": "at+jwt", **changes.pop("header", {})}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return low_s_jws(jwt.encode(claims, key.private_key, algorithm="ES256", headers=header))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def refused(services, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        await services.token_verifier.verify(token)
    return info.value.description


async def test_issued_token_verifies(services):
    claims = await services.token_verifier.verify(await issue(services))
    assert claims.client_id == "c1" and claims.tenant_id == claims.scope == TENANT
    assert (claims.expires_at - claims.issued_at).total_seconds() == 3600


async def test_expired_token_is_refused_after_the_leeway(services, clock):
    token = await issue(services)
    clock.advance(3600 + 20)
    await services.token_verifier.verify(token)  # within 30 s leeway
    clock.advance(20)
    assert "expired" in await refused(services, token)


async def test_not_yet_valid_token_is_refused(services):
    now = int(services.clock.now().timestamp())
    assert "not yet valid" in await refused(services, await forged(services, nbf=now + 120))
    assert "not yet valid" in await refused(services, await forged(services, iat=now + 120))


async def test_alg_none_is_refused(services):
    await issue(services)
    kid = (await services.key_ring.signing_key()).kid
    token = f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{b64({'sub': 'c1'})}."
    assert "algorithm" in await refused(services, token)


async def test_hs256_keyed_with_the_public_key_is_refused(services):
    key = await services.key_ring.signing_key()
    pem = key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64({"alg": "HS256", "typ": "at+jwt", "kid": key.kid})
    import hashlib
    import hmac
    payload = b64({"sub": "c1", "tid": TENANT})
    sig = base64.urlsafe_b64encode(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert "algorithm" in await refused(services, f"{header}.{payload}.{sig.rstrip(b'=').decode()}")


async def test_token_signed_by_an_unknown_key_is_refused(services):
    await issue(services)
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = low_s_jws(jwt.encode({"sub": "c1"}, stranger, algorithm="ES256",
                                 headers={"kid": "20260101000000-0123456789abcdef", "typ": "at+jwt"}))
    assert "unknown" in await refused(services, token)


async def test_token_signed_by_another_key_under_our_kid_is_refused(services):
    kid = (await services.key_ring.signing_key()).kid
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = low_s_jws(jwt.encode({"sub": "c1"}, stranger, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"}))
    assert "signature" in await refused(services, token)


async def test_tampered_payload_is_refused(services):
    header, _, signature = (await issue(services)).split(".")
    other = b64({"sub": "evil", "client_id": "evil", "tid": TENANT, "scope": TENANT})
    assert "signature" in await refused(services, f"{header}.{other}.{signature}")


@pytest.mark.parametrize("changes,needle", [
    ({"iss": "https://evil.example"}, "issuer"),
    ({"aud": "https://other.example/fhir"}, "audience"),
    ({"tid": TENANT.upper(), "scope": TENANT.upper()}, "tenant"),
    ({"tid": "0d6a5a4e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"}, "tenant"),
    ({"scope": "system/*.read"}, "tenant"),
    ({"sub": "someone-else"}, "subject"),
    ({"exp": "tomorrow"}, "number"),
    ({"jti": None}, "jti"),
    ({"client_id": None}, "client_id"),
    ({"header": {"typ": "JWT"}}, "typ"),
    ({"header": {"crit": ["exp"]}}, ""),  # refused (pyjwt already rejects unknown crit as malformed)
])
async def test_claims_are_checked(services, changes, needle):
    assert needle in await refused(services, await forged(services, **changes))


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "x" * 5000, "eyJhbGciOiJFUzI1NiJ9.e30."])
async def test_malformed_tokens_are_refused(services, token):
    await refused(services, token)


async def test_descriptions_never_echo_the_token(services):
    token = await forged(services, iss="https://evil.example")
    description = await refused(services, token)
    assert token not in description and "evil" not in description


async def test_tokens_of_another_deployment_are_refused(clock):
    ours = memory_services(make_settings(), clock)
    theirs = memory_services(make_settings(PUBLIC_BASE_URL="http://127.0.0.1:8080"), clock)
    token = (await theirs.token_issuer.issue(client_id="c1", tenant_id=TENANT)).access_token
    await refused(ours, token)


# -- boundaries and types a loosened check would let through --------------------------------------------------------
async def test_expiry_ends_exactly_at_exp_plus_the_leeway(services, clock):
    token = await issue(services)
    clock.advance(3600 + LEEWAY_SECONDS - 1)
    await services.token_verifier.verify(token)
    clock.advance(1)  # now == exp + leeway
    assert "expired" in await refused(services, token)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_not_before_and_issued_at_end_exactly_at_the_leeway(services, claim):
    now = int(services.clock.now().timestamp())
    await services.token_verifier.verify(await forged(services, **{claim: now + LEEWAY_SECONDS}))
    assert "not yet valid" in await refused(services, await forged(services, **{claim: now + LEEWAY_SECONDS + 1}))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [True, False, "1767225600", 1.5e300, -1])
async def test_time_claims_must_be_plain_numbers(services, claim, value):
    # true is an int in Python (True == 1): it must not pass as a time
    assert "number" in await refused(services, await forged(services, **{claim: value}))


@pytest.mark.parametrize("changes", [{"client_id": "", "sub": ""}, {"sub": ""}, {"client_id": ""}, {"sub": "C1"},
                                     {"client_id": 7, "sub": "c1"}])
async def test_subject_and_client_must_be_the_same_non_empty_string(services, changes):
    assert "subject" in await refused(services, await forged(services, **changes))


@pytest.mark.parametrize("changes", [{"client_id": 7, "sub": 7}, {"jti": 7}, {"jti": ""}, {"sub": ["c1"]}])
async def test_non_string_subject_or_token_id_is_refused(services, changes):
    await refused(services, await forged(services, **changes))


async def test_a_validly_signed_token_longer_than_the_limit_is_refused(services):
    at_limit = None
    for pad in range(4):  # header padding, so that some claims length hits the limit exactly
        for size in range(MAX_TOKEN_LENGTH * 3 // 4 - 450, MAX_TOKEN_LENGTH * 3 // 4 - 300):
            token = await forged(services, jti="j" * size, header={"x": "p" * pad})
            if len(token) == MAX_TOKEN_LENGTH:
                at_limit = token
                break
        if at_limit:
            break
    assert at_limit is not None
    await services.token_verifier.verify(at_limit)  # exactly at the limit: accepted
    over = await forged(services, jti="j" * (size + 3), header={"x": "p" * pad})
    assert len(over) == MAX_TOKEN_LENGTH + 4
    assert "malformed" in await refused(services, over)  # a few bytes of claims more: refused unverified
    five_thousand = await forged(services, jti="j" * 3600)
    assert len(five_thousand) >= 5000 and five_thousand.count(".") == 2
    assert "malformed" in await refused(services, five_thousand)


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\xff\xfe", b"abc", b"\xfb\xff\xbf" * 21 + b"\x01"])
def test_segments_decode_from_their_one_canonical_spelling_only(raw):
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert decode_segment(canonical) == raw
    others = {canonical + "=" * (-len(canonical) % 4 or 4), canonical + " ", " " + canonical, canonical + "\n",
              base64.b64encode(raw).rstrip(b"=").decode()}
    if len(canonical) % 4 in (2, 3):  # the last character carries unused bits
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        others.add(canonical[:-1] + alphabet[alphabet.index(canonical[-1]) | 1])
    for other in others - {canonical}:
        with pytest.raises(ValueError):
            decode_segment(other)


async def test_a_token_with_smart_scopes_after_the_tenant_verifies_with_them(services):
    scope = f"{TENANT} system/Observation.rs system/Patient.r"
    issued = await services.token_issuer.issue(client_id="c1", tenant_id=TENANT, scope=scope)
    claims = await services.token_verifier.verify(issued.access_token)
    assert issued.scope == claims.scope == scope
    assert claims.smart_scopes is not None and str(claims.smart_scopes) == "system/Observation.rs system/Patient.r"
    assert (await services.token_verifier.verify(await issue(services))).smart_scopes is None  # tenant alone


@pytest.mark.parametrize("scope", [
    f"system/*.rs {TENANT}",                      # tenant not first
    f"{TENANT.upper()} system/*.rs",              # not the canonical GUID
    "0d6a5a4e-1f2b-4c3d-8e9f-0a1b2c3d4e5f system/*.rs",  # another tenant than tid
    f"{TENANT}  system/*.rs",                     # two spaces
    f"{TENANT} system/*.rs ",                     # trailing space
    f"{TENANT} system/*.read",                    # v1: the gateway writes v2 only
    f"{TENANT} system/Patient.rs system/*.rs",    # not the order the gateway writes
    f"{TENANT} system/*.sr",                      # letters out of order
    f"{TENANT} patient/*.rs",                     # not a system scope
    f"{TENANT} openid",
    f"{TENANT} ",
    "",
    ["system/*.rs"],
])
async def test_a_scope_claim_not_in_the_gateways_form_is_refused(services, scope):
    assert "scope" in await refused(services, await forged(services, scope=scope))
