"""What a deployment's Key Vault holds before its first request, told apart from what a test writes."""

from __future__ import annotations


def deployment_secret(name: str) -> bool:
    """A signing key, the signing key index or the client id key (``gateway.admin.readiness``)."""
    return "-signing-" in name or name.endswith("-client-id-key")
