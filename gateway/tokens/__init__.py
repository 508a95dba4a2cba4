"""Access tokens (RFC 9068 JWTs) and their signing keys (kept in Key Vault, published as a JWKS)."""
