"""Datatypes between R4 and DSTU2/STU3 (R4 §2.24 "Data Types"; HAPI ``datatypes30_40``, ``datatypes10_40``).

Each complex datatype is one row of :data:`COMPLEX`: its elements and their types. R4-only
elements carry the versions they exist in; an element the target version lacks is dropped
(``Reference.type``, ``Meta.source``, DSTU2's ``Reference.identifier``). What differs beyond a
missing element is done by a small function of its own:

- ``HumanName.family``: a string from STU3 on, a list in DSTU2 (joined with a space on the way up).
- ``ContactPoint.system``: DSTU2 has no ``url`` and ``sms`` (both become ``other``).
- ``Identifier.use``: ``old`` is R4-only (left out below R4).
- ``Timing.repeat``: DSTU2 writes ``durationUnits``/``periodUnits`` and one ``when``; it has no
  ``countMax``, ``dayOfWeek``, ``timeOfDay`` or ``offset``.
- ``Money``: R4 ``{value, currency}``, a Quantity in STU3 and DSTU2 (``system`` urn:iso:std:iso:4217).
- ``Extension`` values of a type the target lacks: ``url``/``canonical``/``uuid`` become ``uri``,
  the Quantity profiles (Age, Count, Distance, Duration, Money) ``Quantity`` in DSTU2; others are dropped.
- References to ``MedicationRequest`` read ``MedicationOrder`` in DSTU2 (ids are kept).

Every element's ``extension`` (and a backbone's ``modifierExtension``) is converted on the way, and
a primitive's ``_name`` sibling goes with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from gateway.convert.datatype_tables import (
    COMPLEX,
    DSTU2_CONTACT_SYSTEMS,
    IDENTIFIER_USES_BEFORE_R4,
    JSON,
    PRIMITIVES,
    QUANTITY_PROFILES,
    R4_ONLY_PRIMITIVES,
    VALUE_TYPES,
    Row,
)
from gateway.convert.unchanged import Unchanged

_MEDICATION_REFERENCE = re.compile(r"(^|/)(MedicationRequest|MedicationOrder)/")
ISO_4217 = "urn:iso:std:iso:4217"


def choice_type(key: str, stem: str) -> str | None:
    """The type of a choice element's JSON key (``valueQuantity`` of ``value`` is ``Quantity``), or None."""
    if not key.startswith(stem) or len(key) == len(stem):
        return None
    rest = key[len(stem):]
    if not rest[0].isupper():
        return None
    return rest if rest in COMPLEX or rest in QUANTITY_PROFILES or rest in ("Money",) or rest in _OTHER_TYPES \
        else rest[0].lower() + rest[1:]


_OTHER_TYPES = frozenset({"Signature", "Dosage", "Expression", "ContactDetail", "Contributor", "DataRequirement",
                          "ParameterDefinition", "RelatedArtifact", "TriggerDefinition", "UsageContext"})


def choice_key(stem: str, type_name: str) -> str:
    """The JSON key of a choice element of ``type_name`` (``value`` + ``dateTime`` is ``valueDateTime``)."""
    return stem + type_name[0].upper() + type_name[1:]


def value_type_in(version: str, type_name: str, allowed: frozenset[str] | None = None) -> str | None:
    """The type ``type_name`` becomes in ``version`` among ``allowed`` (Extension value types when None)."""
    allowed = VALUE_TYPES.get(version) if allowed is None else allowed
    if allowed is None or type_name in allowed:
        return type_name
    candidates = [R4_ONLY_PRIMITIVES.get(type_name)]
    if type_name in QUANTITY_PROFILES or type_name == "Money":
        candidates += ["Quantity", "SimpleQuantity"]
    return next((c for c in candidates if c is not None and c in allowed), None)


