"""Patient (R4 §8.1) <-> STU3 (r3maps Patient.map; HAPI ``Patient30_40``) and DSTU2 (HAPI ``Patient10_40``).

- STU3 ``animal`` is R4's ``patient-animal`` extension (as HAPI does); the rest is the same.
- DSTU2 names ``generalPractitioner`` ``careProvider``; its ``link.type`` has ``replace`` for R4's
  ``replaced-by`` and ``replaces``.
"""

from __future__ import annotations

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"
_ANIMAL_PARTS = ("species", "breed", "genderStatus")

ELEMENTS: Elements = {
    "identifier": "Identifier*", "active": "boolean", "name": "HumanName*", "telecom": "ContactPoint*",
    "gender": "code", "birthDate": "date", "deceased": ("boolean", "dateTime"), "address": "Address*",
    "maritalStatus": "CodeableConcept", "multipleBirth": ("boolean", "integer"), "photo": "Attachment*",
    "contact": Backbone({"relationship": "CodeableConcept*", "name": "HumanName", "telecom": "ContactPoint*",
                         "address": "Address", "gender": "code", "organization": "Reference", "period": "Period"}),
    "communication": Backbone({"language": "CodeableConcept", "preferred": "boolean"}),
    "generalPractitioner": "Reference*", "managingOrganization": "Reference",
    "link": Backbone({"other": "Reference", "type": "code"}),
}


def _animal_down(src: JSON, tgt: JSON, conv: Converter) -> None:
    """R4's patient-animal extension becomes the older ``animal`` element."""
    extensions = tgt.get("extension", [])
    animal = next((e for e in extensions if e.get("url") == ANIMAL), None)
    if animal is None:
        return
    parts = {e.get("url"): e.get("valueCodeableConcept") for e in animal.get("extension", ())}
    found = {name: parts[name] for name in _ANIMAL_PARTS if parts.get(name)}
    if "species" in found:
        tgt["animal"] = found
    rest = [e for e in extensions if e is not animal]  # a new list: the source's may be shared
    if rest:
        tgt["extension"] = rest
    else:
        del tgt["extension"]


def _animal_up(src: JSON, tgt: JSON, conv: Converter) -> None:
    animal = src.get("animal")
    if isinstance(animal, dict):
        parts = [{"url": name, "valueCodeableConcept": conv.value("CodeableConcept", animal[name])}
                 for name in _ANIMAL_PARTS if name in animal]
        tgt["extension"] = [*tgt.get("extension", ()), {"url": ANIMAL, "extension": parts}]


_LINK_DOWN = {"replaced-by": "replace", "replaces": "replace"}


def _down_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    _animal_down(src, tgt, conv)
    for link in tgt.get("link", ()):
        if link.get("type") in _LINK_DOWN:
            link["type"] = _LINK_DOWN[link["type"]]


def _up_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    _animal_up(src, tgt, conv)
    for link in tgt.get("link", ()):
        if link.get("type") == "replace":
            link["type"] = "replaced-by"


MAP = ResourceMap("Patient", ELEMENTS, {
    "STU3": Older(older_only=frozenset({"animal"}), down=_animal_down, up=_animal_up),
    "DSTU2": Older(renamed={"generalPractitioner": "careProvider"}, older_only=frozenset({"animal"}),
                   down=_down_dstu2, up=_up_dstu2),
})
