"""What the vault's secrets and keys have in common: named, versioned, soft-deletable items kept in one JSON file.

:class:`VersionedStore` holds the active and the deleted items of one kind
(names case-insensitive, the first spelling kept), expires deleted items at
their scheduled purge date, and writes its state atomically. A subclass names
its kind (``noun``, ``bucket``, ``state_file``) and says how to make an item and
load a version; the errors follow Key Vault's wording for that kind.
"""

from __future__ import annotations

import json
import os
import re
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")


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


def bad_parameter(message: str) -> VaultError:
    return VaultError(400, "BadParameter", message)


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise bad_parameter(f"The request URI contains an invalid name: {name[:130]}")


class VersionLike(Protocol):
    """What the store needs of a version: its identifier."""

    version: str


@dataclass
class Versioned[VersionT: VersionLike]:
    """A named item: its versions (oldest first) and, once deleted, when it was and when it goes for good."""

    name: str
    versions: list[VersionT] = field(default_factory=list)
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None

    @property
    def latest(self) -> VersionT:
        return self.versions[-1]


class VersionedStore[ItemT: Versioned[Any], VersionT: VersionLike](ABC):
    """The active and deleted items of one kind. Not thread-safe: the server serialises changes with its lock."""

    noun: ClassVar[str]  # "Secret" or "Key": error codes and messages
    bucket: ClassVar[str]  # the state file's list of active items
    state_file: ClassVar[str]

    def __init__(self, data_dir: Path | None, *, recoverable_days: int = 90, purge_protection: bool = False,
                 clock: Any = time.time) -> None:
        self.data_dir = data_dir
        self.recoverable_days = recoverable_days
        self.purge_protection = purge_protection
        self._clock = clock
        self._active: dict[str, ItemT] = {}
        self._deleted: dict[str, ItemT] = {}
        self._listed: list[ItemT] | None = None  # the active items by name, until the set changes
        self._load()

    @abstractmethod
    def _new_item(self, name: str) -> ItemT:
        """An item of this kind named ``name``, without versions."""

    @abstractmethod
    def _load_version(self, raw: dict[str, Any]) -> VersionT:
        """A version as the state file holds it."""

    @property
    def recovery_level(self) -> str:
        return "Recoverable" if self.purge_protection else "Recoverable+Purgeable"

    def now(self) -> int:
        return int(self._clock())

    # -- errors ------------------------------------------------------------------------------
    def not_found(self, name: str) -> VaultError:
        noun = self.noun.lower()
        return VaultError(404, f"{self.noun}NotFound",
                          f"A {noun} with (name/id) {name} was not found in this key vault. If you recently deleted "
                          f"this {noun} you may be able to recover it using the correct recovery command.")

    def deleted_not_found(self, name: str) -> VaultError:
        return VaultError(404, f"{self.noun}NotFound", f"Deleted {self.noun} not found: {name}")

    # -- persistence -------------------------------------------------------------------------
    def _path(self) -> Path | None:
        return self.data_dir / self.state_file if self.data_dir is not None else None

    def _load(self) -> None:
        path = self._path()
        if path is None or not path.exists():
            return
        state = json.loads(path.read_text("utf-8"))
        for bucket, target in ((self.bucket, self._active), ("deleted", self._deleted)):
            for raw in state.get(bucket, []):
                item = self._new_item(raw["name"])
                item.versions = [self._load_version(v) for v in raw["versions"]]
                item.deleted_date = raw.get("deleted_date")
                item.scheduled_purge_date = raw.get("scheduled_purge_date")
                target[item.name.lower()] = item

    def snapshot(self) -> bytes:
        """The whole state as JSON (take it under the lock, write it with :meth:`write`)."""
        state = {self.bucket: [asdict(item) for item in self._active.values()],
                 "deleted": [asdict(item) for item in self._deleted.values()]}
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
        for key in [k for k, item in self._deleted.items() if (item.scheduled_purge_date or now + 1) <= now]:
            del self._deleted[key]

    def active(self, name: str) -> ItemT:
        check_name(name)
        item = self._active.get(name.lower())
        if item is None:
            raise self.not_found(name)
        return item

    def version(self, name: str, version: str | None) -> tuple[ItemT, VersionT]:
        """The version ``version`` of ``name``, or its latest when none is given."""
        item = self.active(name)
        if not version:
            return item, item.latest
        for candidate in item.versions:
            if candidate.version == version:
                return item, candidate
        raise self.not_found(name)

    def deleted(self, name: str) -> ItemT:
        check_name(name)
        self._expire_deleted()
        item = self._deleted.get(name.lower())
        if item is None:
            raise self.deleted_not_found(name)
        return item

    def list_active(self) -> list[ItemT]:
        if self._listed is None:  # sorted once per change, not once per page of a listing
            self._listed = sorted(self._active.values(), key=lambda item: item.name.lower())
        return self._listed

    def list_deleted(self) -> list[ItemT]:
        self._expire_deleted()
        return sorted(self._deleted.values(), key=lambda item: item.name.lower())

    # -- changes (callers hold the server's lock and save afterwards) ------------------------
    def _refuse_deleted_name(self, name: str) -> None:
        """A deleted-but-recoverable name cannot take a new version (409) until recovered or purged."""
        self._expire_deleted()
        if name.lower() in self._deleted:
            shown, noun = self._deleted[name.lower()].name, self.noun.lower()
            raise VaultError(409, "Conflict",
                             f"{self.noun} {shown} is currently in a deleted but recoverable state, and its name "
                             f"cannot be reused; in this state, the {noun} can only be recovered or purged.",
                             "ObjectIsDeletedButRecoverable")

    def _add_version(self, name: str, version: VersionT) -> ItemT:
        """Append ``version`` as the latest of ``name``, creating the item with this spelling if new."""
        if name.lower() not in self._active:
            self._listed = None
        item = self._active.setdefault(name.lower(), self._new_item(name))
        item.versions.append(version)
        return item

    def delete(self, name: str) -> ItemT:
        item = self.active(name)
        del self._active[name.lower()]
        self._listed = None
        now = self.now()
        item.deleted_date = now
        item.scheduled_purge_date = now + self.recoverable_days * 86400
        self._deleted[name.lower()] = item
        return item

    def purge(self, name: str) -> ItemT:
        """Remove a deleted item for good (403 under purge protection); returns it."""
        item = self.deleted(name)
        if self.purge_protection:
            raise VaultError(403, "Forbidden",
                             'Operation "purge" is not allowed because purge protection is enabled for this vault. '
                             "Key Vault service will automatically purge it after the retention period has passed.",
                             "PurgeProtectionEnabled")
        del self._deleted[name.lower()]
        return item

    def recover(self, name: str) -> ItemT:
        item = self.deleted(name)
        del self._deleted[name.lower()]
        item.deleted_date = item.scheduled_purge_date = None
        self._active[name.lower()] = item
        self._listed = None
        return item
