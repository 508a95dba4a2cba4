"""The provider key store on Azure Key Vault keys (``azure-keyvault-keys``): the private key never leaves the vault.

Keys API: https://learn.microsoft.com/rest/api/keyvault/keys. ``KeyClient`` creates keys (RSA 3072 for RS384,
EC P-384 for ES384, operations ``sign`` and ``verify`` only), rotates them (a new version of the same kind) and
lists versions; ``CryptographyClient.sign`` signs a digest remotely. Same settings, credential selection
(``gateway.stores.keyvault.make_credential``: managed identity in Azure, the emulator's development token
locally), timeouts, retry and error mapping as the secret store; messages name the key, never key material.

Permissions: the admin function needs keys/create, keys/rotate, keys/get, keys/list; the proxy needs keys/get,
keys/list and keys/sign (Key Vault "Crypto User" role), never keys/export (the keys are created not exportable).

A name the vault holds no key of costs no call: the store keeps the names of the vault's keys (one page of the
keys listing: the vault holds a few keys, its secrets are listed elsewhere) and lists them again for an unknown
name at most every ``NAMES_REFRESH_SECONDS``, so random names in ``/oauth2/provider-jwks?key=`` (an
unauthenticated endpoint) cannot make it call Key Vault per request, while a key created on another instance is
found within that time.
"""

from __future__ import annotations

import asyncio
import time
from enum import Enum
from typing import Protocol, cast

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.keys import KeyCurveName, KeyType, KeyVaultKey
from azure.keyvault.keys.aio import KeyClient
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.keys.crypto.aio import CryptographyClient

from gateway.config import Settings, SettingsError
from gateway.stores.errors import AlreadyExists, NotFound
from gateway.stores.keyvault import _translated, client_options, make_credential
from gateway.stores.provider_keys import (
    KEY_NAME_RE,
    RSA_KEY_SIZE,
    ProviderKeyVersion,
    alg_of,
    b64url,
    check_alg,
    check_name,
)

_SIGNATURE = {"RS384": SignatureAlgorithm.rs384, "ES384": SignatureAlgorithm.es384}
KIND_TAG = "provider-assertion"
NAMES_REFRESH_SECONDS = 10.0


class _PublicKeyMembers(Protocol):
    """The members of the SDK's ``JsonWebKey`` read here (RFC 7518 §6.2.1, §6.3.1). The SDK sets them with
    ``setattr``, so its class declares none; ``n`` and ``e`` (RSA) or ``x`` and ``y`` (EC) are on every
    public key Key Vault returns of the kind ``kty`` and ``crv`` name."""

    kty: KeyType | str | None
    crv: KeyCurveName | str | None
    n: bytes
    e: bytes
    x: bytes
    y: bytes


def _name(value: Enum | str | None) -> str | None:
    """The SDK's enums by their value, not "KeyType.rsa"."""
    return value.value if isinstance(value, Enum) else value


def _version_of(key: KeyVaultKey) -> ProviderKeyVersion:
    jwk = cast(_PublicKeyMembers, key.key)
    alg = alg_of(_name(jwk.kty), _name(jwk.crv))
    if alg == "RS384":
        public = {"kty": "RSA", "n": b64url(jwk.n), "e": b64url(jwk.e)}
    else:
        public = {"kty": "EC", "crv": "P-384", "x": b64url(jwk.x), "y": b64url(jwk.y)}
    props = key.properties
    return ProviderKeyVersion(name=key.name or "", version=props.version or "", alg=alg, public_jwk=public,
                              created_on=props.created_on,  # type: ignore[arg-type]  # always set by Key Vault
                              enabled=props.enabled is not False)


