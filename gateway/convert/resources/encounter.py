"""Encounter (R4 §11.1) <-> STU3 (r3maps Encounter.map; HAPI ``Encounter30_40``) and DSTU2 (HAPI
``Encounter10_40``).

- STU3: ``reasonCode`` is ``reason``; ``diagnosis.use`` is ``diagnosis.role``; one ``appointment``;
  no ``serviceType``, ``basedOn``, ``reasonReference`` or ``location.physicalType`` (extensions).
- DSTU2: ``subject`` is ``patient``, ``reasonCode`` ``reason``, ``reasonReference`` ``indication``;
  ``class`` is a code (v3 ActCode ``IMP`` inpatient, ``AMB`` ambulatory, ``EMER`` emergency, ``HH`` home,
  ``FLD`` field, ``SS`` daytime, ``VR`` virtual; any other ``other``); ``status`` has no ``triaged``
  (``arrived``), ``entered-in-error`` (``cancelled``) or ``unknown`` (``finished``, DSTU2 requires one);
  no ``diagnosis``, ``classHistory``, ``account``.
"""

from __future__ import annotations

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_ACT_CODES = (ACT_CODE, "http://hl7.org/fhir/v3/ActCode", "http://terminology.hl7.org/v3/ActCode")

ELEMENTS: Elements = {
    "identifier": "Identifier*", "status": "code",
    "statusHistory": Backbone({"status": "code", "period": "Period"}),
    "class": "Coding", "classHistory": Backbone({"class": "Coding", "period": "Period"}),
    "type": "CodeableConcept*", "serviceType": "CodeableConcept", "priority": "CodeableConcept",
    "subject": "Reference", "episodeOfCare": "Reference*", "basedOn": "Reference*",
    "participant": Backbone({"type": "CodeableConcept*", "period": "Period", "individual": "Reference"}),
    "appointment": "Reference*", "period": "Period", "length": "Duration", "reasonCode": "CodeableConcept*",
    "reasonReference": "Reference*",
    "diagnosis": Backbone({"condition": "Reference", "use": "CodeableConcept", "rank": "positiveInt"}),
    "account": "Reference*",
    "hospitalization": Backbone({
        "preAdmissionIdentifier": "Identifier", "origin": "Reference", "admitSource": "CodeableConcept",
        "reAdmission": "CodeableConcept", "dietPreference": "CodeableConcept*",
        "specialCourtesy": "CodeableConcept*", "specialArrangement": "CodeableConcept*", "destination": "Reference",
        "dischargeDisposition": "CodeableConcept"}, repeats=False),
    "location": Backbone({"location": "Reference", "status": "code", "physicalType": "CodeableConcept",
                          "period": "Period"}),
    "serviceProvider": "Reference", "partOf": "Reference",
}
_CLASS_DOWN = {"IMP": "inpatient", "ACUTE": "inpatient", "NONAC": "inpatient", "AMB": "ambulatory",
               "EMER": "emergency", "HH": "home", "FLD": "field", "SS": "daytime", "VR": "virtual"}
_CLASS_UP = {"inpatient": "IMP", "outpatient": "AMB", "ambulatory": "AMB", "emergency": "EMER", "home": "HH",
             "field": "FLD", "daytime": "SS", "virtual": "VR"}
_CLASS_DISPLAY = {"IMP": "inpatient encounter", "AMB": "ambulatory", "EMER": "emergency", "HH": "home health",
                  "FLD": "field", "SS": "short stay", "VR": "virtual"}
_STATUS_DOWN = {"triaged": "arrived", "entered-in-error": "cancelled", "unknown": "finished"}
_DSTU2_STATUSES = frozenset({"planned", "arrived", "in-progress", "onleave", "finished", "cancelled"})


def _status(code: object) -> str | None:
    if not isinstance(code, str):
        return None
    return code if code in _DSTU2_STATUSES else _STATUS_DOWN.get(code)


def _down_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    tgt["status"] = _status(src.get("status")) or "finished"  # 1..1 in DSTU2
    for history in tgt.get("statusHistory", ()):
        history["status"] = _status(history.get("status")) or "finished"
    coding = src.get("class")
    if isinstance(coding, dict) and coding.get("code"):
        known = coding.get("system", ACT_CODE) in _ACT_CODES
        tgt["class"] = _CLASS_DOWN.get(coding["code"], "other") if known else "other"


def _up_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    if isinstance(src.get("status"), str):
        tgt["status"] = src["status"]
    code = _CLASS_UP.get(src.get("class", ""))
    if code is not None:
        tgt["class"] = {"system": ACT_CODE, "code": code, "display": _CLASS_DISPLAY[code]}


MAP = ResourceMap("Encounter", ELEMENTS, {
    "STU3": Older(
        renamed={"reasonCode": "reason", "diagnosis.use": "role"},
        missing=frozenset({"serviceType", "basedOn", "reasonReference", "location.physicalType"}),
        single=frozenset({"appointment"})),
    "DSTU2": Older(
        renamed={"subject": "patient", "reasonCode": "reason", "reasonReference": "indication"},
        missing=frozenset({"serviceType", "basedOn", "diagnosis", "classHistory", "account",
                           "location.physicalType"}),
        single=frozenset({"appointment"}), handled=frozenset({"status", "class"}),
        older_only=frozenset({"class", "incomingReferral", "hospitalization.admittingDiagnosis",
                              "hospitalization.dischargeDiagnosis"}),
        down=_down_dstu2, up=_up_dstu2),
})
