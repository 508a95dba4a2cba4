"""What a deployment creates before its first request (``POST /manage/ensure``, ``gateway-admin ensure``).

Workers only read what they need from Key Vault and Table Storage, found by name; they never create it (their
identity has the *User* roles only) and never list a store to find it. So the deployment (and ``make run``)
runs this once, and again after an upgrade; it is idempotent and each step costs a read when done already:

- the token signing key and its index (``gateway.tokens.key_admin``): created, or indexed from the keys an
  earlier version left in the vault (one listing of the vault, then never again);

What was done is returned by name, for the caller to report.
"""

from __future__ import annotations

from gateway.services import Services


async def ensure_deployment(services: Services) -> list[str]:
    """Create what is missing; the names of what was created (empty when everything was there)."""
    done: list[str] = []
    created = await services.signing_key_admin.ensure()
    if created is not None:
        done.append(f"signing key {created.kid}")
    return done
