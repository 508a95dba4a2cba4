"""Practitioner (R4 §8.4) <-> STU3 (HAPI ``Practitioner30_40``: the same elements) and DSTU2
(HAPI ``Practitioner10_40``): DSTU2 has one ``name``; its ``practitionerRole`` has no R4 place here
(R4 moved it to PractitionerRole) and is dropped on the way up."""

from __future__ import annotations

from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ELEMENTS: Elements = {
    "identifier": "Identifier*", "active": "boolean", "name": "HumanName*", "telecom": "ContactPoint*",
    "address": "Address*", "gender": "code", "birthDate": "date", "photo": "Attachment*",
    "qualification": Backbone({"identifier": "Identifier*", "code": "CodeableConcept", "period": "Period",
                               "issuer": "Reference"}),
    "communication": "CodeableConcept*",
}

MAP = ResourceMap("Practitioner", ELEMENTS, {
    "STU3": Older(),
    "DSTU2": Older(single=frozenset({"name"}), older_only=frozenset({"practitionerRole"})),
})
