"""``local.settings.json`` as Functions Core Tools loads it.

https://learn.microsoft.com/azure/azure-functions/functions-develop-local#local-settings-file:
``Values`` become environment variables of the host and worker, but a variable that is already
set in the environment wins; ``Host.LocalHttpPort`` is the default port. Only setting *names*
are ever reported, never values (they hold keys and connection strings).
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """The settings file exists but cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class LoadedSettings:
    """What loading did: names applied, names the environment overrode, the file's port."""

    path: Path | None
    found: bool
    applied: tuple[str, ...] = ()
    overridden: tuple[str, ...] = ()
    local_http_port: int | None = None
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """One line for the host's start-up output (names only)."""
        if self.path is None:
            return "No local settings file: using the environment only."
        if not self.found:
            return f"No local settings file at {self.path}: using the environment only."
        text = f"Loaded {len(self.applied)} setting(s) from {self.path}"
        if self.overridden:
            text += f"; already set in the environment (kept): {', '.join(self.overridden)}"
        return text + "."


def _as_text(name: str, value: object, path: Path) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return ""
    raise SettingsError(f"{path}: Values.{name} must be a string, not {type(value).__name__}")


def load_local_settings(path: Path | None, environ: MutableMapping[str, str]) -> LoadedSettings:
    """Apply ``Values`` of ``path`` to ``environ`` where not already set; a missing file changes nothing."""
    if path is None:
        return LoadedSettings(None, False)
    if not path.is_file():
        return LoadedSettings(path, False)
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path}: the top level must be an object with \"Values\"")
    if document.get("IsEncrypted") is True:
        raise SettingsError(f"{path}: IsEncrypted is true; decrypt it first (func settings decrypt)")
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: \"Values\" must be an object of name/value strings")
    texts = {str(name): _as_text(str(name), value, path) for name, value in values.items()}
    applied, overridden = [], []
    for name, text in texts.items():
        if name in environ:
            overridden.append(name)
        else:
            environ[name] = text
            applied.append(name)
    port = None
    host = document.get("Host")
    if isinstance(host, dict) and host.get("LocalHttpPort") not in (None, ""):
        try:
            port = int(host["LocalHttpPort"])
        except (TypeError, ValueError):
            raise SettingsError(f"{path}: Host.LocalHttpPort must be a port number") from None
    return LoadedSettings(path, True, tuple(applied), tuple(overridden), port)
