"""Access-token verification, exactly: the description each refusal gives the caller (RFC 6750 §3
``error_description``), what a verified token says about itself, and the edges of the time claims.

A refusal that changed its description, or a claim the verifier read back differently from what the
issuer signed, is something a client or an operator notices; the mutation run (``make mutation``)
checks these tests notice it too.
"""

from __future__ import annotations

import base64

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.tokens.access_tokens import InvalidToken, decode_segment
from gateway.tokens.keys import P256_ORDER, low_s_jws
from tests.support.constants import TENANT
from tests.unit.tokens.test_access_tokens import b64, forged, issue

LAST_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z: the last second a datetime can hold


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _high_s(token: str) -> str:
    head, body, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{body}.{_b64(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


async def _refusal(services, token) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        await services.token_verifier.verify(token)
    return info.value


async def _signed_payload(services, payload: bytes) -> str:
    """A token whose payload is ``payload`` verbatim, signed with the active key."""
    key = await services.key_ring.signing_key()
    return low_s_jws(jwt.api_jws.encode(payload, key.private_key, algorithm="ES256",
                                        headers={"kid": key.kid, "typ": "at+jwt"}))


async def _attack(services, name: str) -> str | bytes:  # noqa: PLR0911 - one branch per attack
    now = int(services.clock.now().timestamp())
    if name == "empty":
        return ""
    if name == "bytes":
        return (await issue(services)).encode()
    if name == "alg-none":
        return f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64({'sub': 'c1'})}."
    if name == "typ-jwt":
        return await forged(services, header={"typ": "JWT"})
    if name == "padded-payload":
        head, body, signature = (await issue(services)).split(".")
        return f"{head}.{body}{'=' * (-len(body) % 4) or '=='}.{signature}"
    if name == "high-s":
        return _high_s(await issue(services))
    if name == "unknown-kid":
        return await forged(services, header={"kid": "k" + "0" * 31})
    if name == "kid-of-another-shape":
        return await forged(services, header={"kid": "../signing-keys/" + "0" * 40})
    if name == "another-key-under-our-kid":
        kid = (await services.key_ring.signing_key()).kid
        stranger = ec.generate_private_key(ec.SECP256R1())
        now_claims = jwt.decode(await issue(services), options={"verify_signature": False})
        return low_s_jws(jwt.encode(now_claims, stranger, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"}))
    if name == "payload-not-an-object":
        return await _signed_payload(services, b"[1]")
    return await forged(services, **{
        "issuer": {"iss": "https://evil.example"},
        "audience": {"aud": "https://evil.example/fhir"},
        "no-jti": {"jti": None},
        "expired": {"exp": now - 31},
        "not-yet-valid": {"nbf": now + 31},
        "foreign-tenant-claim": {"tid": TENANT.upper(), "scope": TENANT.upper()},
        "subject-mismatch": {"sub": "c2"},
        "exp-a-string": {"exp": "never"},
    }[name])


@pytest.mark.parametrize("attack,description", [
    ("empty", "malformed access token"),
    ("bytes", "malformed access token"),
    ("alg-none", "unsupported token signing algorithm"),
    ("typ-jwt", "not an access token (typ must be at+jwt)"),
    ("padded-payload", "malformed access token"),
    ("high-s", "invalid token signature"),
    ("another-key-under-our-kid", "invalid token signature"),
    ("unknown-kid", "unknown or retired signing key"),
    ("kid-of-another-shape", "unknown or retired signing key"),
    ("payload-not-an-object", "malformed access token"),
    ("issuer", "token issuer is not this server"),
    ("audience", "token audience is not this server"),
    ("no-jti", "token lacks the jti claim"),
    ("expired", "token expired"),
    ("not-yet-valid", "token not yet valid"),
    ("foreign-tenant-claim", "token scope is not a tenant"),
    ("subject-mismatch", "token subject is invalid"),
    ("exp-a-string", "claim exp must be a number"),
])
async def test_each_refusal_tells_the_caller_exactly_why(services, attack, description):
    refusal = await _refusal(services, await _attack(services, attack))
    assert refusal.description == description
    assert str(refusal) == description  # what a log line of the exception shows


async def test_a_critical_header_is_refused(services):
    """RFC 7515 §4.1.11: no extension is understood, so a token naming one in ``crit`` is never accepted."""
    token = await forged(services, header={"crit": ["exp"], "exp": 1})
    assert (await _refusal(services, token)).description == "malformed access token"
    assert (await _refusal(services, await forged(services, header={"crit": []}))).description == \
        "malformed access token"


async def test_the_verified_claims_are_those_the_issuer_signed(services):
    issued = await services.token_issuer.issue(client_id="c1", tenant_id=TENANT)
    verified = await services.token_verifier.verify(issued.access_token)
    assert issued.claims == verified
    assert verified.issued_at.tzinfo is not None and verified.issued_at.utcoffset().total_seconds() == 0
    assert verified.issued_at.timestamp() == int(services.clock.now().timestamp())
    assert issued.claims.jti == jwt.decode(issued.access_token, options={"verify_signature": False})["jti"]


async def test_every_token_gets_its_own_id(services):
    ids = {(await services.token_verifier.verify(await issue(services))).jti for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_a_time_at_the_epoch_is_a_time(services, claim):
    claims = await services.token_verifier.verify(await forged(services, **{claim: 0}))
    assert claims.client_id == "c1"


async def test_expiry_is_a_time_up_to_the_last_second_a_date_can_hold(services):
    claims = await services.token_verifier.verify(await forged(services, exp=LAST_NUMERIC_DATE))
    assert claims.expires_at.year == 9999
    refusal = await _refusal(services, await forged(services, exp=LAST_NUMERIC_DATE + 1))
    assert refusal.description == "claim exp must be a number"


def test_a_segment_ending_in_x_is_canonical():
    """``X`` is a base64url digit: a canonical segment may end in it (and must still decode)."""
    assert decode_segment("AAAX") == b"\x00\x00\x17"
