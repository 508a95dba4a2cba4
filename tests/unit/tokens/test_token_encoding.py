"""The issued token's encoding: the JWS pyjwt would write (RFC 7515 §7.1), signed in low-S form.

The gateway signs its tokens itself (header segment built once per key); a client or a verifier
must not be able to tell: the header and payload segments are byte for byte pyjwt's, the
signature verifies with pyjwt and is the canonical low-S one the verifier demands.
"""

from __future__ import annotations

import jwt

from gateway.tokens.access_tokens import decode_segment
from gateway.tokens.keys import is_canonical_signature, low_s_jws
from tests.support.constants import TENANT

SCOPED = f"{TENANT} system/Observation.rs system/Patient.rs"  # as ScopeGrant.scope writes it


async def test_issued_token_has_pyjwts_header_and_payload_and_a_low_s_signature(services):
    key = await services.key_ring.signing_key()
    for scope in (None, SCOPED):
        for _ in range(20):  # the signature is random: about half of raw ECDSA signatures are high-S
            token = (await services.token_issuer.issue(client_id="c1", tenant_id=TENANT, scope=scope)).access_token
            claims = jwt.decode(token, key.private_key.public_key(), algorithms=["ES256"],
                                options={"verify_aud": False, "verify_exp": False})
            reference = low_s_jws(jwt.encode(claims, key.private_key, algorithm="ES256",
                                             headers={"kid": key.kid, "typ": "at+jwt"}))
            assert token.rsplit(".", 1)[0] == reference.rsplit(".", 1)[0]
            assert is_canonical_signature(decode_segment(token.rsplit(".", 1)[1]))
            assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}
