"""OAuth 2.0 token service (RFC 6749 §4.4 client credentials): errors, client authentication, the grant, limits."""
