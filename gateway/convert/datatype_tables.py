"""The datatype tables conversion reads (R4 §2.24 "Data Types"): primitives, the complex datatypes' elements
and the versions each element exists in, the value types an Extension may have per version.

Shared by the full conversion (:mod:`.datatypes`) and its fast path (:mod:`.unchanged`), which must agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON = dict[str, Any]

PRIMITIVES = frozenset({
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant", "integer",
    "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid", "xhtml",
})
R4_ONLY_PRIMITIVES = {"canonical": "uri", "url": "uri", "uuid": "uri"}
QUANTITY_PROFILES = frozenset({"Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity"})
ALL = frozenset({"DSTU2", "STU3", "R4"})
_FROM_STU3 = frozenset({"STU3", "R4"})
_R4 = frozenset({"R4"})

# Datatypes an Extension.value[x] (and an open choice) may have per version (STU3: fhir.resources STU3;
# DSTU2: the DSTU2 1.0.2 Extension definition as fhirclient 1.0.6 models it).
_OLDER_COMPLEX = ("Address", "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactPoint", "HumanName",
                  "Identifier", "Meta", "Period", "Quantity", "Range", "Ratio", "Reference", "SampledData",
                  "Signature", "Timing")
VALUE_TYPES: Mapping[str, frozenset[str]] = {
    "DSTU2": frozenset(("boolean", "code", "date", "dateTime", "decimal", "id", "instant", "integer", "markdown",
                        "oid", "positiveInt", "string", "time", "unsignedInt", "uri", *_OLDER_COMPLEX)),
    "STU3": frozenset(("base64Binary", "boolean", "code", "date", "dateTime", "decimal", "id", "instant", "integer",
                       "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "Age", "Count",
                       "Distance", "Duration", "Money", *_OLDER_COMPLEX)),
}

# element -> (type, versions it exists in). Types name a row of this table or a primitive.
Row = Mapping[str, tuple[str, frozenset[str]]]
COMPLEX: Mapping[str, Row] = {
    "Coding": {"system": ("uri", ALL), "version": ("string", ALL), "code": ("code", ALL),
               "display": ("string", ALL), "userSelected": ("boolean", ALL)},
    "CodeableConcept": {"coding": ("Coding", ALL), "text": ("string", ALL)},
    "Identifier": {"use": ("code", ALL), "type": ("CodeableConcept", ALL), "system": ("uri", ALL),
                   "value": ("string", ALL), "period": ("Period", ALL), "assigner": ("Reference", ALL)},
    "Reference": {"reference": ("string", ALL), "type": ("uri", _R4), "identifier": ("Identifier", _FROM_STU3),
                  "display": ("string", ALL)},
    "Period": {"start": ("dateTime", ALL), "end": ("dateTime", ALL)},
    "Quantity": {"value": ("decimal", ALL), "comparator": ("code", ALL), "unit": ("string", ALL),
                 "system": ("uri", ALL), "code": ("code", ALL)},
    "Range": {"low": ("Quantity", ALL), "high": ("Quantity", ALL)},
    "Ratio": {"numerator": ("Quantity", ALL), "denominator": ("Quantity", ALL)},
    "HumanName": {"use": ("code", ALL), "text": ("string", ALL), "family": ("string", ALL),
                  "given": ("string", ALL), "prefix": ("string", ALL), "suffix": ("string", ALL),
                  "period": ("Period", ALL)},
    "Address": {"use": ("code", ALL), "type": ("code", ALL), "text": ("string", ALL), "line": ("string", ALL),
                "city": ("string", ALL), "district": ("string", ALL), "state": ("string", ALL),
                "postalCode": ("string", ALL), "country": ("string", ALL), "period": ("Period", ALL)},
    "ContactPoint": {"system": ("code", ALL), "value": ("string", ALL), "use": ("code", ALL),
                     "rank": ("positiveInt", ALL), "period": ("Period", ALL)},
    "Attachment": {"contentType": ("code", ALL), "language": ("code", ALL), "data": ("base64Binary", ALL),
                   "url": ("uri", ALL), "size": ("unsignedInt", ALL), "hash": ("base64Binary", ALL),
                   "title": ("string", ALL), "creation": ("dateTime", ALL)},
    "Annotation": {"authorReference": ("Reference", ALL), "authorString": ("string", ALL),
                   "time": ("dateTime", ALL), "text": ("markdown", ALL)},
    "Meta": {"versionId": ("id", ALL), "lastUpdated": ("instant", ALL), "source": ("uri", _R4),
             "profile": ("uri", ALL), "security": ("Coding", ALL), "tag": ("Coding", ALL)},
    "Narrative": {"status": ("code", ALL), "div": ("xhtml", ALL)},
    "ContactDetail": {"name": ("string", ALL), "telecom": ("ContactPoint", ALL)},
    "SampledData": {"origin": ("Quantity", ALL), "period": ("decimal", ALL), "factor": ("decimal", ALL),
                    "lowerLimit": ("decimal", ALL), "upperLimit": ("decimal", ALL),
                    "dimensions": ("positiveInt", ALL), "data": ("string", ALL)},
    "Timing": {"event": ("dateTime", ALL), "repeat": ("TimingRepeat", ALL), "code": ("CodeableConcept", ALL)},
    "TimingRepeat": {"boundsDuration": ("Quantity", ALL), "boundsRange": ("Range", ALL),
                     "boundsPeriod": ("Period", ALL), "count": ("positiveInt", ALL),
                     "countMax": ("positiveInt", _FROM_STU3), "duration": ("decimal", ALL),
                     "durationMax": ("decimal", ALL), "durationUnit": ("code", _FROM_STU3),
                     "frequency": ("positiveInt", ALL), "frequencyMax": ("positiveInt", ALL),
                     "period": ("decimal", ALL), "periodMax": ("decimal", ALL), "periodUnit": ("code", _FROM_STU3),
                     "dayOfWeek": ("code", _FROM_STU3), "timeOfDay": ("time", _FROM_STU3),
                     "when": ("code", _FROM_STU3), "offset": ("unsignedInt", _FROM_STU3)},
}
IDENTIFIER_USES_BEFORE_R4 = frozenset({"usual", "official", "temp", "secondary"})
DSTU2_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "other"})
