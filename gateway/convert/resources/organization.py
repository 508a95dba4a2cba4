"""Organization (R4 §8.3) <-> STU3 (HAPI ``Organization30_40``: the same elements) and DSTU2
(HAPI ``Organization10_40``): DSTU2 has one ``type`` and no ``alias`` or ``endpoint`` (both carried
in cross-version extensions)."""

from __future__ import annotations

from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ELEMENTS: Elements = {
    "identifier": "Identifier*", "active": "boolean", "type": "CodeableConcept*", "name": "string",
    "alias": "string*", "telecom": "ContactPoint*", "address": "Address*", "partOf": "Reference",
    "contact": Backbone({"purpose": "CodeableConcept", "name": "HumanName", "telecom": "ContactPoint*",
                         "address": "Address"}),
    "endpoint": "Reference*",
}

MAP = ResourceMap("Organization", ELEMENTS, {
    "STU3": Older(),
    "DSTU2": Older(single=frozenset({"type"}), missing=frozenset({"alias", "endpoint"})),
})
