"""The emulated vault's keys: versions, attributes, soft delete, sign/verify, persistence to ``keys.json``.

Semantics follow the Key Vault Keys API
(https://learn.microsoft.com/azure/key-vault/keys/about-keys-details): a
create (or rotate) makes a new version that becomes the latest; software-
protected ``RSA`` (2048/3072/4096 bits, exponent 65537) and ``EC`` (P-256,
P-384, P-521) keys; ``key_ops`` default to what the key type can do and limit
what it may be used for; a disabled, expired or not-yet-valid version refuses
cryptographic operations (403) but can still be read; delete is a soft delete
like secrets. Names follow the secrets' rules (case-insensitive, first
spelling kept). Private keys are kept in the state file (mode 0600) and never
appear in a response: keys are not exportable.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.keyvault_emulator import crypto
from devtools.keyvault_emulator.store import VaultError, Versioned, VersionedStore, bad_parameter, check_name
from devtools.keyvault_emulator.vault import apply_update, parse_attributes, parse_tags

STATE_FILE = "keys.json"
RSA_OPERATIONS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey")
EC_OPERATIONS = ("sign", "verify")


@dataclass
class KeyVersion:
    """One version of a key (times are Unix seconds); ``pem`` is the private key, for this process only."""

    version: str
    kty: str
    key_ops: list[str]
    pem: str
    created: int
    updated: int
    size: int | None = None
    curve: str | None = None
    enabled: bool = True
    exp: int | None = None
    nbf: int | None = None
    tags: dict[str, str] | None = None

    def spec(self) -> crypto.KeySpec:
        return crypto.KeySpec(self.kty, self.size, self.curve)


class Key(Versioned[KeyVersion]):
    """A key: its versions, oldest first, and its deletion dates once deleted."""


def parse_spec(body: dict[str, Any]) -> crypto.KeySpec:
    """The key type, size and curve of a create request (Key Vault's ``KeyCreateParameters``)."""
    kty, size, curve = body.get("kty"), body.get("key_size"), body.get("crv")
    if kty in ("RSA-HSM", "EC-HSM", "oct", "oct-HSM"):
        raise bad_parameter(f"Key type {kty} is not supported by this vault (software-protected RSA and EC only)")
    if kty not in ("RSA", "EC"):
        raise bad_parameter("Property 'kty' is required and must be RSA or EC")
    if kty == "RSA":
        if curve is not None:
            raise bad_parameter("crv is not valid for an RSA key")
        if size is not None and (isinstance(size, bool) or size not in crypto.RSA_SIZES):
            raise bad_parameter(f"key_size must be one of {', '.join(map(str, crypto.RSA_SIZES))}")
        exponent = body.get("public_exponent")
        if exponent is not None and (isinstance(exponent, bool) or exponent != 65537):
            raise bad_parameter("public_exponent must be 65537")
        return crypto.KeySpec("RSA", size=size or 2048)
    if size is not None:
        raise bad_parameter("key_size is not valid for an EC key; give crv")
    if curve is not None and curve not in crypto.CURVES:
        raise bad_parameter(f"crv must be one of {', '.join(crypto.CURVES)}")
    return crypto.KeySpec("EC", curve=curve or "P-256")


def parse_operations(raw: Any, kty: str) -> list[str] | None:
    if raw is None:
        return None
    allowed = RSA_OPERATIONS if kty == "RSA" else EC_OPERATIONS
    if not isinstance(raw, list) or not all(isinstance(op, str) for op in raw):
        raise bad_parameter("key_ops must be a list of strings")
    unknown = [op for op in raw if op not in allowed]
    if unknown:
        raise bad_parameter(f"key_ops {unknown[0][:20]!r} is not valid for a {kty} key; allowed: {', '.join(allowed)}")
    return list(dict.fromkeys(raw))


def _refuse_export(raw_attributes: Any) -> None:
    if isinstance(raw_attributes, dict) and raw_attributes.get("exportable"):
        raise bad_parameter("Exportable keys are not supported by this vault: private keys never leave it")


class Keys(VersionedStore[Key, KeyVersion]):
    """The keys of one emulated vault. Not thread-safe: the server serialises changes with its lock."""

    noun = "Key"
    bucket = "keys"
    state_file = STATE_FILE

    def __init__(self, data_dir: Path | None, *, recoverable_days: int = 90, purge_protection: bool = False,
                 clock: Any = time.time) -> None:
        self._loaded: dict[str, crypto.PrivateKey] = {}
        super().__init__(data_dir, recoverable_days=recoverable_days, purge_protection=purge_protection,
                         clock=clock)

    def _new_item(self, name: str) -> Key:
        return Key(name=name)

    def _load_version(self, raw: dict[str, Any]) -> KeyVersion:
        return KeyVersion(**raw)

    def private_key(self, version: KeyVersion) -> crypto.PrivateKey:
        loaded = self._loaded.get(version.version)
        if loaded is None:
            loaded = self._loaded[version.version] = crypto.load(version.pem.encode("ascii"))
        return loaded

    def public_jwk(self, key: Key, version: KeyVersion, kid: str) -> dict[str, Any]:
        """Key Vault's ``JsonWebKey`` of ``version``: ``kid``, ``kty``, ``key_ops`` and the public members."""
        return {"kid": kid, "kty": version.kty, "key_ops": list(version.key_ops),
                **crypto.public_members(self.private_key(version))}

    # -- changes (callers hold the server's lock and save afterwards) ------------------------
    def prepare(self, name: str, body: Any) -> tuple[crypto.KeySpec, dict[str, Any]]:
        """Validate a create request before the (slow) key generation; returns the spec and the body."""
        check_name(name)
        if not isinstance(body, dict):
            raise bad_parameter("The request body must be a JSON object")
        spec = parse_spec(body)
        parse_operations(body.get("key_ops"), spec.kty)
        _refuse_export(body.get("attributes"))
        parse_attributes(body.get("attributes"))
        parse_tags(body.get("tags"))
        return spec, body

    def create(self, name: str, body: dict[str, Any], spec: crypto.KeySpec, pem: bytes) -> tuple[Key, KeyVersion]:
        """Add a version made of ``pem`` (generated from ``prepare``'s spec) as the latest of ``name``."""
        self.prepare(name, body)
        self._refuse_deleted_name(name)
        attrs = parse_attributes(body.get("attributes"))
        operations = parse_operations(body.get("key_ops"), spec.kty)
        now = self.now()
        version = KeyVersion(
            version=uuid.uuid4().hex, kty=spec.kty, pem=pem.decode("ascii"), created=now, updated=now,
            key_ops=operations if operations is not None else list(RSA_OPERATIONS if spec.kty == "RSA"
                                                                   else EC_OPERATIONS),
            size=spec.size, curve=spec.curve, enabled=True if attrs.enabled is None else attrs.enabled,
            exp=attrs.exp, nbf=attrs.nbf, tags=parse_tags(body.get("tags")))
        return self._add_version(name, version), version

    def rotation_body(self, name: str) -> tuple[crypto.KeySpec, dict[str, Any]]:
        """A rotation repeats the latest version's type, size or curve, operations and tags."""
        latest = self.active(name).latest
        return latest.spec(), {"kty": latest.kty, "key_ops": list(latest.key_ops), "tags": latest.tags,
                               **({"key_size": latest.size} if latest.kty == "RSA" else {"crv": latest.curve})}

    def update(self, name: str, version_id: str | None, body: Any) -> tuple[Key, KeyVersion]:
        if not isinstance(body, dict):
            raise bad_parameter("The request body must be a JSON object")
        key, version = self.version(name, version_id)
        _refuse_export(body.get("attributes"))
        attrs = parse_attributes(body.get("attributes"))
        tags = parse_tags(body.get("tags"))
        operations = parse_operations(body.get("key_ops"), version.kty)
        apply_update(version, attrs, tags, body)
        if operations is not None:
            version.key_ops = operations
        version.updated = self.now()
        return key, version

    def purge(self, name: str) -> Key:
        """Remove a deleted key for good, and its private keys from the cache."""
        key = super().purge(name)
        for version in key.versions:
            self._loaded.pop(version.version, None)
        return key

    # -- cryptographic operations ------------------------------------------------------------
    def usable(self, name: str, version_id: str | None, operation: str) -> tuple[Key, KeyVersion]:
        """The version for ``operation`` (``sign``/``verify``): enabled, within nbf..exp, the op in key_ops."""
        key, version = self.version(name, version_id)
        now = self.now()
        if not version.enabled:
            raise VaultError(403, "Forbidden", f"Operation {operation} is not allowed on a disabled key.",
                             "KeyDisabled")
        if version.exp is not None and version.exp <= now:
            raise VaultError(403, "Forbidden", f"Operation {operation} is not allowed on an expired key.",
                             "KeyExpired")
        if version.nbf is not None and now < version.nbf:
            raise VaultError(403, "Forbidden", f"Operation {operation} is not allowed on a key that is not yet "
                             "valid.", "KeyNotYetValid")
        if operation not in version.key_ops:
            raise VaultError(403, "Forbidden", f"Operation {operation} is not permitted by this key's key_ops.",
                             "KeyOperationForbidden")
        return key, version

    def sign(self, name: str, version_id: str | None, body: Any) -> tuple[Key, KeyVersion, bytes]:
        """Sign the base64url ``value`` digest with ``alg`` (Key Vault's ``KeySignParameters``)."""
        if not isinstance(body, dict) or not isinstance(body.get("alg"), str):
            raise bad_parameter("Properties 'alg' and 'value' are required")
        key, version = self.usable(name, version_id, "sign")
        try:
            digest = crypto.b64url_decode(body.get("value"))
            return key, version, crypto.sign(self.private_key(version), body["alg"], digest)
        except crypto.CryptoError as exc:
            raise bad_parameter(str(exc)) from None

    def verify(self, name: str, version_id: str | None, body: Any) -> tuple[Key, KeyVersion, bool]:
        """Verify ``value`` (signature) over ``digest`` with ``alg`` (``KeyVerifyParameters``)."""
        if not isinstance(body, dict) or not isinstance(body.get("alg"), str):
            raise bad_parameter("Properties 'alg', 'digest' and 'value' are required")
        key, version = self.usable(name, version_id, "verify")
        try:
            digest = crypto.b64url_decode(body.get("digest"))
            signature = crypto.b64url_decode(body.get("value"))
            return key, version, crypto.verify(self.private_key(version), body["alg"], digest, signature)
        except crypto.CryptoError as exc:
            raise bad_parameter(str(exc)) from None