class Converter:
    """Datatype conversion between R4 and one older version, in one direction.

    :meth:`converter_of` gives the function a plan (:mod:`.structure`) calls for each value of a type: it
    shares the value when :class:`~gateway.convert.unchanged.Unchanged` proves its JSON the same in both
    versions, and converts it in full otherwise.
    """

    def __init__(self, source: str, target: str) -> None:
        self.source, self.target = source, target
        self.older = target if source == "R4" else source
        self.up = target == "R4"
        self.unchanged = Unchanged(self.older, self.up)
        self._converters: dict[str, Callable[[Any], Any] | None] = {}
        self._special: dict[str, Callable[[Any], Any]] = {
            "HumanName": self._human_name, "ContactPoint": self._contact_point, "Identifier": self._identifier,
            "Reference": self._reference, "Money": self._money_up if self.up else self._money,
            "TimingRepeat": self._timing_repeat, "Extension": self.extension, "Dosage": self._dosage,
            "Signature": self._unsupported,
        }

    # -- elements and extensions ------------------------------------------------------------------------------
    def element_base(self, src: Mapping[str, Any], tgt: JSON, *, backbone: bool = False) -> None:
        """Copy an element's ``id`` and ``extension`` (and ``modifierExtension`` of a backbone element)."""
        if "id" in src:
            tgt["id"] = src["id"]
        for key in ("extension", "modifierExtension") if backbone else ("extension",):
            if key in src:
                items = self.extensions(src[key])
                if items:
                    tgt[key] = items

    def extensions(self, items: Any) -> list[JSON] | None:
        """A list of Extensions in the target's types (the list itself when none changes); None when none is left."""
        if self.unchanged.extensions(items):
            return cast(list[JSON], items)
        if not isinstance(items, list):
            return None
        kept = [e for e in map(self.extension, items) if e is not None]
        return kept or None

    def extension(self, src: Any) -> JSON | None:
        """An Extension with its value in a type the target has (or None when it has none)."""
        if not isinstance(src, dict) or "url" not in src:
            return None
        tgt: JSON = {}
        self.element_base(src, tgt)
        tgt["url"] = src["url"]
        for key, value in src.items():
            kind = choice_type(key, "value")
            if kind is None:
                continue
            new = value_type_in(self.target, kind) if not self.up else kind
            if new is None:
                return None if "extension" not in tgt else tgt
            tgt[choice_key("value", new)] = self.value(kind, value)
            self.primitive_extension(src, key, tgt, choice_key("value", new))
        return tgt

    def primitive_extension(self, src: Mapping[str, Any], key: str, tgt: JSON, new_key: str) -> None:
        """Carry the ``_key`` sibling of a primitive (its id and extensions) as ``_new_key``."""
        sibling = src.get("_" + key)
        if sibling is not None:
            tgt["_" + new_key] = self.primitive_element(sibling)

    def primitive_element(self, sibling: Any) -> Any:
        """A primitive's ``_name`` sibling (or a list of them, null for a value without one) in the target."""
        if self.unchanged.primitive_element(sibling):
            return sibling
        if isinstance(sibling, list):
            return [self._primitive_element(s) for s in sibling]
        return self._primitive_element(sibling)

    def _primitive_element(self, src: Any) -> Any:
        if not isinstance(src, dict):
            return src
        out: JSON = {}
        self.element_base(src, out)
        return out or None

    # -- values -------------------------------------------------------------------------------------------------
    def value(self, kind: str, value: Any) -> Any:
        """``value`` of type ``kind`` (or a list of such values) in the target version."""
        convert = self.converter_of(kind)
        return value if convert is None else convert(value)

    def converter_of(self, kind: str) -> Callable[[Any], Any] | None:
        """The function converting a value of ``kind``, or a list of them; None when every such JSON stays."""
        if kind not in self._converters:
            self._converters[kind] = self._build_converter(kind)
        return self._converters[kind]

    def _build_converter(self, kind: str) -> Callable[[Any], Any] | None:
        if kind in PRIMITIVES or not (kind in COMPLEX or kind in QUANTITY_PROFILES or kind in self._special):
            return None
        full = self.convert_in_full
        unchanged = self.unchanged.check(kind)
        if unchanged is None:
            def convert(value: Any) -> Any:
                return [full(kind, v) for v in value] if type(value) is list else full(kind, value)
            return convert

        def convert_shared(value: Any) -> Any:
            if type(value) is list:
                if all(map(unchanged, value)):
                    return value
                return [v if unchanged(v) else full(kind, v) for v in value]
            return value if unchanged(value) else full(kind, value)
        return convert_shared

    def convert_in_full(self, kind: str, value: Any) -> Any:
        """One ``value`` of ``kind`` converted element by element (its special function or its row), even when
        :attr:`unchanged` would share it."""
        if not isinstance(value, dict):
            return None if kind in ("Extension", "Signature") else value
        special = self._special.get(kind)
        if special is not None:
            return special(value)
        return self.complex(COMPLEX["Quantity" if kind in QUANTITY_PROFILES else kind], value)

    def complex(self, row: Row, src: Mapping[str, Any]) -> JSON:
        """A complex value by its row: elements of the target version, converted, in the source's order."""
        tgt: JSON = {}
        self.element_base(src, tgt)
        for key, item in src.items():
            spec = row.get(key)
            if spec is None or self.target not in spec[1]:
                continue
            tgt[key] = self.value(spec[0], item)
            self.primitive_extension(src, key, tgt, key)
        return tgt

    # -- datatypes that differ beyond missing elements -----------------------------------------------------------
    def _human_name(self, src: Mapping[str, Any]) -> JSON:
        tgt = self.complex({k: v for k, v in COMPLEX["HumanName"].items() if k != "family"}, src)
        family = src.get("family")
        if family is not None:
            if self.target == "DSTU2":
                tgt["family"] = [family] if isinstance(family, str) else family
            elif isinstance(family, list):
                tgt["family"] = " ".join(str(part) for part in family)
            else:
                tgt["family"] = family
        return _ordered(tgt, src)

    def _contact_point(self, src: Mapping[str, Any]) -> JSON:
        tgt = self.complex(COMPLEX["ContactPoint"], src)
        if self.target == "DSTU2" and "system" in tgt and not _one_of(tgt["system"], DSTU2_CONTACT_SYSTEMS):
            tgt["system"] = "other"
        return tgt

    def _identifier(self, src: Mapping[str, Any]) -> JSON:
        tgt = self.complex(COMPLEX["Identifier"], src)
        if not self.up and "use" in tgt and not _one_of(tgt["use"], IDENTIFIER_USES_BEFORE_R4):
            del tgt["use"]
        return tgt

    def _reference(self, src: Mapping[str, Any]) -> JSON:
        tgt = self.complex(COMPLEX["Reference"], src)
        reference = tgt.get("reference")
        if isinstance(reference, str):
            tgt["reference"] = self.reference_string(reference)
        return tgt

    def reference_string(self, reference: str) -> str:
        """A reference (relative or absolute) naming MedicationOrder in DSTU2, MedicationRequest after it."""
        if "Medication" not in reference:
            return reference
        name = "MedicationOrder" if self.target == "DSTU2" else "MedicationRequest"
        return _MEDICATION_REFERENCE.sub(lambda m: f"{m.group(1)}{name}/", reference, count=1)

    def _money(self, src: Mapping[str, Any]) -> JSON:
        tgt: JSON = {}
        self.element_base(src, tgt)
        if "value" in src:
            tgt["value"] = src["value"]
        if "currency" in src:
            tgt.update({"system": ISO_4217, "code": src["currency"]})
        return tgt

    def _money_up(self, src: Mapping[str, Any]) -> JSON:
        tgt: JSON = {}
        self.element_base(src, tgt)
        if "value" in src:
            tgt["value"] = src["value"]
        if src.get("system") == ISO_4217 and "code" in src:
            tgt["currency"] = src["code"]
        return tgt

    def _timing_repeat(self, src: Mapping[str, Any]) -> JSON:
        if self.older != "DSTU2":
            return self.complex(COMPLEX["TimingRepeat"], src)
        if self.up:
            renamed = {_DSTU2_REPEAT.get(k, k): v for k, v in src.items()}
            renamed.pop("when", None)
            tgt = self.complex(COMPLEX["TimingRepeat"], renamed)
            if "when" in src:
                tgt["when"] = [src["when"]]
            return tgt
        tgt = self.complex(COMPLEX["TimingRepeat"], src)
        for r4_name, dstu2_name in _R4_REPEAT.items():
            if r4_name in src:
                tgt[dstu2_name] = src[r4_name]
        when = src.get("when")
        if isinstance(when, list) and when:
            tgt["when"] = when[0]
        return tgt

    def _unsupported(self, src: Any) -> None:
        return None

    def _dosage(self, src: Mapping[str, Any]) -> JSON:
        """R4 Dosage <-> STU3 Dosage / DSTU2 ``MedicationOrder.dosageInstruction`` (HAPI ``Dosage30_40``,
        ``MedicationOrder10_40``): R4's first ``doseAndRate`` is the older ``dose[x]`` and ``rate[x]``;
        DSTU2 has one ``additionalInstructions`` and ``site[x]``."""
        tgt: JSON = {}
        self.element_base(src, tgt, backbone=True)
        allowed = _DOSAGE_ELEMENTS[self.target]
        for key, value in src.items():
            name, kind = _dosage_element(key)
            if kind is None or name not in allowed or (name == "site" and kind != "CodeableConcept"):
                continue
            if name == "additionalInstruction":
                items = [self.value(kind, v) for v in (value if isinstance(value, list) else [value])]
                if items and self.target == "DSTU2":
                    tgt["additionalInstructions"] = items[0]
                elif items:
                    tgt["additionalInstruction"] = items
                continue
            if name == "site":
                tgt["siteCodeableConcept" if self.target == "DSTU2" else "site"] = self.value(kind, value)
                continue
            out_key = choice_key(name, kind) if name == "asNeeded" else name
            tgt[out_key] = self.value(kind, value) if kind else value
            self.primitive_extension(src, key, tgt, out_key)
        self._dose_and_rate(src, tgt)
        return tgt

    def _dose_and_rate(self, src: Mapping[str, Any], tgt: JSON) -> None:
        if self.up:
            pair = {k: self.value(choice_type(k, s) or "", v) for s in ("dose", "rate") for k, v in src.items()
                    if choice_type(k, s) is not None}
            if pair:
                tgt["doseAndRate"] = [pair]
            return
        first = (src.get("doseAndRate") or [{}])[0]
        rates = ("Ratio", "Range") if self.older == "DSTU2" else ("Ratio", "Range", "Quantity")
        for stem, allowed in (("dose", ("Range", "Quantity")), ("rate", rates)):
            for key, value in first.items():
                kind = choice_type(key, stem)
                if kind is not None and kind in allowed:
                    tgt[key] = self.value(kind, value)


