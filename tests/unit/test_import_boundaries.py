"""Which part of ``gateway/`` may import which, read statically from the code's own import statements.

Every ``import`` and ``from ... import`` counts wherever it stands: at module level, inside a function (the
lazy imports that keep a cold start light) and under ``if TYPE_CHECKING:``. A type-only import still ties
one module to another: the reader needs both, mypy needs both, and an import loop hidden behind
``TYPE_CHECKING`` is how a composition root and the parts it builds end up knowing each other.

A *unit* is a package of ``gateway/`` (``gateway.proxy`` with all its modules) or a top-level module
(``gateway.config``). :data:`MAY_IMPORT` states, for each unit, the other units it may import; a unit that
is not declared fails the test, so a new package states its place here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gateway"

FOUNDATION = frozenset({"gateway.config", "gateway.clock", "gateway.http", "gateway.lifecycle",
                        "gateway.credentials", "gateway.managed_identity"})
"""Settings, time, the gateway's HTTP types and small helpers: they import no other unit."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    **{unit: frozenset() for unit in FOUNDATION},
    "gateway.stores": frozenset({"gateway.config", "gateway.clock", "gateway.lifecycle", "gateway.managed_identity"}),
    "gateway.outbound": frozenset({"gateway.config"}),
    "gateway.scopes": frozenset({"gateway.stores"}),
    "gateway.telemetry": frozenset({"gateway.config", "gateway.http", "gateway.outbound", "gateway.stores"}),
    "gateway.caching": frozenset({"gateway.clock", "gateway.stores", "gateway.telemetry"}),
    "gateway.directory": frozenset({"gateway.caching", "gateway.stores", "gateway.services"}),
    "gateway.housekeeping": frozenset({"gateway.services"}),
    "gateway.tokens": frozenset({"gateway.clock", "gateway.credentials", "gateway.scopes", "gateway.stores",
                                 "gateway.telemetry", "gateway.services"}),
    "gateway.oauth": frozenset({"gateway.caching", "gateway.clock", "gateway.config", "gateway.credentials",
                                "gateway.http", "gateway.outbound", "gateway.scopes", "gateway.stores",
                                "gateway.telemetry", "gateway.tokens", "gateway.entry", "gateway.services"}),
    "gateway.fhir": frozenset({"gateway.config", "gateway.http", "gateway.oauth", "gateway.entry",
                               "gateway.services"}),
    "gateway.proxy": frozenset({"gateway.config", "gateway.fhir", "gateway.http", "gateway.managed_identity",
                                "gateway.outbound", "gateway.scopes", "gateway.stores", "gateway.telemetry",
                                "gateway.tokens", "gateway.entry", "gateway.services"}),
    "gateway.admin": frozenset({"gateway.clock", "gateway.config", "gateway.credentials", "gateway.http",
                                "gateway.oauth", "gateway.outbound", "gateway.scopes", "gateway.stores",
                                "gateway.tokens", "gateway.entry", "gateway.services"}),
    "gateway.services": frozenset({"gateway.admin", "gateway.clock", "gateway.config", "gateway.directory",
                                   "gateway.housekeeping", "gateway.lifecycle", "gateway.oauth", "gateway.outbound",
                                   "gateway.proxy", "gateway.stores", "gateway.telemetry", "gateway.tokens"}),
    "gateway.entry": frozenset({"gateway.config", "gateway.http", "gateway.services", "gateway.stores"}),
    "gateway.azure_http": frozenset({"gateway.http", "gateway.telemetry"}),
    "gateway.cli": frozenset(),
    "gateway": frozenset(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def unit_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def _resolved(module: str, name: str | None) -> str:
    """``from module import name``: the submodule when ``name`` is one (``from gateway import telemetry``)."""
    candidate = f"{module}.{name}" if name else module
    return candidate if candidate in MODULES else module


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """Every module of ``gateway`` that ``module`` imports, with the line, wherever the import stands."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gateway":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "gateway":
                continue
            for alias in node.names:
                yield _resolved(base, alias.name), node.lineno


def test_every_unit_of_the_package_is_declared():
    undeclared = sorted({unit_of(module) for module in MODULES} - set(MAY_IMPORT))
    assert not undeclared, f"declare each new unit's allowed imports in MAY_IMPORT: {undeclared}"


def test_each_unit_imports_only_what_it_may():
    crossings = []
    for module in MODULES:
        unit = unit_of(module)
        allowed = MAY_IMPORT.get(unit, frozenset()) | {unit, "gateway"}  # the package's face (its version)
        for imported, line in imports_of(module):
            if unit_of(imported) not in allowed:
                crossings.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {imported}")
    assert not crossings, "imports across the declared boundaries:\n" + "\n".join(crossings)


def test_the_import_reader_sees_lazy_and_type_only_imports():
    """The reader is what the two tests above rely on: it must see imports inside functions and under
    ``TYPE_CHECKING``, and resolve ``from gateway import telemetry`` to the module."""
    seen = {imported for imported, _ in imports_of("gateway.services")}
    assert "gateway.stores.memory" in seen  # inside memory_services()
    assert "gateway.tokens.keyring" in seen  # under TYPE_CHECKING and inside a cached property
    assert "gateway.telemetry" in seen  # ``from gateway import telemetry``
