"""Which part of ``gateway/`` may import which, and no import loop anywhere in it; read statically from the
code's own import statements.

Every ``import`` and ``from ... import`` counts wherever it stands: at module level, inside a function (the
lazy imports that keep a cold start light) and under ``if TYPE_CHECKING:``. A type-only import still ties
one module to another: the reader needs both, mypy needs both, and a loop hidden behind ``TYPE_CHECKING``
is how a composition root and the parts it builds ended up knowing each other (the parts took the whole
``Services`` while ``services.py`` imported every part back).

A *unit* is a package of ``gateway/`` (``gateway.proxy`` with all its modules) or a top-level module
(``gateway.config``). :data:`MAY_IMPORT` states, for each unit, the other units it may import; a unit that
is not declared fails the test, so a new package states its place here. Loops are looked for between
modules, whatever their unit.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gateway"

FOUNDATION = frozenset({"gateway.config", "gateway.clock", "gateway.http", "gateway.lifecycle", "gateway.failure",
                        "gateway.credentials", "gateway.managed_identity"})
"""Settings, time, the gateway's HTTP types and small helpers: every other unit may import them; they import no
other unit."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    **{unit: frozenset() for unit in FOUNDATION},
    # The stores: the lowest layer; they know nothing of what is stored for.
    "gateway.stores": frozenset(),
    "gateway.outbound": frozenset(),  # outbound HTTP rules: no proxy, OAuth or admin code
    "gateway.scopes": frozenset({"gateway.stores"}),
    "gateway.telemetry": frozenset({"gateway.outbound", "gateway.stores"}),
    "gateway.caching": frozenset({"gateway.stores", "gateway.telemetry"}),
    "gateway.directory": frozenset({"gateway.caching", "gateway.stores"}),
    "gateway.housekeeping": frozenset({"gateway.stores"}),
    "gateway.tokens": frozenset({"gateway.caching", "gateway.scopes", "gateway.stores", "gateway.telemetry"}),
    "gateway.upstream": frozenset({"gateway.outbound", "gateway.stores", "gateway.tokens"}),
    "gateway.oauth": frozenset({"gateway.caching", "gateway.outbound", "gateway.scopes", "gateway.stores",
                                "gateway.telemetry", "gateway.tokens"}),
    "gateway.fhir": frozenset({"gateway.oauth"}),  # discovery advertises the OAuth methods
    "gateway.convert": frozenset({"gateway.fhir"}),  # plain dict-to-dict code over the FhirVersion values
    "gateway.proxy": frozenset({"gateway.convert", "gateway.fhir", "gateway.outbound", "gateway.scopes",
                                "gateway.stores", "gateway.telemetry", "gateway.tokens", "gateway.upstream"}),
    "gateway.admin": frozenset({"gateway.fhir", "gateway.oauth", "gateway.outbound", "gateway.scopes",
                                "gateway.stores", "gateway.tokens", "gateway.upstream"}),
    # The composition root builds every part; only the entry adapter and the surfaces know it.
    "gateway.services": frozenset({"gateway.admin", "gateway.directory", "gateway.housekeeping", "gateway.oauth",
                                   "gateway.outbound", "gateway.proxy", "gateway.stores", "gateway.telemetry",
                                   "gateway.tokens", "gateway.upstream"}),
    "gateway.entry": frozenset({"gateway.services", "gateway.stores"}),
    "gateway.surfaces": frozenset({"gateway.admin", "gateway.entry", "gateway.fhir", "gateway.oauth",
                                   "gateway.services"}),
    "gateway.azure_http": frozenset({"gateway.telemetry"}),
    "gateway.cli": frozenset(),  # the admin CLI talks to the admin API over HTTP only
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
        allowed = MAY_IMPORT.get(unit, frozenset()) | {unit, "gateway"}  # "gateway": the package's face (version)
        if unit not in FOUNDATION:
            allowed |= FOUNDATION
        for imported, line in imports_of(module):
            if unit_of(imported) not in allowed:
                crossings.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {imported}")
    assert not crossings, "imports across the declared boundaries:\n" + "\n".join(sorted(set(crossings)))


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``gateway`` it imports."""
    return {module: {imported for imported, _ in imports_of(module)
                     if imported in MODULES and imported != module}
            for module in MODULES}


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm): each is an import loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return loops


def test_no_module_of_the_package_takes_part_in_an_import_loop():
    loops = import_loops(import_graph())
    assert not loops, "import loops:\n" + "\n".join(" <-> ".join(loop) for loop in loops)


def test_the_loop_finder_finds_a_loop_through_several_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_loops(graph) == [["a", "b", "c"]]
    assert import_loops({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_lazy_and_type_only_imports():
    """The reader is what the two tests above rely on: it must see imports inside functions and under
    ``TYPE_CHECKING``, and resolve ``from gateway import telemetry`` to the module."""
    seen = {imported for imported, _ in imports_of("gateway.services")}
    assert "gateway.stores.memory" in seen  # inside memory_services()
    assert "gateway.tokens.keyring" in seen  # under TYPE_CHECKING and inside a cached property
    assert "gateway.telemetry" in seen  # ``from gateway import telemetry``
