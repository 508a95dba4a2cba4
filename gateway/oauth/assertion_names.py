"""The names discovery advertises for ``private_key_jwt`` (RFC 8414 §2; SMART App Launch 2.x Backend Services).

Kept apart from ``gateway.oauth.client_assertion`` so that the metadata function, which only
advertises them, imports no JWT or cryptography library at cold start.
"""

from __future__ import annotations

PRIVATE_KEY_JWT = "private_key_jwt"
"""The ``token_endpoint_auth_methods_supported`` name (RFC 8414 §2; OpenID Connect Core §9)."""
PREFERRED_ALGORITHMS = ("RS384", "ES384")
"""What SMART Backend Services requires servers to support."""
SHA256_ALGORITHMS = ("RS256", "ES256")


def signing_algorithms(allow_sha256: bool = False) -> tuple[str, ...]:
    """``token_endpoint_auth_signing_alg_values_supported`` (SMART configuration, RFC 8414 §2)."""
    return PREFERRED_ALGORITHMS + (SHA256_ALGORITHMS if allow_sha256 else ())