# Dosage elements per version (DSTU2: MedicationOrder.dosageInstruction), with their R4 names.
_DOSAGE_R4 = {"sequence": "", "text": "", "additionalInstruction": "CodeableConcept", "patientInstruction": "",
              "timing": "Timing", "site": "CodeableConcept", "route": "CodeableConcept", "method": "CodeableConcept",
              "maxDosePerPeriod": "Ratio", "maxDosePerAdministration": "Quantity", "maxDosePerLifetime": "Quantity"}
_DOSAGE_ELEMENTS = {
    "R4": frozenset({*_DOSAGE_R4, "asNeeded"}),
    "STU3": frozenset({*_DOSAGE_R4, "asNeeded"}),
    "DSTU2": frozenset({"text", "additionalInstruction", "timing", "asNeeded", "site", "route", "method",
                        "maxDosePerPeriod"}),
}


def _dosage_element(key: str) -> tuple[str, str | None]:
    """(R4 element name, type) of a Dosage JSON key of any version; type "" for a primitive, None to skip."""
    if key == "additionalInstructions":
        return "additionalInstruction", "CodeableConcept"
    for stem in ("asNeeded", "site", "dose", "rate"):
        kind = choice_type(key, stem)
        if kind is not None:
            return stem, kind
    return key, _DOSAGE_R4.get(key)


_R4_REPEAT = {"durationUnit": "durationUnits", "periodUnit": "periodUnits"}
_DSTU2_REPEAT = {v: k for k, v in _R4_REPEAT.items()}


def _one_of(code: Any, codes: frozenset[str]) -> bool:
    return isinstance(code, str) and code in codes


def _ordered(tgt: JSON, src: Mapping[str, Any]) -> JSON:
    """``tgt`` with its keys in the order of ``src`` (extensions first), for readable output."""
    order = {key: n for n, key in enumerate(src)}
    return dict(sorted(tgt.items(), key=lambda item: order.get(item[0], -1)))


_CONVERTERS: dict[tuple[str, str], Converter] = {}


def converter(source: str, target: str) -> Converter:
    """The (shared, stateless) converter of one direction."""
    found = _CONVERTERS.get((source, target))
    if found is None:
        found = _CONVERTERS[(source, target)] = Converter(source, target)
    return found
