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

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devtools.keyvault_emulator import crypto
from devtools.keyvault_emulator.vault import (
    VaultError,
    bad_parameter,
    check_name,
    parse_attributes,
    parse_tags,
    write_atomically,
)

STATE_FILE = "keys.json"
RSA_OPERATIONS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey")
EC_OPERATIONS = ("sign", "verify")


def not_found(name: str) -> VaultError:
    return VaultError(404, "KeyNotFound",
                      f"A key with (name/id) {name} was not found in this key vault. If you recently deleted this "
                      "key you may be able to recover it using the correct recovery command.")


def deleted_not_found(name: str) -> VaultError:
    return VaultError(404, "KeyNotFound", f"Deleted Key not found: {name}")


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


@dataclass
class Key:
    name: str
    versions: list[KeyVersion] = field(default_factory=list)
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None

    @property
    def latest(self) -> KeyVersion:
        return self.versions[-1]


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


class Keys:
    """The keys of one emulated vault. Not thread-safe: the server serialises changes with its lock."""

    def __init__(self, data_dir: Path | None, *, recoverable_days: int = 90, purge_protection: bool = False,
                 clock: Any = time.time) -> None:
        self.data_dir = data_dir
        self.recoverable_days = recoverable_days
        self.purge_protection = purge_protection
        self._clock = clock
        self._active: dict[str, Key] = {}
        self._deleted: dict[str, Key] = {}
        self._loaded: dict[str, crypto.PrivateKey] = {}
        self._load()

    @property
    def recovery_level(self) -> str:
        return "Recoverable" if self.purge_protection else "Recoverable+Purgeable"

    def now(self) -> int:
        return int(self._clock())

    # -- persistence -------------------------------------------------------------------------
    def _path(self) -> Path | None:
        return self.data_dir / STATE_FILE if self.data_dir is not None else None

    def _load(self) -> None:
        path = self._path()
        if path is None or not path.exists():
            return
        state = json.loads(path.read_text("utf-8"))
        for bucket, target in (("keys", self._active), ("deleted", self._deleted)):
            for raw in state.get(bucket, []):
                key = Key(name=raw["name"], versions=[KeyVersion(**v) for v in raw["versions"]],
                          deleted_date=raw.get("deleted_date"), scheduled_purge_date=raw.get("scheduled_purge_date"))
                target[key.name.lower()] = key

    def snapshot(self) -> bytes:
        state = {"keys": [asdict(k) for k in self._active.values()],
                 "deleted": [asdict(k) for k in self._deleted.values()]}
        return json.dumps(state, separators=(",", ":")).encode("utf-8")

    def write(self, snapshot: bytes) -> None:
        path = self._path()
        if path is not None:
            write_atomically(path, snapshot)

    def save(self) -> None:
        self.write(self.snapshot())

    # -- queries -----------------------------------------------------------------------------
    def _expire_deleted(self) -> None:
        now = self.now()
        for name in [n for n, k in self._deleted.items() if (k.scheduled_purge_date or now + 1) <= now]:
            del self._deleted[name]

    def active(self, name: str) -> Key:
        check_name(name)
        key = self._active.get(name.lower())
        if key is None:
            raise not_found(name)
        return key

    def version(self, name: str, version: str | None) -> tuple[Key, KeyVersion]:
        key = self.active(name)
        if not version:
            return key, key.latest
        for candidate in key.versions:
            if candidate.version == version:
                return key, candidate
        raise not_found(name)

    def deleted(self, name: str) -> Key:
        check_name(name)
        self._expire_deleted()
        key = self._deleted.get(name.lower())
        if key is None:
            raise deleted_not_found(name)
        return key

    def list_active(self) -> list[Key]:
        return sorted(self._active.values(), key=lambda k: k.name.lower())

    def list_deleted(self) -> list[Key]:
        self._expire_deleted()
        return sorted(self._deleted.values(), key=lambda k: k.name.lower())

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
        self._expire_deleted()
        if name.lower() in self._deleted:
            shown = self._deleted[name.lower()].name
            raise VaultError(409, "Conflict",
                             f"Key {shown} is currently in a deleted but recoverable state, and its name cannot be "
                             "reused; in this state, the key can only be recovered or purged.",
                             "ObjectIsDeletedButRecoverable")
        attrs = parse_attributes(body.get("attributes"))
        operations = parse_operations(body.get("key_ops"), spec.kty)
        now = self.now()
        version = KeyVersion(
            version=uuid.uuid4().hex, kty=spec.kty, pem=pem.decode("ascii"), created=now, updated=now,
            key_ops=operations if operations is not None else list(RSA_OPERATIONS if spec.kty == "RSA"
                                                                   else EC_OPERATIONS),
            size=spec.size, curve=spec.curve, enabled=True if attrs.enabled is None else attrs.enabled,
            exp=attrs.exp, nbf=attrs.nbf, tags=parse_tags(body.get("tags")))
        key = self._active.setdefault(name.lower(), Key(name=name))
        key.versions.append(version)
        return key, version

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
        if attrs.enabled is not None:
            version.enabled = attrs.enabled
        if attrs.exp_given:
            version.exp = attrs.exp
        if attrs.nbf_given:
            version.nbf = attrs.nbf
        if "tags" in body:
            version.tags = tags
        if operations is not None:
            version.key_ops = operations
        version.updated = self.now()
        return key, version

    def delete(self, name: str) -> Key:
        key = self.active(name)
        del self._active[name.lower()]
        now = self.now()
        key.deleted_date = now
        key.scheduled_purge_date = now + self.recoverable_days * 86400
        self._deleted[name.lower()] = key
        return key

    def purge(self, name: str) -> None:
        key = self.deleted(name)
        if self.purge_protection:
            raise VaultError(403, "Forbidden",
                             'Operation "purge" is not allowed because purge protection is enabled for this vault. '
                             "Key Vault service will automatically purge it after the retention period has passed.",
                             "PurgeProtectionEnabled")
        del self._deleted[name.lower()]
        for version in key.versions:
            self._loaded.pop(version.version, None)

    def recover(self, name: str) -> Key:
        key = self.deleted(name)
        del self._deleted[name.lower()]
        key.deleted_date = key.scheduled_purge_date = None
        self._active[name.lower()] = key
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
