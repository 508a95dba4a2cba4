"""Find and load function folders as the Functions host and its Python worker do.

- ``host.json``: ``extensions.http.routePrefix`` (default ``api``).
- Every direct sub-folder of the root with a ``function.json`` is a function named after the
  folder (https://learn.microsoft.com/azure/azure-functions/functions-reference-python?pivots=python-mode-configuration#folder-structure).
- A route starting with ``admin`` or ``runtime`` (the host's own APIs) is refused with the host's
  message; so is an invalid template or function name. Such functions are listed as in error.
- What the host hands the worker for each function (name, folder, script path, entry point and
  bindings) is kept here; the Functions runtime imports the script (:mod:`.worker`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .routing import RouteTemplate, TemplateError, join_prefix, parse_template

RESERVED_ROUTE_MESSAGE = "The specified route conflicts with one or more built in routes."
SKIPPED_FOLDERS = frozenset({"node_modules", ".venv", "venv", "tests", "__pycache__"})
AUTH_LEVELS = ("anonymous", "function", "admin")
_FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,127}", re.IGNORECASE)


class HostConfigError(ValueError):
    """host.json is missing or unusable: the host cannot start."""


@dataclass
class FunctionDef:
    """One function folder and what its function.json says (``error`` set when it cannot be served)."""

    name: str
    directory: Path
    script_file: str = "__init__.py"
    entry_point: str = "main"
    trigger_name: str = "req"
    output_name: str = "$return"
    auth_level: str = "function"
    methods: frozenset[str] | None = None
    route: str = ""
    template: RouteTemplate | None = None
    disabled: bool = False
    error: str | None = None
    bindings: list[dict[str, Any]] = field(default_factory=list, repr=False)
    function_id: str | None = None  # set once the runtime has loaded the function

    @property
    def script_path(self) -> Path:
        return self.directory / self.script_file

    @property
    def methods_text(self) -> str:
        return ",".join(sorted(self.methods)) if self.methods else "ALL"


@dataclass(frozen=True)
class HttpLimits:
    """``extensions.http`` throttles of host.json (-1: unbounded, the default)."""

    max_concurrent_requests: int = -1
    max_outstanding_requests: int = -1


def read_route_prefix(root: Path) -> str:
    """``extensions.http.routePrefix`` of ``<root>/host.json`` (``api`` when absent)."""
    prefix = _http_extension(root).get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise HostConfigError(f"{root / 'host.json'}: extensions.http.routePrefix must be a string")
    return prefix


def read_http_limits(root: Path) -> HttpLimits:
    """``maxConcurrentRequests`` / ``maxOutstandingRequests`` of host.json."""
    http = _http_extension(root)
    values = []
    for name in ("maxConcurrentRequests", "maxOutstandingRequests"):
        value = http.get(name, -1)
        if not isinstance(value, int) or isinstance(value, bool) or value == 0 or value < -1:
            raise HostConfigError(f"{root / 'host.json'}: extensions.http.{name} must be a positive integer or -1")
        values.append(value)
    return HttpLimits(*values)


_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")
DEFAULT_FUNCTION_TIMEOUT = 300.0  # Consumption plan default when host.json sets none


def read_function_timeout(root: Path) -> float | None:
    """host.json ``functionTimeout`` (TimeSpan ``[d.]hh:mm:ss``) in seconds; None for ``-1`` (unbounded)."""
    value = _host_document(root).get("functionTimeout")
    if value is None:
        return DEFAULT_FUNCTION_TIMEOUT
    text = str(value).strip()
    if text == "-1":
        return None
    match = _TIMESPAN.fullmatch(text)
    if not match:
        raise HostConfigError(f"{root / 'host.json'}: functionTimeout must look like hh:mm:ss (or -1)")
    days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if total <= 0:
        raise HostConfigError(f"{root / 'host.json'}: functionTimeout must be positive")
    return total


def _host_document(root: Path) -> dict[str, Any]:
    path = root / "host.json"
    if not path.is_file():
        raise HostConfigError(f"Unable to find project root. Expecting to find host.json in {root}")
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HostConfigError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(document, dict) or str(document.get("version", "")) != "2.0":
        raise HostConfigError(f"{path}: \"version\" must be \"2.0\"")
    return document


def _http_extension(root: Path) -> dict[str, Any]:
    path = root / "host.json"
    document = _host_document(root)
    extensions = document.get("extensions") or {}
    http = extensions.get("http") or {} if isinstance(extensions, dict) else None
    if not isinstance(http, dict):
        raise HostConfigError(f"{path}: extensions.http must be an object")
    return http


def _is_disabled(name: str, document: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
    flag = environ.get(f"AzureWebJobs.{name}.Disabled", environ.get(f"AzureWebJobs_{name}_Disabled", ""))
    return document.get("disabled") is True or flag.strip().lower() in ("true", "1")


def read_function(directory: Path, prefix: str, environ: Mapping[str, str]) -> FunctionDef | None:
    """Describe one folder from its function.json; None when it has no httpTrigger (not ours to serve)."""
    function = FunctionDef(name=directory.name, directory=directory)
    try:
        document = json.loads((directory / "function.json").read_text(encoding="utf-8-sig"))
        bindings = document["bindings"]
        if not isinstance(bindings, list):
            raise TypeError
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        function.error = f"function.json is invalid ({type(exc).__name__}: {exc})"
        return function
    triggers = [b for b in bindings if isinstance(b, dict) and str(b.get("type", "")).lower() == "httptrigger"]
    if not triggers:
        return None
    trigger = triggers[0]
    outputs = [b for b in bindings if isinstance(b, dict) and str(b.get("type", "")).lower() == "http"
               and str(b.get("direction", "")).lower() == "out"]
    function.bindings = [b for b in bindings if isinstance(b, dict)]
    function.script_file = document.get("scriptFile") or "__init__.py"
    function.entry_point = document.get("entryPoint") or "main"
    function.trigger_name = str(trigger.get("name") or "req")
    function.output_name = str(outputs[0].get("name") or "$return") if outputs else "$return"
    function.disabled = _is_disabled(function.name, document, environ)
    function.auth_level = str(trigger.get("authLevel") or "function").lower()
    methods = trigger.get("methods")
    function.methods = frozenset(str(m).upper() for m in methods) if methods else None
    function.route = str(trigger.get("route") or function.name)
    if not _FUNCTION_NAME.fullmatch(function.name):
        function.error = f"'{function.name}' is not a valid function name."
    elif function.auth_level not in AUTH_LEVELS:
        function.error = f"authLevel '{function.auth_level}' is not one of {', '.join(AUTH_LEVELS)}."
    elif function.route.strip("/").lower().startswith(("admin", "runtime")):
        function.error = RESERVED_ROUTE_MESSAGE
    else:
        try:
            function.template = parse_template(join_prefix(prefix, function.route))
        except TemplateError as exc:
            function.error = str(exc)
    return function


def discover(root: Path, environ: Mapping[str, str] | None = None) -> tuple[str, list[FunctionDef]]:
    """The route prefix and every function folder directly under ``root``, in the order the host registers their
    routes: by name, compared ordinally ignoring case (.NET ``OrdinalIgnoreCase`` compares upper-cased)."""
    prefix = read_route_prefix(root)
    env = os.environ if environ is None else environ
    functions = []
    for directory in sorted(root.iterdir(), key=lambda p: p.name.upper()):
        if (not directory.is_dir() or directory.name.startswith(".") or directory.name in SKIPPED_FOLDERS
                or not (directory / "function.json").is_file()):
            continue
        function = read_function(directory, prefix, env)
        if function is not None:
            functions.append(function)
    return prefix, functions


def put_app_on_path(root: Path) -> None:
    """The app root first on ``sys.path``, as the proxy worker does before loading the runtime
    (``DependencyManager.prioritize_customer_dependencies``): shared packages import absolutely."""
    text = str(root)
    if text not in sys.path:
        sys.path.insert(0, text)
