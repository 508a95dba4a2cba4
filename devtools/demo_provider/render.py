"""Records of :mod:`devtools.demo_provider.data` as FHIR resources of one version.

Shapes follow what the Patients app reads (reference doc §2.2 DSTU2, §3.2 STU3)
and the base specifications (DSTU2 1.0.2, STU3 3.0.1, R4 4.0.1):
- DSTU2: ``Patient.name.family`` is a list, ``careProvider``; AllergyIntolerance
  uses ``substance`` and ``status``; MedicationOrder with ``dateWritten`` and
  ``prescriber``; Condition ``dateRecorded``; Coverage ``issuer``/``plan``.
- STU3: ``generalPractitioner``; ``clinicalStatus``/``verificationStatus`` are
  code strings; MedicationRequest ``requester.agent``; Coverage ``grouping``.
- R4: what US certified EHRs serve, HL7 US Core 7.0.0 (:mod:`devtools.demo_provider.us_core`):
  profiles, race and ethnicity, CodeableConcept statuses, Practitioner,
  Organization and Medication resources referenced by id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devtools.demo_provider import data as d
from devtools.demo_provider import us_core
from devtools.demo_provider.shapes import Resource, concept, day, instant, narrative, quantity, reference

VERSIONS = ("DSTU2", "STU3", "R4")
# The older versions' code systems (R4 moved them under terminology.hl7.org).
V2_0203 = "http://hl7.org/fhir/v2/0203"
OBSERVATION_CATEGORY = "http://hl7.org/fhir/observation-category"
ACT_CODE = "http://hl7.org/fhir/v3/ActCode"
CONDITION_CATEGORY = "http://hl7.org/fhir/condition-category"
_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}


def patient(v: str, p: d.PatientRecord) -> Resource:
    if v == "R4":
        return us_core.patient(p)
    mr = {"system": V2_0203, "code": "MR", "display": "Medical record number"}
    name: Resource = {"use": "official", "family": [p.family] if v == "DSTU2" else p.family,
                      "given": list(p.given), "prefix": [p.prefix]}
    resource: Resource = {
        "resourceType": "Patient", "id": p.id,
        "text": narrative(f"{p.prefix} {' '.join(p.given)} {p.family}"),
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
    if v == "R4":
        return us_core.location(loc)
    return {"resourceType": "Location", "id": loc.id, "status": "active", "name": loc.name, "mode": "instance",
            "type": {"text": loc.kind.display}}


def encounter(v: str, e: d.EncounterRecord, locations: dict[str, d.LocationRecord]) -> Resource:
    if v == "R4":
        return us_core.encounter(e, locations)
    period: Resource = {"start": instant(e.start)}
    if e.end:
        period["end"] = instant(e.end)
    resource: Resource = {"resourceType": "Encounter", "id": e.id,
                          "identifier": [{"use": "official", "value": e.id}], "status": e.status}
    if v == "DSTU2":
        resource["class"] = "inpatient" if e.location_id == "loc-ward3" else "outpatient"
    else:
        code = ("IMP", "inpatient encounter") if e.location_id == "loc-ward3" else ("AMB", "ambulatory")
        resource["class"] = {"system": ACT_CODE, "code": code[0], "display": code[1]}
    resource["type"] = [concept(e.type)]
    resource["patient" if v == "DSTU2" else "subject"] = reference("Patient", e.patient_id)
    resource["participant"] = [{"individual": {"display": e.practitioner}}]
    resource["period"] = period
    resource["location"] = [{"location": reference("Location", e.location_id, locations[e.location_id].name)}]
    return resource


def observation(v: str, o: d.ObservationRecord) -> Resource:
    if v == "R4":
        return us_core.observation(o)
    category = {"coding": [{"system": OBSERVATION_CATEGORY, "code": o.category,
                            "display": _CATEGORY_DISPLAY[o.category]}]}
    resource: Resource = {
        "resourceType": "Observation", "id": o.id, "status": "final",
        "category": category if v == "DSTU2" else [category],
        "code": concept(o.code),
        "subject": reference("Patient", o.patient_id),
    }
    if o.encounter_id:
        resource["context" if v == "STU3" else "encounter"] = reference("Encounter", o.encounter_id)
    resource["effectiveDateTime"] = instant(o.effective)
    if o.value is not None:
        resource["valueQuantity"] = quantity(o.value, o.unit, o.ucum)
    if o.components:
        resource["component"] = [{"code": concept(c.code), "valueQuantity": quantity(c.value, c.unit, c.ucum)}
                                 for c in o.components]
    return resource


def condition(v: str, c: d.ConditionRecord) -> Resource:
    if v == "R4":
        return us_core.condition(c)
    status = "active" if c.active else "resolved"
    resource: Resource = {"resourceType": "Condition", "id": c.id}
    if v == "DSTU2":
        resource.update({
            "patient": reference("Patient", c.patient_id), "code": concept(c.code),
            "category": {"coding": [{"system": CONDITION_CATEGORY, "code": "diagnosis", "display": "Diagnosis"}]},
            "clinicalStatus": status, "verificationStatus": "confirmed", "severity": concept(c.severity),
            "onsetDateTime": day(c.onset), "dateRecorded": day(c.recorded)})
    else:
        resource.update({
            "clinicalStatus": status, "verificationStatus": "confirmed",
            "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "problem-list-item",
                                      "display": "Problem List Item"}]}],
            "severity": concept(c.severity), "code": concept(c.code), "subject": reference("Patient", c.patient_id),
            "onsetDateTime": day(c.onset), "assertedDate": day(c.recorded)})
    return resource


def allergy(v: str, a: d.AllergyRecord) -> Resource:
    if v == "R4":
        return us_core.allergy(a)
    substance = concept(a.substance)
    reaction: Resource = {"substance": concept(a.substance), "manifestation": [concept(a.manifestation)],
                          "severity": a.reaction_severity}
    resource: Resource = {"resourceType": "AllergyIntolerance", "id": a.id,
                          "text": narrative(f"{a.substance.display}: {a.manifestation.display}")}
    if v == "DSTU2":
        resource.update({
            "recordedDate": instant(a.recorded), "patient": reference("Patient", a.patient_id), "substance": substance,
            "status": "confirmed", "criticality": "CRITH" if a.criticality == "high" else "CRITL",
            "type": "allergy", "category": "medication" if a.category == "medication" else
            "food" if a.category == "food" else "environment",
            "note": {"text": a.note}, "reaction": [reaction]})
    else:
        resource.update({
            "clinicalStatus": "active", "verificationStatus": "confirmed", "type": "allergy",
            "category": [a.category], "criticality": a.criticality, "code": substance,
            "patient": reference("Patient", a.patient_id), "assertedDate": instant(a.recorded),
            "note": [{"text": a.note}], "reaction": [reaction]})
    return resource


def medication(v: str, m: d.MedicationRecord) -> Resource:
    """The medication order of ``m``: DSTU2 MedicationOrder, STU3/R4 MedicationRequest."""
    if v == "R4":
        return us_core.medication_request(m)
    status = "completed" if m.ended else "active"
    text = narrative(f"{m.medication.display}: {m.dosage}")
    drug = concept(m.medication)
    dosage = [{"text": m.dosage}]
    if v == "DSTU2":
        resource: Resource = {
            "resourceType": "MedicationOrder", "id": m.id, "text": text, "dateWritten": day(m.written),
            "status": status, "patient": reference("Patient", m.patient_id), "prescriber": {"display": m.prescriber},
            "medicationCodeableConcept": drug, "dosageInstruction": dosage}
        if m.ended:
            resource["dateEnded"] = day(m.ended)
        return resource
    resource = {"resourceType": "MedicationRequest", "id": m.id, "text": text, "status": status, "intent": "order",
                "medicationCodeableConcept": drug, "subject": reference("Patient", m.patient_id),
                "authoredOn": day(m.written), "requester": {"agent": {"display": m.prescriber}},
                "dosageInstruction": dosage}
    if m.ended:
        resource["dispenseRequest"] = {"validityPeriod": {"start": day(m.written), "end": day(m.ended)}}
    return resource


def coverage(v: str, c: d.CoverageRecord) -> Resource:
    if v == "R4":
        return us_core.coverage(c)
    period = {"start": day(c.start), "end": day(c.end)}
    beneficiary = reference("Patient", c.patient_id)
    if v == "DSTU2":  # DSTU2 Coverage has no payor: the insurer is ``issuer``.
        return {"resourceType": "Coverage", "id": c.id, "issuer": {"display": c.payor}, "period": period,
                "subscriberId": {"value": c.subscriber_id}, "group": c.group, "plan": c.plan,
                "subscriber": beneficiary}
    return {"resourceType": "Coverage", "id": c.id, "status": "active", "subscriber": beneficiary,
            "subscriberId": c.subscriber_id, "beneficiary": beneficiary,
            "relationship": {"coding": [{"system": "http://hl7.org/fhir/policyholder-relationship", "code": "self"}]},
            "period": period, "payor": [{"display": c.payor}],
            "grouping": {"group": c.group, "groupDisplay": c.payor, "plan": c.plan, "planDisplay": c.plan}}


def medication_type(v: str) -> str:
    """MedicationOrder in DSTU2, MedicationRequest from STU3 on."""
    return "MedicationOrder" if v == "DSTU2" else "MedicationRequest"


def render_all(v: str, data: d.DataSet) -> list[Resource]:
    """Every resource of ``data`` in version ``v``, in a stable order (R4 adds the practitioners,
    organizations and medications its resources reference)."""
    locations = {loc.id: loc for loc in data.locations}
    out: list[Resource] = []
    groups: list[tuple[list[Any], Callable[[Any], Resource]]] = [
        (data.patients, lambda r: patient(v, r)),
        (data.locations, lambda r: location(v, r)),
        (data.encounters, lambda r: encounter(v, r, locations)),
        (data.observations, lambda r: observation(v, r)),
        (data.conditions, lambda r: condition(v, r)),
        (data.allergies, lambda r: allergy(v, r)),
        (data.medications, lambda r: medication(v, r)),
        (data.coverages, lambda r: coverage(v, r)),
    ]
    if v == "R4":
        groups += [(data.practitioners, us_core.practitioner), (data.organizations, us_core.organization),
                   ([code for code, _dosage in d.MEDICATIONS], us_core.medication)]
    for records, build in groups:
        out.extend(build(record) for record in records)
    return out