class KeyVaultProviderKeyStore:
    """ProviderKeyStore over ``KeyClient`` and per-version ``CryptographyClient`` s (one store per worker)."""

    def __init__(self, settings: Settings, *, read_timeout: float | None = None) -> None:
        if not settings.key_vault_url:
            raise SettingsError("KEY_VAULT_URL: required for the Key Vault provider key store")
        self._settings = settings
        self._vault_url: str = settings.key_vault_url
        self._credential = make_credential(settings)
        self._read_timeout = read_timeout if read_timeout is not None else settings.store_read_timeout_seconds
        self._client = KeyClient(settings.key_vault_url, self._credential, **client_options(self._settings))
        self._signers: dict[str, CryptographyClient] = {}
        self._names: set[str] | None = None  # every key's name (lowercase: Key Vault's names are not case-sensitive)
        self._names_at = float("-inf")
        self._names_lock = asyncio.Lock()

    async def _may_exist(self, name: str) -> bool:
        """Whether the vault may hold key ``name``: from the names listed last, listed again when ``name`` is
        not among them and the listing is ``NAMES_REFRESH_SECONDS`` old."""
        if self._names is not None and name.lower() in self._names:
            return True
        async with self._names_lock:
            if self._names is not None and name.lower() in self._names:
                return True
            if time.monotonic() - self._names_at < NAMES_REFRESH_SECONDS:
                return False
            with _translated("list keys"):
                async with asyncio.timeout(self._read_timeout):
                    self._names = {p.name.lower() async for p in self._client.list_properties_of_keys() if p.name}
            self._names_at = time.monotonic()
            return name.lower() in self._names

    def _named(self, name: str) -> None:
        if self._names is not None:
            self._names.add(name.lower())

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyVaultProviderKeyStore:
        return cls(settings)

    async def create(self, name: str, alg: str, *, tags: dict[str, str] | None = None) -> ProviderKeyVersion:
        check_name(name)
        check_alg(alg)
        all_tags = {**(tags or {}), "kind": KIND_TAG, "alg": alg}
        with _translated("create key", name):
            try:
                await self._client.get_key(name)
            except ResourceNotFoundError:
                pass
            else:
                raise AlreadyExists(f"key {name}")
            if alg == "RS384":
                key = await self._client.create_rsa_key(name, size=RSA_KEY_SIZE, key_operations=["sign", "verify"],
                                                        exportable=False, tags=all_tags)
            else:
                key = await self._client.create_ec_key(name, curve=KeyCurveName.p_384,
                                                       key_operations=["sign", "verify"], exportable=False,
                                                       tags=all_tags)
        self._named(name)
        return _version_of(key)

    async def rotate(self, name: str) -> ProviderKeyVersion:
        if not isinstance(name, str) or not KEY_NAME_RE.match(name):
            raise NotFound(f"key {name!r}")
        with _translated("rotate key", name):
            try:
                key = await self._client.rotate_key(name)
            except ResourceNotFoundError:
                raise NotFound(f"key {name}") from None
        return _version_of(key)

    async def versions(self, name: str) -> list[ProviderKeyVersion]:
        if not isinstance(name, str) or not KEY_NAME_RE.match(name) or not await self._may_exist(name):
            return []
        with _translated("list key versions", name):
            async with asyncio.timeout(self._read_timeout):
                try:
                    listed = [p async for p in self._client.list_properties_of_key_versions(name)]
                    found = [await self._client.get_key(name, p.version) for p in listed if p.version]
                except ResourceNotFoundError:
                    return []
        out = [_version_of(k) for k in found]
        return sorted(out, key=lambda v: v.created_on)

    async def names(self) -> list[str]:
        with _translated("list keys"):
            async with asyncio.timeout(self._read_timeout):
                return [p.name async for p in self._client.list_properties_of_keys()
                        if p.name and (p.tags or {}).get("kind") == KIND_TAG]

    async def sign(self, name: str, version: str, alg: str, digest: bytes) -> bytes:
        check_alg(alg)
        if not KEY_NAME_RE.match(name) or not KEY_NAME_RE.match(version or "-"):
            raise NotFound(f"key {name!r}")
        key_id = f"{self._vault_url.rstrip('/')}/keys/{name}/{version}"
        signer = self._signers.get(key_id)
        if signer is None:
            signer = self._signers[key_id] = CryptographyClient(key_id, self._credential,
                                                                **client_options(self._settings))
        with _translated("sign", name):
            async with asyncio.timeout(self._read_timeout):
                try:
                    result = await signer.sign(_SIGNATURE[alg], digest)
                except ResourceNotFoundError:
                    raise NotFound(f"key {name} version") from None
        return result.signature

    async def aclose(self) -> None:
        signers, self._signers = list(self._signers.values()), {}
        for signer in signers:
            await signer.close()
        await self._client.close()
        closer = getattr(self._credential, "close", None)
        if closer is not None:
            await closer()
