"""Condition (R4 §9.2) <-> STU3 (r3maps Condition.map; HAPI ``Condition30_40``) and DSTU2 (HAPI
``Condition10_40``).

- ``clinicalStatus`` / ``verificationStatus``: CodeableConcepts in R4 (condition-clinical,
  condition-ver-status), codes before. R4 ``relapse`` is STU3 ``recurrence``; R4 ``recurrence`` is DSTU2
  ``relapse``; R4 ``inactive`` has no DSTU2 code (left out); R4 ``unconfirmed`` is ``provisional``.
  DSTU2 requires ``verificationStatus``: ``unknown`` when R4 has none.
- ``recordedDate`` is STU3 ``assertedDate`` and DSTU2 ``dateRecorded`` (a date: the day is kept).
- STU3 names ``encounter`` ``context``; DSTU2 names ``subject`` ``patient`` and has one ``category``,
  one ``evidence.code`` and ``notes`` (the first note's text).
- One ``stage`` before R4 (``stage.type`` carried in an extension on it in STU3, dropped in DSTU2).
"""

from __future__ import annotations

from gateway.convert.codes import code_in, concept, first_text, systems
from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

CLINICAL = systems("condition-clinical")
VERIFICATION = systems("condition-ver-status")
_ONSET = ("dateTime", "Age", "Period", "Range", "string")

ELEMENTS: Elements = {
    "identifier": "Identifier*", "clinicalStatus": "CodeableConcept", "verificationStatus": "CodeableConcept",
    "category": "CodeableConcept*", "severity": "CodeableConcept", "code": "CodeableConcept",
    "bodySite": "CodeableConcept*", "subject": "Reference", "encounter": "Reference", "onset": _ONSET,
    "abatement": (*_ONSET, "boolean"), "recordedDate": "dateTime", "recorder": "Reference", "asserter": "Reference",
    "stage": Backbone({"summary": "CodeableConcept", "assessment": "Reference*", "type": "CodeableConcept"}),
    "evidence": Backbone({"code": "CodeableConcept*", "detail": "Reference*"}),
    "note": "Annotation*",
}
_STATUS_CODES = ("clinicalStatus", "verificationStatus")
_CLINICAL_DOWN = {
    "STU3": {"active": "active", "recurrence": "recurrence", "relapse": "recurrence", "inactive": "inactive",
             "remission": "remission", "resolved": "resolved"},
    "DSTU2": {"active": "active", "recurrence": "relapse", "relapse": "relapse", "remission": "remission",
              "resolved": "resolved"},
}
_CLINICAL_UP = {"active": "active", "recurrence": "recurrence", "relapse": "recurrence", "inactive": "inactive",
                "remission": "remission", "resolved": "resolved"}
_VERIFICATION_DOWN = {"unconfirmed": "provisional", "provisional": "provisional", "differential": "differential",
                      "confirmed": "confirmed", "refuted": "refuted", "entered-in-error": "entered-in-error"}
_VERIFICATION_UP = {code: code for code in _VERIFICATION_DOWN if code != "unconfirmed"}


def _status_down(src: JSON, tgt: JSON, conv: Converter) -> None:
    clinical = code_in(src.get("clinicalStatus"), CLINICAL, _CLINICAL_DOWN[conv.target])
    if clinical:
        tgt["clinicalStatus"] = clinical
    verification = code_in(src.get("verificationStatus"), VERIFICATION, _VERIFICATION_DOWN)
    if verification:
        tgt["verificationStatus"] = verification
    elif conv.target == "DSTU2":
        tgt["verificationStatus"] = "unknown"  # 1..1 in DSTU2


def _status_up(src: JSON, tgt: JSON, conv: Converter) -> None:
    clinical = _CLINICAL_UP.get(src.get("clinicalStatus", ""))
    if clinical:
        tgt["clinicalStatus"] = concept(CLINICAL[0], clinical)
    verification = _VERIFICATION_UP.get(src.get("verificationStatus", ""))
    if verification:
        tgt["verificationStatus"] = concept(VERIFICATION[0], verification)


def _down_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    _status_down(src, tgt, conv)
    recorded = src.get("recordedDate")
    if isinstance(recorded, str):
        tgt["dateRecorded"] = recorded[:10]
    text = first_text(src.get("note"))
    if text is not None:
        tgt["notes"] = text


def _up_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    _status_up(src, tgt, conv)
    if isinstance(src.get("dateRecorded"), str):
        tgt["recordedDate"] = src["dateRecorded"]
    if isinstance(src.get("notes"), str):
        tgt["note"] = [{"text": src["notes"]}]


MAP = ResourceMap("Condition", ELEMENTS, {
    "STU3": Older(
        renamed={"encounter": "context", "recordedDate": "assertedDate"},
        missing=frozenset({"recorder", "stage.type"}), single=frozenset({"stage"}),
        choices={"onset": _ONSET, "abatement": (*_ONSET, "boolean")},
        handled=frozenset(_STATUS_CODES), down=_status_down, up=_status_up),
    "DSTU2": Older(
        renamed={"subject": "patient"},
        missing=frozenset({"recorder", "stage.type"}), single=frozenset({"category", "stage", "evidence.code"}),
        choices={"onset": ("dateTime", "Quantity", "Period", "Range", "string"),
                 "abatement": ("dateTime", "Quantity", "boolean", "Period", "Range", "string")},
        handled=frozenset({*_STATUS_CODES, "recordedDate", "note"}),
        older_only=frozenset({"dateRecorded", "notes"}), down=_down_dstu2, up=_up_dstu2),
})
