"""Security regression suite; see docs/security.md for the threat model."""
