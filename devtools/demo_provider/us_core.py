"""The R4 base's resources, shaped like what US certified EHRs serve: HL7 US Core 7.0.0.

Modelled on US Core's own examples (``tests/fixtures/r4_examples/us_core``, CC0): each resource names its
US Core profile in ``meta.profile``; Patients carry the race, ethnicity and birth sex extensions; vital signs
have their LOINC codes, UCUM units and per-sign profiles (blood pressure as a panel with systolic and
diastolic components, pulse oximetry with both of its codes); labs a reference range and an interpretation;
Conditions and AllergyIntolerances CodeableConcept statuses; Encounters a class Coding, a participant and
locations referenced with their display; MedicationRequests a structured dosage and either a coded drug or a
reference to a Medication resource; Coverage its payer (an Organization), member identifier and group and
plan classes. Practitioners, Organizations and Medications are resources of their own, referenced by id
with a display (what the Patients app shows).

Race and ethnicity are not in the version-neutral records: they are derived from the patient's id, so
they stay the same from run to run.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

from devtools.demo_provider import data as d
from devtools.demo_provider.shapes import Resource, concept, day, instant, narrative, quantity, reference

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
OMB = "urn:oid:2.16.840.1.113883.6.238"
NPI = "http://hl7.org/fhir/sid/us-npi"
NAIC = "urn:oid:2.16.840.1.113883.6.300"
HOSPITAL_SYSTEM = "http://hospital.example.org"

RACES = (("2106-3", "White"), ("2054-5", "Black or African American"), ("2028-9", "Asian"),
         ("1002-5", "American Indian or Alaska Native"), ("2076-8", "Native Hawaiian or Other Pacific Islander"))
ETHNICITIES = (("2186-5", "Not Hispanic or Latino"), ("2135-2", "Hispanic or Latino"))
POSTAL_CODES = {"Seattle": "98101", "Redmond": "98052", "Bellevue": "98004", "Tacoma": "98402", "Everett": "98201",
                "Olympia": "98501"}
PAYER_STATES = {"Hartford": "CT", "Chicago": "IL", "Boston": "MA", "Baltimore": "MD"}

# LOINC code of a vital sign -> its US Core profile.
VITAL_PROFILES = {"8867-4": "us-core-heart-rate", "9279-1": "us-core-respiratory-rate",
                  "8310-5": "us-core-body-temperature", "59408-5": "us-core-pulse-oximetry",
                  "29463-7": "us-core-body-weight", "8302-2": "us-core-body-height",
                  "85354-9": "us-core-blood-pressure"}
PULSE_OXIMETRY = d.Code(d.LOINC, "2708-6", "Oxygen saturation in Arterial blood")
# LOINC code of a lab -> (low, high) of its reference range.
LAB_RANGES = {"2339-0": (70, 99), "4548-4": (4.0, 5.6)}
ORAL = d.Code(d.SNOMED, "26643006", "Oral route")
INHALED = d.Code(d.SNOMED, "447694001", "Respiratory tract route")


class Dosage(NamedTuple):
    """A structured dosage: ``dose`` ``unit`` (a UCUM annotation) ``frequency`` times per ``period``."""

    dose: int
    unit: str
    frequency: int
    period: int
    period_unit: str
    route: d.Code = ORAL
    when: str | None = None
    as_needed: bool = False


TABLET, PUFF = "{tablet}", "{puff}"
# RxNorm code of each drug in data.MEDICATIONS -> the dosage its text says.
DOSAGES = {
    "314077": Dosage(1, TABLET, 1, 1, "d"),
    "860975": Dosage(1, TABLET, 2, 1, "d"),
    "259255": Dosage(1, TABLET, 1, 1, "d", when="HS"),
    "197361": Dosage(1, TABLET, 1, 1, "d"),
    "745679": Dosage(2, PUFF, 1, 4, "h", route=INHALED, as_needed=True),
    "313782": Dosage(2, TABLET, 1, 6, "h", as_needed=True),
    "855332": Dosage(1, TABLET, 1, 1, "d"),
}


def _meta(profile: str) -> Resource:
    return {"profile": [US_CORE + profile]}


def _coding(system: str, code: str, display: str) -> Resource:
    return {"system": system, "code": code, "display": display}


def _status(system: str, code: str) -> Resource:
    """A status CodeableConcept of an R4 terminology code system (condition-clinical ...)."""
    display = code.replace("-", " ").capitalize()
    return {"coding": [_coding(TERMINOLOGY + system, code, display)], "text": display}


def _pick(ident: str, options: tuple[tuple[str, str], ...], salt: str) -> tuple[str, str]:
    return options[zlib.crc32(f"{salt}:{ident}".encode()) % len(options)]


def _omb(url: str, code: str, display: str) -> Resource:
    """US Core race or ethnicity: an OMB category and its text (both required)."""
    return {"url": US_CORE + url, "extension": [{"url": "ombCategory", "valueCoding": _coding(OMB, code, display)},
                                                {"url": "text", "valueString": display}]}


def practitioner_reference(name: str) -> Resource:
    """A reference to the Practitioner of that name (display only when the demo data has none by that name)."""
    found = d.PRACTITIONER_BY_NAME.get(name)
    return reference("Practitioner", found.id, name) if found else {"display": name}


def _organization_reference(organization: d.OrganizationRecord) -> Resource:
    return reference("Organization", organization.id, organization.name)


def patient(p: d.PatientRecord) -> Resource:
    race, ethnicity = _pick(p.id, RACES, "race"), _pick(p.id, ETHNICITIES, "ethnicity")
    address: Resource = {"use": "home", "line": [f"{100 + zlib.crc32(p.id.encode()) % 900} Pine Street"],
                         "city": p.city, "state": "WA", "country": "US"}
    if p.city in POSTAL_CODES:
        address["postalCode"] = POSTAL_CODES[p.city]
    return {
        "resourceType": "Patient", "id": p.id, "meta": _meta("us-core-patient"),
        "text": narrative(f"{p.prefix} {' '.join(p.given)} {p.family}"),
        "extension": [_omb("us-core-race", *race), _omb("us-core-ethnicity", *ethnicity),
                      {"url": US_CORE + "us-core-birthsex", "valueCode": "F" if p.gender == "female" else "M"}],
        "identifier": [{"use": "usual", "type": {"coding": [_coding(TERMINOLOGY + "v2-0203", "MR",
                                                                    "Medical record number")],
                                                 "text": "Medical record number"},
                        "system": d.MRN_SYSTEM, "value": p.mrn}],
        "active": True,
        "name": [{"use": "official", "family": p.family, "given": list(p.given), "prefix": [p.prefix]}],
        "telecom": [{"system": "phone", "value": p.phone, "use": "home"}],
        "gender": p.gender,
        "birthDate": day(p.birth_date),
        "address": [address],
        "communication": [{"language": {"coding": [_coding("urn:ietf:bcp:47", "en-US", "English (United States)")],
                                        "text": "English"}, "preferred": True}],
        "generalPractitioner": [practitioner_reference(p.practitioner)],
        "managingOrganization": _organization_reference(d.HOSPITAL),
    }


def practitioner(p: d.PractitionerRecord) -> Resource:
    return {
        "resourceType": "Practitioner", "id": p.id, "meta": _meta("us-core-practitioner"),
        "identifier": [{"system": NPI, "value": p.npi}], "active": True,
        "name": [{"use": "official", "family": p.family, "given": [p.given], "prefix": ["Dr"]}],
        "telecom": [{"system": "phone", "value": "+1 555 0199", "use": "work"}],
        "address": [_hospital_address("work")],
    }


def _hospital_address(use: str | None = None) -> Resource:
    address: Resource = {"line": ["1 Hospital Way"], "city": d.HOSPITAL.city, "state": "WA",
                         "postalCode": POSTAL_CODES[d.HOSPITAL.city], "country": "US"}
    return {"use": use, **address} if use else address


def organization(o: d.OrganizationRecord) -> Resource:
    payer = o.kind == "pay"
    address = {"city": o.city, "state": PAYER_STATES[o.city], "country": "US"} if payer else _hospital_address()
    return {
        "resourceType": "Organization", "id": o.id, "meta": _meta("us-core-organization"),
        "identifier": [{"system": NAIC if payer else NPI, "value": o.identifier}], "active": True,
        "type": [{"coding": [_coding(TERMINOLOGY + "organization-type", o.kind,
                                     "Payer" if payer else "Healthcare Provider")]}],
        "name": o.name, "telecom": [{"system": "phone", "value": "+1 555 0100" if payer else "+1 555 0199"}],
        "address": [address],
    }


def location(loc: d.LocationRecord) -> Resource:
    return {
        "resourceType": "Location", "id": loc.id, "meta": _meta("us-core-location"), "status": "active",
        "name": loc.name, "mode": "instance", "type": [concept(loc.kind)],
        "telecom": [{"system": "phone", "value": "+1 555 0199"}], "address": _hospital_address(),
        "managingOrganization": _organization_reference(d.HOSPITAL),
    }


def encounter(e: d.EncounterRecord, locations: dict[str, d.LocationRecord]) -> Resource:
    period: Resource = {"start": instant(e.start)}
    if e.end:
        period["end"] = instant(e.end)
    inpatient = e.location_id == "loc-ward3"
    kind = ("IMP", "inpatient encounter") if inpatient else ("AMB", "ambulatory")
    return {
        "resourceType": "Encounter", "id": e.id, "meta": _meta("us-core-encounter"),
        "identifier": [{"use": "official", "system": f"{HOSPITAL_SYSTEM}/encounter", "value": e.id}],
        "status": e.status,
        "class": _coding(TERMINOLOGY + "v3-ActCode", *kind),
        "type": [concept(e.type)],
        "subject": reference("Patient", e.patient_id),
        "participant": [{"type": [{"coding": [_coding(TERMINOLOGY + "v3-ParticipationType", "ATND", "attender")],
                                   "text": "attender"}],
                         "individual": practitioner_reference(e.practitioner)}],
        "period": period,
        "location": [{"location": reference("Location", e.location_id, locations[e.location_id].name)}],
        "serviceProvider": _organization_reference(d.HOSPITAL),
    }


def observation(o: d.ObservationRecord) -> Resource:
    category = "Vital Signs" if o.category == "vital-signs" else "Laboratory"
    profile = VITAL_PROFILES.get(o.code.code, "us-core-vital-signs") if o.category == "vital-signs" else \
        "us-core-observation-lab"
    code = concept(o.code)
    if o.code.code == "59408-5":  # US Core pulse oximetry: both codes
        code["coding"].append(_coding(PULSE_OXIMETRY.system, PULSE_OXIMETRY.code, PULSE_OXIMETRY.display))
    resource: Resource = {
        "resourceType": "Observation", "id": o.id, "meta": _meta(profile), "status": "final",
        "category": [{"coding": [_coding(TERMINOLOGY + "observation-category", o.category, category)],
                      "text": category}],
        "code": code, "subject": reference("Patient", o.patient_id),
    }
    if o.encounter_id:
        resource["encounter"] = reference("Encounter", o.encounter_id)
    resource["effectiveDateTime"] = instant(o.effective)
    if o.value is not None:
        resource["valueQuantity"] = quantity(o.value, o.unit, o.ucum)
        if o.code.code in LAB_RANGES:
            resource.update(_lab_range(o.value, o.unit, o.ucum, *LAB_RANGES[o.code.code]))
    if o.components:
        resource["component"] = [{"code": concept(c.code), "valueQuantity": quantity(c.value, c.unit, c.ucum)}
                                 for c in o.components]
    return resource


def _lab_range(value: float, unit: str, ucum: str, low: float, high: float) -> Resource:
    flag = ("H", "High") if value > high else ("L", "Low") if value < low else ("N", "Normal")
    return {"interpretation": [{"coding": [_coding(TERMINOLOGY + "v3-ObservationInterpretation", *flag)],
                                "text": flag[1]}],
            "referenceRange": [{"low": quantity(low, unit, ucum), "high": quantity(high, unit, ucum)}]}


def condition(c: d.ConditionRecord) -> Resource:
    return {
        "resourceType": "Condition", "id": c.id, "meta": _meta("us-core-condition-problems-health-concerns"),
        "clinicalStatus": _status("condition-clinical", "active" if c.active else "resolved"),
        "verificationStatus": _status("condition-ver-status", "confirmed"),
        "category": [{"coding": [_coding(TERMINOLOGY + "condition-category", "problem-list-item",
                                         "Problem List Item")], "text": "Problem List Item"}],
        "severity": concept(c.severity), "code": concept(c.code), "subject": reference("Patient", c.patient_id),
        "onsetDateTime": day(c.onset), "recordedDate": day(c.recorded),
    }


def allergy(a: d.AllergyRecord) -> Resource:
    return {
        "resourceType": "AllergyIntolerance", "id": a.id, "meta": _meta("us-core-allergyintolerance"),
        "text": narrative(f"{a.substance.display}: {a.manifestation.display}"),
        "clinicalStatus": _status("allergyintolerance-clinical", "active"),
        "verificationStatus": _status("allergyintolerance-verification", "confirmed"),
        "type": "allergy", "category": [a.category], "criticality": a.criticality, "code": concept(a.substance),
        "patient": reference("Patient", a.patient_id), "recordedDate": instant(a.recorded),
        "note": [{"text": a.note}],
        "reaction": [{"substance": concept(a.substance), "manifestation": [concept(a.manifestation)],
                      "severity": a.reaction_severity}],
    }


def medication_id(code: d.Code) -> str:
    return f"rxnorm-{code.code}"


def medication(code: d.Code) -> Resource:
    """A Medication of the formulary (what a referenced MedicationRequest names)."""
    return {"resourceType": "Medication", "id": medication_id(code), "meta": _meta("us-core-medication"),
            "code": concept(code), "status": "active",
            "form": {"text": "Inhaler" if "Inhaler" in code.display else "Tablet"}}


def _dosage(m: d.MedicationRecord) -> Resource:
    dosage: Resource = {"text": m.dosage}
    known = DOSAGES.get(m.medication.code)
    if known is None:
        return dosage
    repeat: Resource = {"frequency": known.frequency, "period": known.period, "periodUnit": known.period_unit}
    if known.when:
        repeat["when"] = [known.when]
    dosage.update({"timing": {"repeat": repeat}, "asNeededBoolean": known.as_needed, "route": concept(known.route),
                   "doseAndRate": [{"doseQuantity": quantity(known.dose, known.unit.strip("{}"), known.unit)}]})
    return dosage


def medication_request(m: d.MedicationRecord) -> Resource:
    resource: Resource = {
        "resourceType": "MedicationRequest", "id": m.id, "meta": _meta("us-core-medicationrequest"),
        "text": narrative(f"{m.medication.display}: {m.dosage}"),
        "status": "completed" if m.ended else "active", "intent": "order",
        "category": [{"coding": [_coding(TERMINOLOGY + "medicationrequest-category", "outpatient", "Outpatient")],
                      "text": "Outpatient"}],
        "reportedBoolean": False,
    }
    if m.referenced:
        resource["medicationReference"] = reference("Medication", medication_id(m.medication), m.medication.display)
    else:
        resource["medicationCodeableConcept"] = concept(m.medication)
    resource.update({"subject": reference("Patient", m.patient_id), "authoredOn": day(m.written),
                     "requester": practitioner_reference(m.prescriber), "dosageInstruction": [_dosage(m)]})
    if m.ended:
        resource["dispenseRequest"] = {"validityPeriod": {"start": day(m.written), "end": day(m.ended)}}
    return resource


def coverage(c: d.CoverageRecord) -> Resource:
    payer = d.ORGANIZATION_BY_NAME.get(c.payor)
    medicare = c.payor == "Medicare"
    kind = ("1", "MEDICARE") if medicare else ("5", "PRIVATE HEALTH INSURANCE")
    beneficiary = reference("Patient", c.patient_id)
    return {
        "resourceType": "Coverage", "id": c.id, "meta": _meta("us-core-coverage"),
        "identifier": [{"type": {"coding": [_coding(TERMINOLOGY + "v2-0203", "MB", "Member Number")]},
                        "system": f"{HOSPITAL_SYSTEM}/coverage-member", "value": c.subscriber_id}],
        "status": "active",
        "type": {"coding": [_coding("https://nahdo.org/sopt", *kind)], "text": kind[1].capitalize()},
        "subscriber": beneficiary, "subscriberId": c.subscriber_id, "beneficiary": beneficiary,
        "relationship": {"coding": [_coding(TERMINOLOGY + "subscriber-relationship", "self", "Self")],
                         "text": "Self"},
        "period": {"start": day(c.start), "end": day(c.end)},
        "payor": [_organization_reference(payer) if payer else {"display": c.payor}],
        "class": [_coverage_class("group", "Group", c.group, c.payor),
                  _coverage_class("plan", "Plan", c.plan, c.plan)],
    }


def _coverage_class(code: str, display: str, value: str, name: str) -> Resource:
    return {"type": {"coding": [_coding(TERMINOLOGY + "coverage-class", code, display)]}, "value": value,
            "name": name}
