"""Security regression suite (issue 7, "Hostile input"); see docs/security.md for the threat model."""
