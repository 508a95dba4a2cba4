"""Coverage (R4 §15.2) <-> STU3 (r3maps Coverage.map; HAPI ``Coverage30_40``) and DSTU2 (no HAPI
converter: mapped element by element from the DSTU2 and R4 definitions).

- STU3: R4 ``class`` (coverage-class ``group``, ``subGroup``, ``plan``, ``subPlan``, ``class``,
  ``subClass``; ``value`` and ``name``) is ``grouping`` (``group`` and ``groupDisplay`` ...); a
  ``sequence`` class is ``sequence``; ``costToBeneficiary`` is dropped, ``subrogation`` an extension.
- DSTU2: the first ``payor`` is ``issuer``; ``type`` is one Coding; ``subscriberId`` and ``network`` are
  Identifiers; ``dependent`` a positiveInt (when R4's string is one); classes ``group``, ``plan`` and
  ``subPlan`` are ``group``, ``plan``, ``subPlan``; ``status``, ``policyHolder``, ``beneficiary``,
  ``relationship``, ``order`` and ``subrogation`` travel in cross-version extensions.
"""

from __future__ import annotations

from typing import Any

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
_CLASS_SYSTEMS = (COVERAGE_CLASS, "http://hl7.org/fhir/coverage-class")

ELEMENTS: Elements = {
    "identifier": "Identifier*", "status": "code", "type": "CodeableConcept", "policyHolder": "Reference",
    "subscriber": "Reference", "subscriberId": "string", "beneficiary": "Reference", "dependent": "string",
    "relationship": "CodeableConcept", "period": "Period", "payor": "Reference*",
    "class": Backbone({"type": "CodeableConcept", "value": "string", "name": "string"}),
    "order": "positiveInt", "network": "string",
    "costToBeneficiary": Backbone({"type": "CodeableConcept", "value": ("Quantity", "Money")}),
    "subrogation": "boolean", "contract": "Reference*",
}
# coverage-class code -> (STU3 grouping value, display); DSTU2 keeps group, plan and subPlan.
_GROUPING = {"group": ("group", "groupDisplay"), "subgroup": ("subGroup", "subGroupDisplay"),
             "plan": ("plan", "planDisplay"), "subplan": ("subPlan", "subPlanDisplay"),
             "class": ("class", "classDisplay"), "subclass": ("subClass", "subClassDisplay")}
_DSTU2_CLASSES = {"group": "group", "plan": "plan", "subplan": "subPlan"}


def _classes(src: JSON) -> list[tuple[str, str | None, str | None]]:
    """(coverage-class code, value, name) of each R4 class with a coverage-class type."""
    found = []
    for item in src.get("class", ()):
        codings: list[Any] = ((item.get("type") or {}).get("coding") or []) if isinstance(item, dict) else []
        coding: Any = next((c for c in codings if isinstance(c, dict)
                            and c.get("system", COVERAGE_CLASS) in _CLASS_SYSTEMS), {})
        code = coding.get("code")
        if isinstance(code, str):
            found.append((code.lower(), item.get("value"), item.get("name")))
    return found


def _down_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    grouping: JSON = {}
    for code, value, name in _classes(src):
        if code == "sequence" and value:
            tgt["sequence"] = value
        elif code in _GROUPING and code not in grouping:
            key, display = _GROUPING[code]
            if value and key not in grouping:
                grouping[key] = value
            if name and display not in grouping:
                grouping[display] = name
    if grouping:
        tgt["grouping"] = grouping


def _class(code: str, value: object, name: object = None) -> JSON:
    item: JSON = {"type": {"coding": [{"system": COVERAGE_CLASS, "code": code}]}, "value": value}
    if isinstance(name, str):
        item["name"] = name
    return item


def _up_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    grouping: Any = src.get("grouping") if isinstance(src.get("grouping"), dict) else {}
    classes = [_class(code, grouping[key], grouping.get(display))
               for code, (key, display) in _GROUPING.items() if isinstance(grouping.get(key), str)]
    if isinstance(src.get("sequence"), str):
        classes.append(_class("sequence", src["sequence"]))
    if classes:
        tgt["class"] = classes


def _down_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    payors = src.get("payor") or []
    if payors:
        tgt["issuer"] = conv.value("Reference", payors[0])
    codings = (src.get("type") or {}).get("coding") or []
    if codings:
        tgt["type"] = conv.value("Coding", codings[0])
    for key in ("subscriberId", "network"):
        if isinstance(src.get(key), str):
            tgt[key] = {"value": src[key]}
    dependent = src.get("dependent")
    if isinstance(dependent, str) and dependent.isdigit() and int(dependent) > 0:
        tgt["dependent"] = int(dependent)
    for code, value, _name in _classes(src):
        if code in _DSTU2_CLASSES and isinstance(value, str) and _DSTU2_CLASSES[code] not in tgt:
            tgt[_DSTU2_CLASSES[code]] = value


def _up_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    if isinstance(src.get("issuer"), dict):
        tgt["payor"] = [conv.value("Reference", src["issuer"])]
    if isinstance(src.get("type"), dict):
        tgt["type"] = {"coding": [conv.value("Coding", src["type"])]}
    for key in ("subscriberId", "network"):
        if isinstance(src.get(key), dict) and isinstance(src[key].get("value"), str):
            tgt[key] = src[key]["value"]
    if isinstance(src.get("dependent"), int):
        tgt["dependent"] = str(src["dependent"])
    classes = [_class(code, src[key]) for code, key in _DSTU2_CLASSES.items() if isinstance(src.get(key), str)]
    if classes:
        tgt["class"] = classes


_HANDLED = frozenset({"class"})
MAP = ResourceMap("Coverage", ELEMENTS, {
    "STU3": Older(missing=frozenset({"costToBeneficiary", "subrogation"}), handled=_HANDLED,
                  older_only=frozenset({"grouping", "sequence"}), down=_down_stu3, up=_up_stu3),
    "DSTU2": Older(
        missing=frozenset({"status", "policyHolder", "beneficiary", "relationship", "order", "costToBeneficiary",
                           "subrogation"}),
        handled=frozenset({"class", "payor", "type", "subscriberId", "network", "dependent"}),
        older_only=frozenset({"issuer", "bin", "type", "subscriberId", "network", "dependent", "group", "plan",
                              "subPlan", "sequence"}),
        down=_down_dstu2, up=_up_dstu2),
})
