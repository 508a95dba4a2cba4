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

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from devtools.keyvault_emulator.store import (
    VaultError,
    Versioned,
    VersionedStore,
    bad_parameter,
    check_name,
)

__all__ = ["Secret", "Vault", "VaultError", "Version", "bad_parameter", "check_name"]

MAX_VALUE_BYTES = 25 * 1024
MAX_TAGS = 15
STATE_FILE = "vault.json"


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


class Secret(Versioned[Version]):
    """A secret: its versions, oldest first, and its deletion dates once deleted."""


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


class Updatable(Protocol):
    """The members an update request may change on a secret's or a key's version."""

    enabled: bool
    exp: int | None
    nbf: int | None
    tags: dict[str, str] | None


def apply_update(version: Updatable, attrs: Attributes, tags: dict[str, str] | None, body: dict[str, Any]) -> None:
    """Set on ``version`` what an update request gave of ``enabled``, ``exp``, ``nbf`` and ``tags``."""
    if attrs.enabled is not None:
        version.enabled = attrs.enabled
    if attrs.exp_given:
        version.exp = attrs.exp
    if attrs.nbf_given:
        version.nbf = attrs.nbf
    if "tags" in body:
        version.tags = tags


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


class Vault(VersionedStore[Secret, Version]):
    """The secrets of one emulated vault. Not thread-safe: the server serialises changes with a lock."""

    noun = "Secret"
    bucket = "secrets"
    state_file = STATE_FILE

    def _new_item(self, name: str) -> Secret:
        return Secret(name=name)

    def _load_version(self, raw: dict[str, Any]) -> Version:
        return Version(**raw)

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
        self._refuse_deleted_name(name)
        now = self.now()
        version = Version(version=uuid.uuid4().hex, value=value, created=now, updated=now,
                          enabled=True if attrs.enabled is None else attrs.enabled,
                          exp=attrs.exp, nbf=attrs.nbf, tags=tags, content_type=content_type)
        return self._add_version(name, version), version

    def update(self, name: str, version_id: str | None, body: Any) -> tuple[Secret, Version]:
        if not isinstance(body, dict):
            raise bad_parameter("The request body must be a JSON object")
        attrs = parse_attributes(body.get("attributes"))
        tags = parse_tags(body.get("tags"))
        content_type = parse_content_type(body.get("contentType"))
        secret, version = self.version(name, version_id)
        apply_update(version, attrs, tags, body)
        if "contentType" in body:
            version.content_type = content_type
        version.updated = self.now()
        return secret, version
