"""Generate the search parameter tables (``gateway/fhir/search_parameters/<version>.json``) from HL7's definitions.

``python -m devtools.search_parameters`` writes the tables; ``--check`` compares them with what is committed.
Inputs and their digests are listed in ``sources.toml``; a digest that does not match stops the run.

For each resource type (and ``Resource`` / ``DomainResource`` for the parameters every type has) a table maps
the parameter's ``code`` to ``[type]`` or, for a reference parameter, ``[type, [target types]]`` (``["*"]``: the
definition names no target, any type may be referenced).

A parameter defined on several bases (R4 ``clinical-patient``: ``AllergyIntolerance.patient | CarePlan.subject
.where(resolve() is Patient) | ...``) lists the targets of all of them together; the table holds, per base, only
those that base can reach: the type named by ``where(resolve() is X)``, else the target types of the element the
expression names (from the version's StructureDefinitions where they are available, R4), intersected with the
definition's targets. Where neither is known the definition's whole list stays (never fewer types than a server
could return).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources.toml"
OUTPUT = ROOT / "gateway" / "fhir" / "search_parameters"
ANY_TYPE = "*"
_RESOLVE_IS = re.compile(r"resolve\(\)\s+is\s+([A-Z][A-Za-z0-9]*)")
_AS_REFERENCE = re.compile(r"\.ofType\(\s*Reference\s*\)|\s+as\s+Reference|\.as\(\s*Reference\s*\)")


class InputMismatch(Exception):
    """An input file is not the one sources.toml names (its digest differs)."""


def sources() -> dict[str, dict[str, str]]:
    return tomllib.loads(SOURCES.read_text(encoding="utf-8"))


def _checked(data: bytes, sha256: str, what: str) -> bytes:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InputMismatch(f"{what}: sha256 differs from sources.toml")
    return data


def read_inputs(version: str, source: Mapping[str, str]) -> tuple[bytes, bytes | None]:
    """The version's search-parameters.json (and R4's profiles-resources.json), digests checked."""
    if "stored" in source:
        data = gzip.decompress((HERE / source["stored"]).read_bytes())
        return _checked(data, source["sha256"], f"{version} {source['stored']}"), None
    parameters = _checked((ROOT / source["path"]).read_bytes(), source["sha256"], f"{version} {source['path']}")
    elements = _checked((ROOT / source["elements_path"]).read_bytes(), source["elements_sha256"],
                        f"{version} {source['elements_path']}")
    return parameters, elements


def reference_elements(profiles: bytes) -> dict[str, set[str]]:
    """``Type.path`` -> the resource types its Reference may target (choice ``x[x]`` also under ``x``)."""
    bundle = json.loads(profiles)
    found: dict[str, set[str]] = {}
    for entry in bundle.get("entry", []):
        definition = entry.get("resource", {})
        if definition.get("resourceType") != "StructureDefinition" or definition.get("kind") != "resource":
            continue
        for element in definition.get("snapshot", {}).get("element", []):
            targets = {profile.rsplit("/", 1)[-1] for kind in element.get("type", []) if kind.get("code") == "Reference"
                       for profile in kind.get("targetProfile", [])}
            if targets:
                path = element["path"]
                found[path] = targets
                found.setdefault(path.removesuffix("[x]"), targets)
    return found


def _alternatives(expression: str) -> Iterator[str]:
    """The ``|``-separated parts of a FHIRPath expression (not splitting inside parentheses), outer parens off."""
    depth, start = 0, 0
    for index, char in enumerate(expression + "|"):
        depth += char == "("
        depth -= char == ")"
        if char == "|" and depth == 0:
            part = expression[start:index].strip()
            while part.startswith("(") and part.endswith(")"):
                part = part[1:-1].strip()
            yield part
            start = index + 1


def base_targets(definition: Mapping[str, Any], base: str, elements: Mapping[str, set[str]]) -> list[str]:
    """The target types of a reference parameter on one of its bases (see the module docstring)."""
    declared = set(definition.get("target") or [ANY_TYPE])
    reached: set[str] = set()
    for part in _alternatives(definition.get("expression") or ""):
        if not part.startswith(base + "."):
            continue
        named = _RESOLVE_IS.search(part)
        path = _AS_REFERENCE.sub("", part)
        element = {named.group(1)} if named else elements.get(path)
        if element is None or "Resource" in element:
            return sorted(declared)
        reached |= element
    narrowed = reached if ANY_TYPE in declared else declared & reached
    return sorted(narrowed or declared)


def _bases(definition: Mapping[str, Any]) -> list[str]:
    base = definition["base"]
    return [base] if isinstance(base, str) else list(base)


def tables(parameters: bytes, elements: bytes | None) -> dict[str, dict[str, list[Any]]]:
    """Resource type -> parameter code -> ``[type]`` or ``[type, targets]``."""
    element_targets = reference_elements(elements) if elements is not None else {}
    result: dict[str, dict[str, list[Any]]] = {}
    for entry in json.loads(parameters)["entry"]:
        definition = entry["resource"]
        if definition.get("resourceType") != "SearchParameter":
            continue
        for base in _bases(definition):
            row: list[Any] = [definition["type"]]
            if definition["type"] == "reference":
                row.append(base_targets(definition, base, element_targets))
            result.setdefault(base, {})[definition["code"]] = row
    return result


def render(version: str, source: Mapping[str, str], table: Mapping[str, Mapping[str, list[Any]]]) -> str:
    """The table as committed: provenance first, then one resource type per line (small, readable diffs)."""
    origin = source.get("package") or f"{source['repository']}@{source['commit']}"
    header = {"fhirVersion": source["fhir_version"], "generatedBy": "devtools/search_parameters/generate.py",
              "source": f"{origin} {source['path'].rsplit('/', 1)[-1]}", "licence": source["licence"]}
    lines = [f"{json.dumps(resource_type)}:{json.dumps(table[resource_type], sort_keys=True, separators=(',', ':'))}"
             for resource_type in sorted(table)]
    return ("{\n" + "".join(f"{json.dumps(k)}:{json.dumps(v)},\n" for k, v in header.items())
            + '"parameters":{\n' + ",\n".join(lines) + "\n}}\n")


def generate(versions: Iterable[str] | None = None) -> dict[str, str]:
    """Version name -> the rendered table, from the inputs named in sources.toml."""
    listed = sources()
    out = {}
    for version in versions or listed:
        source = listed[version]
        out[version] = render(version, source, tables(*read_inputs(version, source)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.search_parameters", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed tables, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for version, text in generate().items():
        target = OUTPUT / f"{version.lower()}.json"
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target.relative_to(ROOT)))
        else:
            target.write_text(text, encoding="utf-8")
            print(f"{target.relative_to(ROOT)}: {len(text):,} characters")
    for name in stale:
        print(f"{name} differs from what its inputs generate", file=sys.stderr)
    return 1 if stale else 0
