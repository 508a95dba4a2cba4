"""Provider assertion keys: asymmetric keys whose private half never leaves the key store.

The gateway signs RFC 7523 client assertions for providers that demand SMART Backend Services
(``upstreamAuth.type = privateKeyJwt``) with these keys. Key Vault keys in Azure
(``gateway.stores.keyvault_keys``), an in-memory twin in unit tests (``gateway.stores.memory_provider_keys``);
both satisfy :class:`ProviderKeyStore` and run the contract suite ``tests/unit/stores/provider_key_contracts.py``.

Key names follow Key Vault's rule (1-127 letters, digits and hyphens); a name that does not is a ValueError
on ``create`` and absent elsewhere. Errors follow ``gateway.stores.protocols``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

ProviderKeyAlgorithm = Literal["RS384", "ES384"]
ALGORITHMS: tuple[str, ...] = ("RS384", "ES384")
KEY_NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
RSA_KEY_SIZE = 3072
PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}


@dataclass(frozen=True)
class ProviderKeyVersion:
    """One version of a provider key: its public JWK (public members only) and when it was created."""

    name: str
    version: str
    alg: str
    public_jwk: dict[str, str] = field(hash=False)
    created_on: datetime
    enabled: bool = True

    @property
    def kid(self) -> str:
        """The RFC 7638 JWK thumbprint: the ``kid`` of the published JWK and of every assertion it signs."""
        return jwk_thumbprint(self.public_jwk)


class ProviderKeyStore(Protocol):
    async def create(self, name: str, alg: str, *, tags: dict[str, str] | None = None) -> ProviderKeyVersion:
        """Create the key (its first version) for ``alg`` (RSA 3072 for RS384, P-384 for ES384); AlreadyExists."""

    async def rotate(self, name: str) -> ProviderKeyVersion:
        """Add a new version of the same kind (NotFound if the key does not exist)."""

    async def versions(self, name: str) -> list[ProviderKeyVersion]:
        """Every version, oldest first; ``[]`` for an absent key."""

    async def names(self) -> list[str]:
        """The names of every key in the store."""

    async def sign(self, name: str, version: str, alg: str, digest: bytes) -> bytes:
        """The JWS signature of a SHA-384 ``digest`` (RSASSA-PKCS1-v1_5, or ECDSA as raw r || s: RFC 7518 §3.3,
        §3.4) by that version; NotFound if it does not exist or is disabled."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_only(jwk: dict[str, Any]) -> dict[str, str]:
    """The public members of an RSA or EC JWK (RFC 7518 §6), nothing else."""
    members = PUBLIC_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise ValueError("provider keys are RSA or EC keys")
    return {m: jwk[m] for m in members}


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace, base64url."""
    required = public_only(jwk)
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return b64url(hashlib.sha256(canonical).digest())


def alg_of(kty: str | None, crv: str | None) -> str:
    """The assertion algorithm a key of this type signs with."""
    if kty in ("RSA", "RSA-HSM"):
        return "RS384"
    if kty in ("EC", "EC-HSM") and crv == "P-384":
        return "ES384"
    raise ValueError("provider keys are RSA (RS384) or P-384 (ES384) keys")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not KEY_NAME_RE.match(name):
        raise ValueError("Key Vault key names are 1-127 letters, digits and hyphens")
    return name


def check_alg(alg: object) -> str:
    if alg not in ALGORITHMS:
        raise ValueError("provider keys sign with RS384 or ES384")
    return alg
