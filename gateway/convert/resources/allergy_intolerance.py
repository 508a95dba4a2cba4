"""AllergyIntolerance (R4 §9.1) <-> STU3 (r3maps AllergyIntolerance.map; HAPI ``AllergyIntolerance30_40``)
and DSTU2 (HAPI ``AllergyIntolerance10_40``).

- ``clinicalStatus`` / ``verificationStatus``: CodeableConcepts in R4, codes in STU3 (which requires
  ``verificationStatus``: ``unconfirmed`` when R4 has none). DSTU2 has one ``status`` for both: the
  verification status when it is ``refuted`` or ``entered-in-error``, else the clinical status
  (``active``, ``inactive``, ``resolved``), else the verification status (``unconfirmed``, ``confirmed``).
- ``recordedDate`` is STU3 ``assertedDate`` (DSTU2 keeps ``recordedDate``); R4 ``encounter`` has no older place.
- DSTU2: ``code`` is ``substance`` (required: a text-only concept when R4 has none), ``asserter`` is
  ``reporter``, ``lastOccurrence`` is ``lastOccurence`` (sic), one ``category`` (``biologic`` is
  ``other``), one ``note`` (also per reaction), ``onset`` a dateTime, ``criticality`` ``CRITL``,
  ``CRITH``, ``CRITU``.
"""

from __future__ import annotations

from gateway.convert.codes import code_in, concept, systems
from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

CLINICAL = systems("allergyintolerance-clinical")
VERIFICATION = systems("allergyintolerance-verification")
_ONSET = ("dateTime", "Age", "Period", "Range", "string")

ELEMENTS: Elements = {
    "identifier": "Identifier*", "clinicalStatus": "CodeableConcept", "verificationStatus": "CodeableConcept",
    "type": "code", "category": "code*", "criticality": "code", "code": "CodeableConcept", "patient": "Reference",
    "encounter": "Reference", "onset": _ONSET, "recordedDate": "dateTime", "recorder": "Reference",
    "asserter": "Reference", "lastOccurrence": "dateTime", "note": "Annotation*",
    "reaction": Backbone({"substance": "CodeableConcept", "manifestation": "CodeableConcept*",
                          "description": "string", "onset": "dateTime", "severity": "code",
                          "exposureRoute": "CodeableConcept", "note": "Annotation*"}),
}
_STATUS = frozenset({"clinicalStatus", "verificationStatus"})
_CLINICAL = {"active": "active", "inactive": "inactive", "resolved": "resolved"}
_VERIFICATION = {"unconfirmed": "unconfirmed", "confirmed": "confirmed", "refuted": "refuted",
                 "entered-in-error": "entered-in-error", "presumed": "unconfirmed"}


def _down_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    clinical = code_in(src.get("clinicalStatus"), CLINICAL, _CLINICAL)
    if clinical:
        tgt["clinicalStatus"] = clinical
    tgt["verificationStatus"] = code_in(src.get("verificationStatus"), VERIFICATION, _VERIFICATION) or "unconfirmed"


def _up_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    if src.get("clinicalStatus") in _CLINICAL:
        tgt["clinicalStatus"] = concept(CLINICAL[0], src["clinicalStatus"])
    if src.get("verificationStatus") in _VERIFICATION:
        tgt["verificationStatus"] = concept(VERIFICATION[0], src["verificationStatus"])


_CRITICALITY_DOWN = {"low": "CRITL", "high": "CRITH", "unable-to-assess": "CRITU"}
_CRITICALITY_UP = {v: k for k, v in _CRITICALITY_DOWN.items()}
_DSTU2_CATEGORIES = frozenset({"food", "medication", "environment", "other"})


def _down_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    clinical = code_in(src.get("clinicalStatus"), CLINICAL, _CLINICAL)
    verification = code_in(src.get("verificationStatus"), VERIFICATION, _VERIFICATION)
    status = verification if verification in ("refuted", "entered-in-error") else clinical or verification
    if status:
        tgt["status"] = status
    if "substance" not in tgt:
        tgt["substance"] = {"text": "Unknown substance"}  # 1..1 in DSTU2
    if "criticality" in tgt:
        critical = _CRITICALITY_DOWN.get(tgt.pop("criticality"))
        if critical:
            tgt["criticality"] = critical
    if "category" in tgt and tgt["category"] not in _DSTU2_CATEGORIES:
        tgt["category"] = "other"
    if isinstance(src.get("onsetDateTime"), str):
        tgt["onset"] = src["onsetDateTime"]  # DSTU2 onset is a dateTime, not a choice


def _up_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    status = src.get("status")
    if status in ("active", "inactive", "resolved"):
        tgt["clinicalStatus"] = concept(CLINICAL[0], status)
    if status in ("unconfirmed", "confirmed", "refuted", "entered-in-error"):
        tgt["verificationStatus"] = concept(VERIFICATION[0], status)
    if "criticality" in tgt:
        critical = _CRITICALITY_UP.get(tgt.pop("criticality"))
        if critical:
            tgt["criticality"] = critical
    if tgt.get("category") == ["other"]:
        del tgt["category"]
    if isinstance(src.get("onset"), str):
        tgt["onsetDateTime"] = src["onset"]


MAP = ResourceMap("AllergyIntolerance", ELEMENTS, {
    "STU3": Older(renamed={"recordedDate": "assertedDate"}, missing=frozenset({"encounter"}),
                  handled=_STATUS, down=_down_stu3, up=_up_stu3),
    "DSTU2": Older(
        renamed={"code": "substance", "asserter": "reporter", "lastOccurrence": "lastOccurence"},
        missing=frozenset({"encounter"}), single=frozenset({"category", "note", "reaction.note"}),
        handled=frozenset({*_STATUS, "onset"}), older_only=frozenset({"status", "onset", "reaction.certainty"}),
        down=_down_dstu2, up=_up_dstu2),
})
