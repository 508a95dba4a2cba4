"""Which values keep their JSON from one version to the other: conversion's fast path.

Most of an R4 resource reads the same in STU3 and DSTU2 (a Coding, a Quantity, a Period...). Converting
such a value element by element only to rebuild the same JSON is most of conversion's cost, so
:class:`Unchanged` answers, per datatype, "would this value come out as it went in?" with one cheap test
(its keys are a subset of the elements both versions share, recursively; no extension, no ``_`` sibling, no
element the target lacks; nothing a :mod:`.datatypes` special function would change). When it does, the
value is shared with the source, not copied (the proxy parses every body afresh); when in doubt the test
says no and :class:`~gateway.convert.datatypes.Converter` converts the value in full.

A test is worked out once per datatype and direction, from the same :data:`~.datatype_tables.COMPLEX` rows the
full conversion reads; ``tests/unit/convert/test_unchanged.py`` checks that whatever passes it converts to
itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.convert.datatype_tables import (
    COMPLEX,
    DSTU2_CONTACT_SYSTEMS,
    IDENTIFIER_USES_BEFORE_R4,
    PRIMITIVES,
    QUANTITY_PROFILES,
    VALUE_TYPES,
)

Check = Callable[[Any], bool]
Extra = Callable[[Mapping[str, Any]], bool]

# Types the full conversion always rewrites (or drops) in one older version at least.
_ALWAYS_CHANGED = frozenset({"Money", "Dosage", "Signature"})
_SIBLING_KEYS = frozenset({"id", "extension"})


def _reference_unchanged(value: Mapping[str, Any]) -> bool:
    """No MedicationRequest/MedicationOrder in the reference (DSTU2 renames it; see ``reference_string``)."""
    reference = value.get("reference")
    return type(reference) is not str or "Medication" not in reference or (
        "MedicationRequest/" not in reference and "MedicationOrder/" not in reference)


def _family_is_a_string(value: Mapping[str, Any]) -> bool:
    return isinstance(value.get("family", ""), str)


def _known_identifier_use(value: Mapping[str, Any]) -> bool:
    use = value.get("use", "usual")
    return type(use) is str and use in IDENTIFIER_USES_BEFORE_R4


def _dstu2_contact_system(value: Mapping[str, Any]) -> bool:
    system = value.get("system", "other")
    return type(system) is str and system in DSTU2_CONTACT_SYSTEMS


def _extras(older: str, up: bool) -> dict[str, Extra]:
    """What the special datatype functions change beyond missing elements, as tests that a value stays."""
    found: dict[str, Extra] = {"Reference": _reference_unchanged}
    if older == "STU3":
        found["HumanName"] = _family_is_a_string
    if not up:
        found["Identifier"] = _known_identifier_use
        if older == "DSTU2":
            found["ContactPoint"] = _dstu2_contact_system
    return found


class Unchanged:
    """The per-datatype tests of one direction: R4 to ``older`` (``up`` False) or back."""

    def __init__(self, older: str, up: bool) -> None:
        self.older, self.up = older, up
        self._extras = _extras(older, up)
        self._checks: dict[str, Check | None] = {}
        self._flat: dict[str, frozenset[str]] = {}
        """Types whose test is their keys alone (Coding, Period, Quantity...): tested in place by their parent."""

    def check(self, kind: str) -> Check | None:
        """The test for values of ``kind`` (None: such a value always changes, or ``kind`` is not complex)."""
        if kind in self._checks:
            return self._checks[kind]
        self._checks[kind] = None  # while it is built: a type that contains itself is not shared below itself
        built = self._extension() if kind == "Extension" else self._complex(kind)
        self._checks[kind] = built
        return built

    def _complex(self, kind: str) -> Check | None:
        row = COMPLEX.get("Quantity" if kind in QUANTITY_PROFILES else kind)
        if row is None or kind in _ALWAYS_CHANGED or (kind == "TimingRepeat" and self.older == "DSTU2"):
            return None
        keys = {"id"}
        nested: list[tuple[str, frozenset[str] | None, Check]] = []
        for name, (element_type, versions) in row.items():
            if self.older not in versions or "R4" not in versions:
                continue  # dropped on the way, or never valid in the source
            if kind == "HumanName" and name == "family" and self.older == "DSTU2":
                continue  # a list in DSTU2
            if element_type in PRIMITIVES:
                keys.add(name)
                continue
            check = self.check(element_type)
            if check is not None:
                keys.add(name)
                nested.append((name, self._flat.get(element_type), check))
        extra = self._extras.get(kind)
        if not nested and extra is None:
            self._flat[kind] = frozenset(keys)
        return _shape_check(frozenset(keys), tuple(nested), extra)

    def _extension(self) -> Check:
        """An Extension whose value's type the target has under the same name, and nested ones likewise."""
        values: dict[str, Check | None] = {}
        for kind in VALUE_TYPES[self.older]:
            key = "value" + kind[0].upper() + kind[1:]
            if kind in PRIMITIVES:
                values[key] = None  # (a ``_value...`` sibling takes the full conversion)
            else:
                check = self.check(kind)
                if check is not None:
                    values[key] = check

        def extension(value: Any) -> bool:
            if type(value) is not dict or "url" not in value:
                return False
            for key, item in value.items():
                if key == "url" or key == "id":
                    continue
                if key == "extension":
                    if not self.extensions(item):
                        return False
                    continue
                if key not in values:
                    return False
                check = values[key]
                if check is not None and not check(item):
                    return False
            return True

        return extension

    def extensions(self, value: Any) -> bool:
        """A non-empty list of unchanged extensions (an empty one is left out by the full conversion)."""
        check = self.check("Extension")
        return type(value) is list and bool(value) and check is not None and all(map(check, value))

    def primitive_element(self, value: Any) -> bool:
        """A primitive's ``_name`` sibling: null, or an id and/or unchanged extensions."""
        if type(value) is list:
            return all(map(self.primitive_element, value))
        if type(value) is not dict:
            return True
        return bool(value) and _SIBLING_KEYS.issuperset(value) and (
            "extension" not in value or self.extensions(value["extension"]))


def _keys_check(keys: frozenset[str]) -> Check:
    def flat(value: Any) -> bool:
        return type(value) is dict and keys.issuperset(value)
    return flat


def _shape_check(keys: frozenset[str], nested: tuple[tuple[str, frozenset[str] | None, Check], ...],
                 extra: Extra | None) -> Check:
    """A dict whose keys are all in ``keys`` (``issuperset`` walks a dict's keys without copying them), whose
    complex elements pass their tests (those of keys only, given as their key set, in place), and ``extra``."""
    if not nested and extra is None:
        return _keys_check(keys)

    def unchanged(value: Any) -> bool:
        if type(value) is not dict or not keys.issuperset(value):
            return False
        for name, child_keys, check in nested:
            item = value.get(name)
            if item is None:
                continue
            if child_keys is not None:
                for child in item if type(item) is list else (item,):
                    if type(child) is not dict or not child_keys.issuperset(child):
                        return False
            elif type(item) is list:
                if not all(map(check, item)):
                    return False
            elif not check(item):
                return False
        return extra is None or extra(value)

    return unchanged
