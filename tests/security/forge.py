"""Hostile access tokens for the security suite: every shape a verifier must refuse.

``hostile_tokens(services, client_id, tenant)`` returns ``{name: token}``; each is built with the
gateway's real active key where that makes the attack stronger (the claims are the only flaw).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.services import Services
from gateway.tokens.access_tokens import REQUIRED_CLAIMS
from gateway.tokens.keys import low_s_jws

UNKNOWN_KID = "20200101000000-0123456789abcdef"  # the shape of our kids, never published


def b64(data: Mapping | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(dict(data)).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_for(services: Services, client: str, tenant: str, **changes) -> dict:
    settings = services.settings
    now = int(services.clock.now().timestamp())
    claims = {"iss": settings.issuer, "aud": settings.token_audience, "sub": client, "client_id": client,
              "scope": tenant, "tid": tenant, "iat": now, "nbf": now, "exp": now + 600, "jti": "forged-jti"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def signed(services: Services, client: str, tenant: str, *, header: Mapping | None = None,
                 **changes) -> str:
    """A token signed with the gateway's real active key (valid unless ``changes``/``header`` break it)."""
    key = await services.key_ring.signing_key()
    return low_s_jws(jwt.encode(claims_for(services, client, tenant, **changes), key.private_key, algorithm="ES256",
                                headers={"kid": key.kid, "typ": "at+jwt", **(header or {})}))


async def hostile_tokens(services: Services, client_id: str, tenant: str) -> dict[str, str]:
    key = await services.key_ring.signing_key()
    now = int(services.clock.now().timestamp())
    good = await signed(services, client_id, tenant)
    head, body, signature = good.split(".")
    stranger = ec.generate_private_key(ec.SECP256R1())
    claims = claims_for(services, client_id, tenant)
    pem = key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_head = b64({"alg": "HS256", "typ": "at+jwt", "kid": key.kid})
    hs_body = b64(claims)
    hs_sig = b64(hmac.new(pem, f"{hs_head}.{hs_body}".encode(), hashlib.sha256).digest())
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    tokens = {
        "bad-signature": f"{head}.{body}.{flipped}",
        "tampered-payload": f"{head}.{b64({**claims, 'exp': now + 86400 * 365})}.{signature}",
        "foreign-key-with-our-kid": low_s_jws(jwt.encode(claims, stranger, algorithm="ES256",
                                                         headers={"kid": key.kid, "typ": "at+jwt"})),
        "unknown-kid": low_s_jws(jwt.encode(claims, stranger, algorithm="ES256",
                                            headers={"kid": UNKNOWN_KID, "typ": "at+jwt"})),
        "no-kid": low_s_jws(jwt.encode(claims, key.private_key, algorithm="ES256", headers={"typ": "at+jwt"})),
        "expired": await signed(services, client_id, tenant, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not-yet-valid": await signed(services, client_id, tenant, nbf=now + 600, exp=now + 1200),
        "issued-in-the-future": await signed(services, client_id, tenant, iat=now + 600),
        "wrong-issuer": await signed(services, client_id, tenant, iss="https://evil.example"),
        "wrong-audience": await signed(services, client_id, tenant, aud="https://other.example/fhir"),
        "alg-none": f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': key.kid})}.{b64(claims)}.",
        "alg-none-with-signature": f"{b64({'alg': 'none', 'typ': 'at+jwt', 'kid': key.kid})}.{b64(claims)}"
                                   f".{signature}",
        "hs256-keyed-with-our-public-key": f"{hs_head}.{hs_body}.{hs_sig}",
        "typ-jwt": await signed(services, client_id, tenant, header={"typ": "JWT"}),
        "typ-missing": low_s_jws(jwt.encode(claims, key.private_key, algorithm="ES256",
                                            headers={"kid": key.kid, "typ": None})),
        "scope-not-the-tenant": await signed(services, client_id, tenant, scope="system/*.read"),
        "sub-not-the-client": await signed(services, client_id, tenant, sub="someone-else"),
        "exp-not-a-number": await signed(services, client_id, tenant, exp="tomorrow"),
    }
    for claim in REQUIRED_CLAIMS:
        tokens[f"missing-{claim}"] = await signed(services, client_id, tenant, **{claim: None})
    return tokens
