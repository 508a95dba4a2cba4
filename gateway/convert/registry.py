"""Which module converts which resource type, loaded on first use (cold starts pay only for what they convert)."""

from __future__ import annotations

import importlib
from typing import Any

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter, converter
from gateway.convert.errors import ConversionError, MalformedResource, UnsupportedResource, UnsupportedVersionPair
from gateway.convert.structure import ResourceMap, ResourcePlan, resource_plan

# R4 resource type -> module under gateway.convert.resources.
MODULES = {
    "Patient": "patient", "Practitioner": "practitioner", "Organization": "organization", "Location": "location",
    "Observation": "observation", "Condition": "condition", "AllergyIntolerance": "allergy_intolerance",
    "Encounter": "encounter", "MedicationRequest": "medication_request", "Medication": "medication",
    "Coverage": "coverage", "OperationOutcome": "operation_outcome", "Bundle": "bundle",
    "CapabilityStatement": "capability",
}
# Names a resource type has in one older version where it differs from R4's (and R4 names it lacks there).
OLDER_NAMES = {"DSTU2": {"MedicationOrder": "MedicationRequest", "Conformance": "CapabilityStatement"}}
ABSENT = {"DSTU2": frozenset({"MedicationRequest", "CapabilityStatement"}), "STU3": frozenset()}
BRIDGED = frozenset({"DSTU2", "STU3"})
_MAPS: dict[str, ResourceMap] = {}
_BY_SOURCE_TYPE: dict[Converter, dict[str, ResourcePlan]] = {}  # per direction: source type -> its plan


def r4_type(resource_type: str, version: str) -> str | None:
    """The R4 type of ``resource_type`` as ``version`` names it, or None when it is not bridged there."""
    if version != "R4" and resource_type in ABSENT.get(version, frozenset()):
        return None
    name = OLDER_NAMES.get(version, {}).get(resource_type, resource_type)
    return name if name in MODULES else None


def type_in(version: str, r4_name: str) -> str:
    """What ``version`` calls the R4 type ``r4_name`` (``MedicationOrder`` in DSTU2)."""
    for older, r4 in OLDER_NAMES.get(version, {}).items():
        if r4 == r4_name:
            return older
    return r4_name


def resource_map(r4_name: str) -> ResourceMap:
    found = _MAPS.get(r4_name)
    if found is None:
        module = importlib.import_module(f"gateway.convert.resources.{MODULES[r4_name]}")
        found = _MAPS[r4_name] = module.MAP
    return found


def convert_resource_by(resource: JSON, conv: Converter) -> JSON:
    """``resource`` (of ``conv.source``) in ``conv.target``; contained resources too."""
    resource_type = resource.get("resourceType")
    plans = _BY_SOURCE_TYPE.get(conv)
    if plans is None:
        plans = _BY_SOURCE_TYPE[conv] = {}
    plan = plans.get(resource_type) if isinstance(resource_type, str) else None
    if plan is None:
        name = r4_type(resource_type, conv.source) if isinstance(resource_type, str) else None
        if name is None:
            raise UnsupportedResource(str(resource_type or "(none)"), conv.source, conv.target)
        plan = plans[str(resource_type)] = resource_plan(resource_map(name), conv)
    try:
        converted = plan.convert(resource)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        if isinstance(exc, ConversionError):
            raise  # an entry's own error, already typed
        # Malformed JSON where a map's function reads it. Its message may quote the document: not kept.
        raise MalformedResource(str(resource_type), conv.source, conv.target) from None
    contained = resource.get("contained")
    if isinstance(contained, list) and contained:
        kept = [_contained(item, conv) for item in contained]
        if any(item is not None for item in kept):
            converted["contained"] = [item for item in kept if item is not None]
    return converted


def _contained(item: Any, conv: Converter) -> JSON | None:
    if not isinstance(item, dict):
        return None
    try:
        return convert_resource_by(item, conv)
    except (UnsupportedResource, MalformedResource):
        return None  # a contained resource of another type (or unreadable) has no place in the target


def pair(source: str, target: str) -> Converter:
    """The converter between two versions: R4 and DSTU2 or STU3, either way."""
    if source == target or "R4" not in (source, target) or (source if target == "R4" else target) not in BRIDGED:
        raise UnsupportedVersionPair(source, target)
    return converter(source, target)
