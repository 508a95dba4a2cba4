"""The emulated vault: secrets, their versions, soft delete, and persistence to one JSON file.

Semantics follow the Key Vault Secrets API (api-version 7.x / 2025+):
names match ``^[0-9a-zA-Z-]{1,127}$`` and are case-insensitive (the first
spelling is kept); every ``set`` creates a new version, which becomes the
latest; ``exp``/``nbf`` are informational for secrets (not enforced), but a
disabled version's value is refused (403); delete is a soft delete (all
versions move to the deleted collection for ``recoverable_days``), and a
deleted-but-recoverable name cannot be reused (409) until it is recovered or
purged. See https://learn.microsoft.com/azure/key-vault/secrets/about-secrets
and https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview.

State is written atomically (temporary file + ``os.replace``) after every change.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_VALUE_BYTES = 25 * 1024
MAX_TAGS = 15
STATE_FILE = "vault.json"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` whole (owner-only temporary file, fsync, rename): readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class VaultError(Exception):
    """A Key Vault error: HTTP status, ``error.code``, message and optional ``innererror.code``."""

    def __init__(self, status: int, code: str, message: str, inner: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner


def not_found(name: str) -> VaultError:
    return VaultError(404, "SecretNotFound",
                      f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted "
                      "this secret you may be able to recover it using the correct recovery command.")


def deleted_not_found(name: str) -> VaultError:
    return VaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


def bad_parameter(message: str) -> VaultError:
    return VaultError(400, "BadParameter", message)


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise bad_parameter(f"The request URI contains an invalid name: {name[:130]}")


@dataclass
class Version:
    """One version of a secret (times are Unix seconds)."""

    version: str
    value: str
    created: int
    updated: int
    enabled: bool = True
    exp: int | None = None
    nbf: int | None = None
    tags: dict[str, str] | None = None
    content_type: str | None = None


@dataclass
class Secret:
    name: str
    versions: list[Version] = field(default_factory=list)
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None

    @property
    def latest(self) -> Version:
        return self.versions[-1]


@dataclass
class Attributes:
    """Validated ``attributes`` of a set or update request (None: not given)."""

    enabled: bool | None = None
    exp: int | None = None
    nbf: int | None = None
    exp_given: bool = False
    nbf_given: bool = False


def parse_attributes(raw: Any) -> Attributes:
    if raw is None:
        return Attributes()
    if not isinstance(raw, dict):
        raise bad_parameter("attributes must be an object")
    attrs = Attributes()
    if "enabled" in raw and raw["enabled"] is not None:
        if not isinstance(raw["enabled"], bool):
            raise bad_parameter("attributes.enabled must be a boolean")
        attrs.enabled = raw["enabled"]
    for key in ("exp", "nbf"):
        if key in raw:
            value = raw[key]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise bad_parameter(f"attributes.{key} must be a Unix time in seconds")
            setattr(attrs, key, None if value is None else int(value))
            setattr(attrs, f"{key}_given", True)
    return attrs


def parse_tags(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise bad_parameter("tags must be an object of string values")
    if len(raw) > MAX_TAGS:
        raise bad_parameter(f"A maximum of {MAX_TAGS} tags is allowed")
    return dict(raw)


def parse_content_type(raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise bad_parameter("contentType must be a string")
    return raw


class Vault:
    """The secrets of one emulated vault. Not thread-safe: the server serialises changes with a lock."""

    def __init__(self, data_dir: Path | None, *, recoverable_days: int = 90, purge_protection: bool = False,
                 clock: Any = time.time) -> None:
        self.data_dir = data_dir
        self.recoverable_days = recoverable_days
        self.purge_protection = purge_protection
        self._clock = clock
        self._active: dict[str, Secret] = {}
        self._deleted: dict[str, Secret] = {}
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
        for bucket, target in (("secrets", self._active), ("deleted", self._deleted)):
            for raw in state.get(bucket, []):
                secret = Secret(name=raw["name"], versions=[Version(**v) for v in raw["versions"]],
                                deleted_date=raw.get("deleted_date"),
                                scheduled_purge_date=raw.get("scheduled_purge_date"))
                target[secret.name.lower()] = secret

    def snapshot(self) -> bytes:
        """The whole state as JSON (take it under the lock, write it with :meth:`write`)."""
        state = {"secrets": [asdict(s) for s in self._active.values()],
                 "deleted": [asdict(s) for s in self._deleted.values()]}
        return json.dumps(state, separators=(",", ":")).encode("utf-8")

    def write(self, snapshot: bytes) -> None:
        """Replace the state file atomically (temporary file, fsync, rename)."""
        path = self._path()
        if path is not None:
            write_atomically(path, snapshot)

    def save(self) -> None:
        self.write(self.snapshot())

    # -- queries -----------------------------------------------------------------------------
    def _expire_deleted(self) -> None:
        now = self.now()
        for key in [k for k, s in self._deleted.items() if (s.scheduled_purge_date or now + 1) <= now]:
            del self._deleted[key]

    def active(self, name: str) -> Secret:
        check_name(name)
        secret = self._active.get(name.lower())
        if secret is None:
            raise not_found(name)
        return secret

    def version(self, name: str, version: str | None) -> tuple[Secret, Version]:
        secret = self.active(name)
        if not version:
            return secret, secret.latest
        for candidate in secret.versions:
            if candidate.version == version:
                return secret, candidate
        raise not_found(name)

    def deleted(self, name: str) -> Secret:
        check_name(name)
        self._expire_deleted()
        secret = self._deleted.get(name.lower())
        if secret is None:
            raise deleted_not_found(name)
        return secret

    def list_active(self) -> list[Secret]:
        return sorted(self._active.values(), key=lambda s: s.name.lower())

    def list_deleted(self) -> list[Secret]:
        self._expire_deleted()
        return sorted(self._deleted.values(), key=lambda s: s.name.lower())

    # -- changes (callers hold the server's lock and call save() afterwards) -----------------
    def set(self, name: str, body: Any) -> tuple[Secret, Version]:
        check_name(name)
        if not isinstance(body, dict):
            raise bad_parameter("The request body must be a JSON object")
        value = body.get("value")
        if not isinstance(value, str):
            raise bad_parameter("Property 'value' is required and must be a string")
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise bad_parameter(f"The secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes")
        attrs = parse_attributes(body.get("attributes"))
        tags = parse_tags(body.get("tags"))
        content_type = parse_content_type(body.get("contentType"))
        self._expire_deleted()
        if name.lower() in self._deleted:
            shown = self._deleted[name.lower()].name
            raise VaultError(409, "Conflict",
                             f"Secret {shown} is currently in a deleted but recoverable state, and its name cannot "
                             "be reused; in this state, the secret can only be recovered or purged.",
                             "ObjectIsDeletedButRecoverable")
        now = self.now()
        version = Version(version=uuid.uuid4().hex, value=value, created=now, updated=now,
                          enabled=True if attrs.enabled is None else attrs.enabled,
                          exp=attrs.exp, nbf=attrs.nbf, tags=tags, content_type=content_type)
        secret = self._active.setdefault(name.lower(), Secret(name=name))
        secret.versions.append(version)
        return secret, version

    def update(self, name: str, version_id: str | None, body: Any) -> tuple[Secret, Version]:
        if not isinstance(body, dict):
            raise bad_parameter("The request body must be a JSON object")
        attrs = parse_attributes(body.get("attributes"))
        tags = parse_tags(body.get("tags"))
        content_type = parse_content_type(body.get("contentType"))
        secret, version = self.version(name, version_id)
        if attrs.enabled is not None:
            version.enabled = attrs.enabled
        if attrs.exp_given:
            version.exp = attrs.exp
        if attrs.nbf_given:
            version.nbf = attrs.nbf
        if "tags" in body:
            version.tags = tags
        if "contentType" in body:
            version.content_type = content_type
        version.updated = self.now()
        return secret, version

    def delete(self, name: str) -> Secret:
        secret = self.active(name)
        del self._active[name.lower()]
        now = self.now()
        secret.deleted_date = now
        secret.scheduled_purge_date = now + self.recoverable_days * 86400
        self._deleted[name.lower()] = secret
        return secret

    def purge(self, name: str) -> None:
        self.deleted(name)
        if self.purge_protection:
            raise VaultError(403, "Forbidden",
                             'Operation "purge" is not allowed because purge protection is enabled for this vault. '
                             "Key Vault service will automatically purge it after the retention period has passed.",
                             "PurgeProtectionEnabled")
        del self._deleted[name.lower()]

    def recover(self, name: str) -> Secret:
        secret = self.deleted(name)
        del self._deleted[name.lower()]
        secret.deleted_date = secret.scheduled_purge_date = None
        self._active[name.lower()] = secret
        return secret
