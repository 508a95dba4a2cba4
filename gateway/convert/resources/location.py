"""Location (R4 §8.5) <-> STU3 (HAPI ``Location30_40``) and DSTU2 (HAPI ``Location10_40``).

Both older versions have one ``type`` and no ``hoursOfOperation`` or ``availabilityExceptions``;
DSTU2 also lacks ``operationalStatus``, ``alias`` and ``endpoint``.
"""

from __future__ import annotations

from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ELEMENTS: Elements = {
    "identifier": "Identifier*", "status": "code", "operationalStatus": "Coding", "name": "string",
    "alias": "string*", "description": "string", "mode": "code", "type": "CodeableConcept*",
    "telecom": "ContactPoint*", "address": "Address", "physicalType": "CodeableConcept",
    "position": Backbone({"longitude": "decimal", "latitude": "decimal", "altitude": "decimal"}, repeats=False),
    "managingOrganization": "Reference", "partOf": "Reference",
    "hoursOfOperation": Backbone({"daysOfWeek": "code*", "allDay": "boolean", "openingTime": "time",
                                  "closingTime": "time"}),
    "availabilityExceptions": "string", "endpoint": "Reference*",
}

MAP = ResourceMap("Location", ELEMENTS, {
    "STU3": Older(single=frozenset({"type"}), missing=frozenset({"hoursOfOperation", "availabilityExceptions"})),
    "DSTU2": Older(single=frozenset({"type"}), missing=frozenset({
        "hoursOfOperation", "availabilityExceptions", "operationalStatus", "alias", "endpoint"})),
})
