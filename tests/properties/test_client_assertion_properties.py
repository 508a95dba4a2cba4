"""Properties of private_key_jwt client authentication (gateway.oauth.client_assertion, gateway.oauth.jwks).

- The verifier agrees with a plain model of RFC 7523 §3 on any combination of claims.
- A valid assertion altered anywhere is refused, unless the alteration decodes to the same bytes.
- Any JSON given as a JWKS gives problems or keys, never a crash; a private member anywhere is refused.
"""

from __future__ import annotations

import base64
import json

from hypothesis import assume, event, given
from hypothesis import strategies as st

from gateway.clock import FakeClock
from gateway.oauth.client_assertion import AssertionRejected, ClientAssertionVerifier, InlineKeys
from gateway.oauth.jwks import PRIVATE_MEMBERS, JwksError, parse_public_jwks, validate_public_jwks
from gateway.stores.replay import MemoryReplayStore
from tests.properties.support import examples, json_values
from tests.unit.oauth.keys import CLIENT_ID, TOKEN_URL, ec_key, public_jwk, rsa_key, sign

T0 = FakeClock().now().timestamp()
KEYS = InlineKeys(parse_public_jwks({"keys": [public_jwk(rsa_key(), "rsa"), public_jwk(ec_key(), "ec")]}))
ABSENT = object()

# Valid values are drawn about as often as all the invalid ones together, so both outcomes are frequent.
issuers = st.one_of(st.just(CLIENT_ID), st.sampled_from(["someone-else", "", 7, None, ABSENT]))
audiences = st.one_of(st.sampled_from([TOKEN_URL, [TOKEN_URL], ["x", TOKEN_URL]]),
                      st.sampled_from(["https://other.example/token", [], 3, ABSENT]))
offsets = st.sampled_from([-3600, -31, -29, 0, 60, 299, 300, 329, 331, 3600])
maybe_offsets = st.one_of(st.just(ABSENT), offsets,
                          st.sampled_from(["soon", True, 10**400, float("nan"), 1.5e308, 100.5, -29.5]))
jtis = st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(["", 5, ABSENT]))


def is_number(value) -> bool:
    """A NumericDate (RFC 7519 §2): a JSON number, finite, within what a float holds."""
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e300 \
        and value == value


def model_accepts(payload: dict) -> bool:
    """RFC 7523 §3 as a checklist (30 s leeway, 300 s lifetime)."""
    aud = payload.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    exp = payload.get("exp")
    if not (payload.get("iss") == CLIENT_ID and payload.get("sub") == CLIENT_ID and TOKEN_URL in auds):
        return False
    if not is_number(exp) or not T0 - 30 < exp <= T0 + 330:
        return False
    for name in ("nbf", "iat"):
        if name in payload and (not is_number(payload[name]) or payload[name] > T0 + 30):
            return False
    jti = payload.get("jti")
    return isinstance(jti, str) and 0 < len(jti) <= 1024


@st.composite
def payloads(draw) -> dict:
    """A valid payload with 0 to 3 of its claims replaced by any value of the claim's domain (absent included)."""
    def offset(strategy):
        return strategy.map(lambda v: int(T0) + v if isinstance(v, int | float) and not isinstance(v, bool) else v)

    domains = {"iss": issuers, "sub": issuers, "aud": audiences, "jti": jtis,
               "exp": offset(maybe_offsets), "nbf": offset(maybe_offsets), "iat": offset(maybe_offsets)}
    payload = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_URL, "exp": int(T0) + 120, "jti": "j-1"}
    for name in draw(st.lists(st.sampled_from(sorted(domains)), max_size=3, unique=True)):
        payload[name] = draw(domains[name])
    return {k: v for k, v in payload.items() if v is not ABSENT}


@given(payloads(), st.sampled_from(["rsa", "ec"]))
@examples(200)
def test_the_verifier_agrees_with_the_rules(loop, payload, kid):
    clock = FakeClock()
    verifier = ClientAssertionVerifier(token_url=TOKEN_URL, replay=MemoryReplayStore(clock), clock=clock)
    key, alg = (rsa_key(), "RS384") if kid == "rsa" else (ec_key(), "ES384")
    try:
        token = sign(key, kid, payload, alg)
    except TypeError:  # pyjwt refuses to encode some shapes (a non-string iss); a client could still send them
        assume(False)
    try:
        loop.run(verifier.verify(token, CLIENT_ID, KEYS))
        accepted = True
    except AssertionRejected:
        accepted = False
    assert accepted == model_accepts(payload), payload
    event("accepted" if accepted else "refused")


def _parts(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in token.split(".")]


@given(st.data())
@examples(150)
def test_an_altered_assertion_is_refused(loop, data):
    clock = FakeClock()
    payload = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_URL, "exp": int(T0) + 200, "jti": "fixed-jti"}
    kid, key, alg = data.draw(st.sampled_from([("rsa", rsa_key(), "RS384"), ("ec", ec_key(), "ES384")]))
    token = sign(key, kid, payload, alg)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="))
    altered = token[:position] + replacement + token[position + 1:]
    assume(altered != token)
    verifier = ClientAssertionVerifier(token_url=TOKEN_URL, replay=MemoryReplayStore(clock), clock=clock)
    try:
        loop.run(verifier.verify(altered, CLIENT_ID, KEYS))
    except AssertionRejected:
        return
    assert _parts(altered) == _parts(token)  # only a spelling of the same bytes may pass


@given(json_values(20))
@examples(200)
def test_any_json_as_a_jwks_gives_problems_or_keys(document):
    problems = validate_public_jwks(document)
    assert all(isinstance(p, str) for p in problems)
    try:
        keys = parse_public_jwks(document)
    except JwksError as error:
        assert problems and error.problems
        return
    assert not problems and len(keys) >= 1


@given(st.lists(st.sampled_from(["rsa", "ec", "ec256"]), min_size=1, max_size=4), st.data())
@examples(100)
def test_a_private_member_anywhere_refuses_the_set_and_is_named(kinds, data):
    keys = [public_jwk({"rsa": rsa_key(), "ec": ec_key(), "ec256": ec_key("b", "P-256")}[k], f"k{i}")
            for i, k in enumerate(kinds)]
    index = data.draw(st.integers(min_value=0, max_value=len(keys) - 1))
    member = data.draw(st.sampled_from(PRIVATE_MEMBERS))
    keys[index] = {**keys[index], member: "AQAB"}
    document = {"keys": keys}
    problems = validate_public_jwks(document)
    assert f"keys[{index}] contains the private member '{member}': give public keys only" in problems
    for strict in (True, False):
        try:
            parse_public_jwks(json.dumps(document), strict=strict)
        except JwksError:
            continue
        raise AssertionError("a set with a private member was accepted")
