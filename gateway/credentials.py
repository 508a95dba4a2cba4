"""Client secrets: generation, verifiers and their Key Vault names.

A client secret is ``<secretId>.<43 base64url characters>``: 256 random bits,
prefixed by its public id so the token endpoint fetches exactly one verifier.
Only a verifier is stored (HMAC-SHA256 keyed by a per-secret random salt), from
which the secret can be checked but not recovered; the check runs in constant
time (``hmac.compare_digest``). With 256-bit random secrets a slow password
hash would add latency and no security.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SECRET_ID_BYTES = 8
SECRET_BYTES = 32
HINT_LENGTH = 4
_VERIFIER_SCHEME = "hmac-sha256"
_SECRET_RE = re.compile(r"^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_secret() -> tuple[str, str]:
    """Return ``(secret_id, secret)`` for a fresh 256-bit client secret."""
    secret_id = secrets.token_hex(SECRET_ID_BYTES)
    return secret_id, f"{secret_id}.{_b64(secrets.token_bytes(SECRET_BYTES))}"


def secret_id_of(presented: str) -> str | None:
    """The secret id a presented secret claims, or None when it is not of our shape."""
    match = _SECRET_RE.match(presented) if isinstance(presented, str) else None
    return match.group(1) if match else None


def hint_of(secret: str) -> str:
    """The last characters of a secret, shown to administrators to tell secrets apart."""
    return secret[-HINT_LENGTH:]


def make_verifier(secret: str) -> str:
    """A verifier for ``secret``: ``hmac-sha256$<salt>$<mac>``."""
    salt = secrets.token_bytes(16)
    mac = hmac.new(salt, secret.encode("utf-8"), hashlib.sha256).digest()
    return f"{_VERIFIER_SCHEME}${_b64(salt)}${_b64(mac)}"


def check_verifier(verifier: str, presented: str) -> bool:
    """True when ``presented`` matches ``verifier``; constant time in the secret."""
    try:
        scheme, salt_text, mac_text = verifier.split("$")
        if scheme != _VERIFIER_SCHEME:
            return False
        salt, expected = _unb64(salt_text), _unb64(mac_text)
    except ValueError:
        return False
    actual = hmac.new(salt, presented.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return hmac.compare_digest(actual, expected)


def verifier_secret_name(prefix: str, client_id: str, secret_id: str) -> str:
    """Key Vault secret name of a client secret's verifier."""
    return f"{prefix}-client-{client_id}-{secret_id}"


def upstream_secret_name(prefix: str, tenant_id: str, version: str) -> str:
    """Key Vault secret name of a route's provider client secret."""
    return f"{prefix}-upstream-{tenant_id}-{version}"


def signing_key_secret_name(prefix: str, kid: str) -> str:
    """Key Vault secret name of a JWT signing key (PEM private key)."""
    return f"{prefix}-signing-{kid}"
