"""Records of :mod:`devtools.demo_provider.data` as FHIR resources of one version.

Shapes follow what the Patients app reads (reference doc §2.2 DSTU2, §3.2 STU3)
and the base specifications (DSTU2 1.0.2, STU3 3.0.1, R4 4.0.1):
- DSTU2: ``Patient.name.family`` is a list, ``careProvider``; AllergyIntolerance
  uses ``substance`` and ``status``; MedicationOrder with ``dateWritten`` and
  ``prescriber``; Condition ``dateRecorded``; Coverage ``issuer``/``plan``.
- STU3: ``generalPractitioner``; ``clinicalStatus``/``verificationStatus`` are
  code strings; MedicationRequest ``requester.agent``; Coverage ``grouping``.
- R4: ``clinicalStatus``/``verificationStatus`` are CodeableConcepts; terminology
  URLs under terminology.hl7.org; MedicationRequest ``requester`` is a Reference.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from devtools.demo_provider import data as d

Resource = dict[str, Any]
VERSIONS = ("DSTU2", "STU3", "R4")

_V2_0203 = {"DSTU2": "http://hl7.org/fhir/v2/0203", "STU3": "http://hl7.org/fhir/v2/0203",
            "R4": "http://terminology.hl7.org/CodeSystem/v2-0203"}
_OBS_CATEGORY = {"DSTU2": "http://hl7.org/fhir/observation-category",
                 "STU3": "http://hl7.org/fhir/observation-category",
                 "R4": "http://terminology.hl7.org/CodeSystem/observation-category"}
_ACT_CODE = {"DSTU2": "http://hl7.org/fhir/v3/ActCode", "STU3": "http://hl7.org/fhir/v3/ActCode",
             "R4": "http://terminology.hl7.org/CodeSystem/v3-ActCode"}
_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}
_XHTML = '<div xmlns="http://www.w3.org/1999/xhtml">{}</div>'


def instant(value: datetime) -> str:
    """An ISO 8601 / FHIR dateTime with seconds and an explicit UTC offset."""
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def day(value: date) -> str:
    return value.isoformat()


def _concept(code: d.Code, text: str | None = None) -> Resource:
    return {"coding": [{"system": code.system, "code": code.code, "display": code.display}],
            "text": text or code.display}


def _narrative(text: str) -> Resource:
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"status": "generated", "div": _XHTML.format(safe)}


def _ref(kind: str, ident: str, display: str | None = None) -> Resource:
    ref: Resource = {"reference": f"{kind}/{ident}"}
    if display:
        ref["display"] = display
    return ref


def patient(v: str, p: d.PatientRecord) -> Resource:
    mr = {"system": _V2_0203[v], "code": "MR", "display": "Medical record number"}
    name: Resource = {"use": "official", "family": [p.family] if v == "DSTU2" else p.family,
                      "given": list(p.given), "prefix": [p.prefix]}
    resource: Resource = {
        "resourceType": "Patient", "id": p.id,
        "text": _narrative(f"{p.prefix} {' '.join(p.given)} {p.family}"),
        "identifier": [{"use": "official" if v == "DSTU2" else "usual",
                        "type": {"coding": [mr], "text": "Medical record number"},
                        "system": d.MRN_SYSTEM, "value": p.mrn}],
        "active": True,
        "name": [name],
        "telecom": [{"system": "phone", "value": p.phone, "use": "home"}],
        "gender": p.gender,
        "birthDate": day(p.birth_date),
        "address": [{"use": "home", "city": p.city, "state": "WA", "country": "US"}],
    }
    resource["careProvider" if v == "DSTU2" else "generalPractitioner"] = [{"display": p.practitioner}]
    return resource


def location(v: str, loc: d.LocationRecord) -> Resource:
    return {"resourceType": "Location", "id": loc.id, "status": "active", "name": loc.name, "mode": "instance",
            "type": [_concept(loc.kind)] if v == "R4" else {"text": loc.kind.display}}


def encounter(v: str, e: d.EncounterRecord, locations: dict[str, d.LocationRecord]) -> Resource:
    period: Resource = {"start": instant(e.start)}
    if e.end:
        period["end"] = instant(e.end)
    resource: Resource = {"resourceType": "Encounter", "id": e.id,
                          "identifier": [{"use": "official", "value": e.id}], "status": e.status}
    if v == "DSTU2":
        resource["class"] = "inpatient" if e.location_id == "loc-ward3" else "outpatient"
    else:
        code = ("IMP", "inpatient encounter") if e.location_id == "loc-ward3" else ("AMB", "ambulatory")
        resource["class"] = {"system": _ACT_CODE[v], "code": code[0], "display": code[1]}
    resource["type"] = [_concept(e.type)]
    resource["patient" if v == "DSTU2" else "subject"] = _ref("Patient", e.patient_id)
    resource["participant"] = [{"individual": {"display": e.practitioner}}]
    resource["period"] = period
    resource["location"] = [{"location": _ref("Location", e.location_id, locations[e.location_id].name)}]
    return resource


def _quantity(value: float, unit: str, ucum: str) -> Resource:
    return {"value": value, "unit": unit, "system": d.UCUM, "code": ucum}


def observation(v: str, o: d.ObservationRecord) -> Resource:
    category = {"coding": [{"system": _OBS_CATEGORY[v], "code": o.category,
                            "display": _CATEGORY_DISPLAY[o.category]}]}
    resource: Resource = {
        "resourceType": "Observation", "id": o.id, "status": "final",
        "category": category if v == "DSTU2" else [category],
        "code": _concept(o.code),
        "subject": _ref("Patient", o.patient_id),
    }
    if o.encounter_id:
        resource["context" if v == "STU3" else "encounter"] = _ref("Encounter", o.encounter_id)
    resource["effectiveDateTime"] = instant(o.effective)
    if o.value is not None:
        resource["valueQuantity"] = _quantity(o.value, o.unit, o.ucum)
    if o.components:
        resource["component"] = [{"code": _concept(c.code), "valueQuantity": _quantity(c.value, c.unit, c.ucum)}
                                 for c in o.components]
    return resource


def condition(v: str, c: d.ConditionRecord) -> Resource:
    status = "active" if c.active else "resolved"
    resource: Resource = {"resourceType": "Condition", "id": c.id}
    if v == "DSTU2":
        resource.update({
            "patient": _ref("Patient", c.patient_id), "code": _concept(c.code),
            "category": {"coding": [{"system": "http://hl7.org/fhir/condition-category", "code": "diagnosis",
                                     "display": "Diagnosis"}]},
            "clinicalStatus": status, "verificationStatus": "confirmed", "severity": _concept(c.severity),
            "onsetDateTime": day(c.onset), "dateRecorded": day(c.recorded)})
    elif v == "STU3":
        resource.update({
            "clinicalStatus": status, "verificationStatus": "confirmed",
            "category": [{"coding": [{"system": "http://hl7.org/fhir/condition-category",
                                      "code": "problem-list-item", "display": "Problem List Item"}]}],
            "severity": _concept(c.severity), "code": _concept(c.code), "subject": _ref("Patient", c.patient_id),
            "onsetDateTime": day(c.onset), "assertedDate": day(c.recorded)})
    else:
        resource.update({
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": status}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                      "code": "problem-list-item", "display": "Problem List Item"}]}],
            "severity": _concept(c.severity), "code": _concept(c.code), "subject": _ref("Patient", c.patient_id),
            "onsetDateTime": day(c.onset), "recordedDate": day(c.recorded)})
    return resource


def allergy(v: str, a: d.AllergyRecord) -> Resource:
    substance = _concept(a.substance)
    reaction: Resource = {"substance": _concept(a.substance), "manifestation": [_concept(a.manifestation)],
                          "severity": a.reaction_severity}
    resource: Resource = {"resourceType": "AllergyIntolerance", "id": a.id,
                          "text": _narrative(f"{a.substance.display}: {a.manifestation.display}")}
    if v == "DSTU2":
        resource.update({
            "recordedDate": instant(a.recorded), "patient": _ref("Patient", a.patient_id), "substance": substance,
            "status": "confirmed", "criticality": "CRITH" if a.criticality == "high" else "CRITL",
            "type": "allergy", "category": "medication" if a.category == "medication" else
            "food" if a.category == "food" else "environment",
            "note": {"text": a.note}, "reaction": [reaction]})
    elif v == "STU3":
        resource.update({
            "clinicalStatus": "active", "verificationStatus": "confirmed", "type": "allergy",
            "category": [a.category], "criticality": a.criticality, "code": substance,
            "patient": _ref("Patient", a.patient_id), "assertedDate": instant(a.recorded),
            "note": [{"text": a.note}], "reaction": [reaction]})
    else:
        resource.update({
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "code": "confirmed"}]},
            "type": "allergy", "category": [a.category], "criticality": a.criticality, "code": substance,
            "patient": _ref("Patient", a.patient_id), "recordedDate": instant(a.recorded),
            "note": [{"text": a.note}], "reaction": [reaction]})
    return resource


def medication(v: str, m: d.MedicationRecord) -> Resource:
    status = "completed" if m.ended else "active"
    text = _narrative(f"{m.medication.display}: {m.dosage}")
    concept = _concept(m.medication)
    dosage = [{"text": m.dosage}]
    if v == "DSTU2":
        resource: Resource = {
            "resourceType": "MedicationOrder", "id": m.id, "text": text, "dateWritten": day(m.written),
            "status": status, "patient": _ref("Patient", m.patient_id), "prescriber": {"display": m.prescriber},
            "medicationCodeableConcept": concept, "dosageInstruction": dosage}
        if m.ended:
            resource["dateEnded"] = day(m.ended)
        return resource
    resource = {"resourceType": "MedicationRequest", "id": m.id, "text": text, "status": status, "intent": "order",
                "medicationCodeableConcept": concept, "subject": _ref("Patient", m.patient_id),
                "authoredOn": day(m.written),
                "requester": {"agent": {"display": m.prescriber}} if v == "STU3" else {"display": m.prescriber},
                "dosageInstruction": dosage}
    if m.ended:
        resource["dispenseRequest"] = {"validityPeriod": {"start": day(m.written), "end": day(m.ended)}}
    return resource


def coverage(v: str, c: d.CoverageRecord) -> Resource:
    period = {"start": day(c.start), "end": day(c.end)}
    beneficiary = _ref("Patient", c.patient_id)
    if v == "DSTU2":  # DSTU2 Coverage has no payor: the insurer is ``issuer``.
        return {"resourceType": "Coverage", "id": c.id, "issuer": {"display": c.payor}, "period": period,
                "subscriberId": {"value": c.subscriber_id}, "group": c.group, "plan": c.plan,
                "subscriber": beneficiary}
    resource: Resource = {"resourceType": "Coverage", "id": c.id, "status": "active"}
    if v == "STU3":
        resource.update({"subscriber": beneficiary, "subscriberId": c.subscriber_id, "beneficiary": beneficiary,
                         "relationship": {"coding": [{"system": "http://hl7.org/fhir/policyholder-relationship",
                                                      "code": "self"}]},
                         "period": period, "payor": [{"display": c.payor}],
                         "grouping": {"group": c.group, "groupDisplay": c.payor, "plan": c.plan,
                                      "planDisplay": c.plan}})
    else:
        resource.update({"subscriber": beneficiary, "subscriberId": c.subscriber_id, "beneficiary": beneficiary,
                         "relationship": {"coding": [{
                             "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                             "code": "self"}]},
                         "period": period, "payor": [{"display": c.payor}],
                         "class": [
                             {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                                   "code": "group"}]}, "value": c.group, "name": c.payor},
                             {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                                   "code": "plan"}]}, "value": c.plan, "name": c.plan}]})
    return resource


def medication_type(v: str) -> str:
    """MedicationOrder in DSTU2, MedicationRequest from STU3 on."""
    return "MedicationOrder" if v == "DSTU2" else "MedicationRequest"


def render_all(v: str, data: d.DataSet) -> list[Resource]:
    """Every resource of ``data`` in version ``v``, in a stable order."""
    locations = {loc.id: loc for loc in data.locations}
    out: list[Resource] = []
    groups: tuple[tuple[list[Any], Callable[[Any], Resource]], ...] = (
        (data.patients, lambda r: patient(v, r)),
        (data.locations, lambda r: location(v, r)),
        (data.encounters, lambda r: encounter(v, r, locations)),
        (data.observations, lambda r: observation(v, r)),
        (data.conditions, lambda r: condition(v, r)),
        (data.allergies, lambda r: allergy(v, r)),
        (data.medications, lambda r: medication(v, r)),
        (data.coverages, lambda r: coverage(v, r)),
    )
    for records, build in groups:
        out.extend(build(record) for record in records)
    return out
