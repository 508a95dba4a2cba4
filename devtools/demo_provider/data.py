"""The demo provider's synthetic clinical data, version-neutral and deterministic.

Everything is generated in code from a seeded RNG (no download, nothing real):
the same seed always yields the same records. Two patients are fixed so that
the Patients app's documented searches find someone: ``demo-patient-1`` (Hugh
Chau, the README walk-through's patient) and ``demo-patient-2`` (Ruth C. Black,
the STU3 doc's example). :mod:`devtools.demo_provider.render` turns these
records into DSTU2, STU3 and R4 resources.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

DEFAULT_SEED = 20190409  # the day the reference traces were checked in
DEFAULT_PATIENTS = 30
DEMO_PATIENT_ID = "demo-patient-1"
# Data "as of" this instant, so that the data set never depends on today's date.
AS_OF = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
MRN_SYSTEM = "http://hospital.example.org/mrn"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str


@dataclass(frozen=True)
class PatientRecord:
    id: str
    mrn: str
    family: str
    given: tuple[str, ...]
    prefix: str
    gender: str
    birth_date: date
    practitioner: str
    phone: str
    city: str


@dataclass(frozen=True)
class LocationRecord:
    id: str
    name: str
    kind: Code


@dataclass(frozen=True)
class EncounterRecord:
    id: str
    patient_id: str
    status: str
    type: Code
    start: datetime
    end: datetime | None
    location_id: str
    practitioner: str


@dataclass(frozen=True)
class Component:
    code: Code
    value: float
    unit: str
    ucum: str


@dataclass(frozen=True)
class ObservationRecord:
    id: str
    patient_id: str
    encounter_id: str | None
    category: str  # vital-signs | laboratory
    code: Code
    effective: datetime
    value: float | None
    unit: str
    ucum: str
    components: tuple[Component, ...] = ()


@dataclass(frozen=True)
class ConditionRecord:
    id: str
    patient_id: str
    code: Code
    severity: Code
    onset: date
    recorded: date
    active: bool


@dataclass(frozen=True)
class AllergyRecord:
    id: str
    patient_id: str
    substance: Code
    category: str  # food | medication | environment
    criticality: str  # low | high
    manifestation: Code
    reaction_severity: str  # mild | moderate | severe
    recorded: datetime
    note: str


@dataclass(frozen=True)
class MedicationRecord:
    id: str
    patient_id: str
    medication: Code
    dosage: str
    written: date
    ended: date | None
    prescriber: str
    referenced: bool = False  # R4: names a Medication resource instead of coding the drug in place


@dataclass(frozen=True)
class CoverageRecord:
    id: str
    patient_id: str
    payor: str
    plan: str
    group: str
    subscriber_id: str
    start: date
    end: date


@dataclass(frozen=True)
class PractitionerRecord:
    id: str
    given: str
    family: str
    npi: str


@dataclass(frozen=True)
class OrganizationRecord:
    id: str
    name: str
    kind: str  # prov (a healthcare provider) | pay (a payer)
    identifier: str  # a provider's NPI, a payer's NAIC company code
    city: str


@dataclass
class DataSet:
    """All records, in generation order (the default order of search results)."""

    patients: list[PatientRecord] = field(default_factory=list)
    locations: list[LocationRecord] = field(default_factory=list)
    encounters: list[EncounterRecord] = field(default_factory=list)
    observations: list[ObservationRecord] = field(default_factory=list)
    conditions: list[ConditionRecord] = field(default_factory=list)
    allergies: list[AllergyRecord] = field(default_factory=list)
    medications: list[MedicationRecord] = field(default_factory=list)
    coverages: list[CoverageRecord] = field(default_factory=list)
    practitioners: list[PractitionerRecord] = field(default_factory=list)
    organizations: list[OrganizationRecord] = field(default_factory=list)


LOCATIONS = (
    LocationRecord("loc-ent", "Clinic - ENT", Code("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "ENT",
                                                     "Otorhinolaryngology clinic")),
    LocationRecord("loc-cardio", "Clinic - Cardiology", Code("http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                                               "CARD", "Cardiac rehabilitation clinic")),
    LocationRecord("loc-family", "Clinic - Family Medicine", Code("http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                                                    "FMC", "Family medicine clinic")),
    LocationRecord("loc-ed", "Emergency Department", Code("http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                                           "ER", "Emergency room")),
    LocationRecord("loc-ward3", "General Medicine - Ward 3", Code("http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                                                   "HU", "Hospital unit")),
)

ENCOUNTER_TYPES = (
    (Code(SNOMED, "185349003", "Appointment"), "loc-family"),
    (Code(SNOMED, "390906007", "Follow-up visit"), "loc-cardio"),
    (Code(SNOMED, "162673000", "Annual physical"), "loc-family"),
    (Code(SNOMED, "50849002", "Emergency room visit"), "loc-ed"),
    (Code(SNOMED, "183460006", "Ear, nose and throat consultation"), "loc-ent"),
    (Code(SNOMED, "32485007", "Hospital admission"), "loc-ward3"),
)

# (code, low, high, decimals, unit, ucum)
VITALS = (
    (Code(LOINC, "8867-4", "Heart rate"), 55, 100, 0, "beats/minute", "/min"),
    (Code(LOINC, "9279-1", "Respiratory rate"), 12, 20, 0, "breaths/minute", "/min"),
    (Code(LOINC, "8310-5", "Body temperature"), 36.1, 37.9, 1, "Cel", "Cel"),
    (Code(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"), 93, 100, 0, "%", "%"),
    (Code(LOINC, "29463-7", "Body weight"), 48, 115, 1, "kg", "kg"),
    (Code(LOINC, "8302-2", "Body height"), 150, 195, 0, "cm", "cm"),
)
BLOOD_PRESSURE = Code(LOINC, "85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = Code(LOINC, "8480-6", "Systolic blood pressure")
DIASTOLIC = Code(LOINC, "8462-4", "Diastolic blood pressure")
LABS = (
    (Code(LOINC, "2339-0", "Glucose [Mass/volume] in Blood"), 70, 180, 0, "mg/dL", "mg/dL"),
    (Code(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"), 4.8, 9.5, 1, "%", "%"),
)

CONDITIONS = (
    Code(SNOMED, "38341003", "Hypertensive disorder"),
    Code(SNOMED, "44054006", "Diabetes mellitus type 2"),
    Code(SNOMED, "195967001", "Asthma"),
    Code(SNOMED, "55822004", "Hyperlipidemia"),
    Code(SNOMED, "40055000", "Chronic sinusitis"),
    Code(SNOMED, "239873007", "Osteoarthritis of knee"),
    Code(SNOMED, "35489007", "Depressive disorder"),
    Code(SNOMED, "13645005", "Chronic obstructive lung disease"),
    Code(SNOMED, "49436004", "Atrial fibrillation"),
    Code(SNOMED, "162864005", "Body mass index 30+ - obesity"),
)
SEVERITIES = (
    Code(SNOMED, "255604002", "Mild"),
    Code(SNOMED, "6736007", "Moderate"),
    Code(SNOMED, "24484000", "Severe"),
)

# (substance, category)
ALLERGENS = (
    (Code("http://rxnav.nlm.nih.gov/REST/Ndfrt", "N0000175503", "sulfonamide antibacterial"), "medication"),
    (Code(SNOMED, "764146007", "Penicillin"), "medication"),
    (Code(SNOMED, "227493005", "Cashew nuts"), "food"),
    (Code(SNOMED, "256349002", "Peanut"), "food"),
    (Code(SNOMED, "111088007", "Latex"), "environment"),
    (Code(SNOMED, "288328004", "Bee venom"), "environment"),
    (Code(RXNORM, "1191", "Aspirin"), "medication"),
)
MANIFESTATIONS = (
    Code(SNOMED, "271807003", "skin rash"),
    Code(SNOMED, "247472004", "hives"),
    Code(SNOMED, "39579001", "anaphylaxis"),
    Code(SNOMED, "267036007", "dyspnea"),
    Code(SNOMED, "418290006", "itching"),
)

MEDICATIONS = (
    (Code(RXNORM, "314077", "Lisinopril 20 MG Oral Tablet"), "1 daily"),
    (Code(RXNORM, "860975", "Metformin hydrochloride 500 MG Extended Release Oral Tablet"), "1 tablet twice daily"),
    (Code(RXNORM, "259255", "Atorvastatin 80 MG Oral Tablet"), "1 tablet at bedtime"),
    (Code(RXNORM, "197361", "Amlodipine 5 MG Oral Tablet"), "1 daily"),
    (Code(RXNORM, "745679", "Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"), "2 puffs every 4 hours as needed"),
    (Code(RXNORM, "313782", "Acetaminophen 325 MG Oral Tablet"), "2 tablets every 6 hours as needed"),
    (Code(RXNORM, "855332", "Warfarin Sodium 5 MG Oral Tablet"), "1 daily, as directed"),
)

PAYORS = (
    ("Contoso Health Plan", "Contoso Gold PPO"),
    ("Fabrikam Insurance", "Fabrikam Standard HMO"),
    ("Northwind Mutual", "Northwind Basic"),
    ("Medicare", "Medicare Part B"),
)

PRACTITIONERS = ("Jane Doe", "Adele Vance", "Miguel Ortega", "Priya Raman", "Samuel Osei", "Lena Fischer")
# The practitioners and organizations the R4 base serves as resources (the older bases name them by display only).
# NPIs carry a valid check digit; payers have made-up NAIC company codes.
PRACTITIONER_RECORDS = (
    PractitionerRecord("practitioner-1", "Jane", "Doe", "1902345671"),
    PractitionerRecord("practitioner-2", "Adele", "Vance", "1654321094"),
    PractitionerRecord("practitioner-3", "Miguel", "Ortega", "1287654309"),
    PractitionerRecord("practitioner-4", "Priya", "Raman", "1432109878"),
    PractitionerRecord("practitioner-5", "Samuel", "Osei", "1765432103"),
    PractitionerRecord("practitioner-6", "Lena", "Fischer", "1543210987"),
)
PRACTITIONER_BY_NAME = {f"{p.given} {p.family}": p for p in PRACTITIONER_RECORDS}
HOSPITAL = OrganizationRecord("demo-hospital", "Demo General Hospital", "prov", "1234567893", "Seattle")
PAYOR_RECORDS = (
    OrganizationRecord("payer-1", "Contoso Health Plan", "pay", "61165", "Hartford"),
    OrganizationRecord("payer-2", "Fabrikam Insurance", "pay", "62276", "Chicago"),
    OrganizationRecord("payer-3", "Northwind Mutual", "pay", "63387", "Boston"),
    OrganizationRecord("payer-4", "Medicare", "pay", "64498", "Baltimore"),
)
ORGANIZATION_BY_NAME = {o.name: o for o in (HOSPITAL, *PAYOR_RECORDS)}
# Names avoid the substrings the documented searches use ("chau", "hugh", "ruth", "black").
FEMALE_GIVEN = ("Alice", "Maria", "Grace", "Emma", "Olivia", "Sofia", "Amara", "Ingrid", "Leila", "Mei", "Hannah",
                "Zoe", "Nora", "Irene")
MALE_GIVEN = ("James", "Omar", "Lucas", "Kenji", "Mateo", "Daniel", "Arjun", "Felix", "Samuel", "Tomas", "Victor",
              "Ivan", "Noah", "Elias")
MIDDLE = ("A.", "B.", "J.", "M.", "R.", "T.")
FAMILY = ("Garcia", "Nguyen", "Smith", "Okafor", "Müller", "Johansson", "Kowalski", "Tanaka", "Rossi", "Haddad",
          "Patel", "Silva", "O'Brien", "Dubois", "Novak", "Kim", "Mendes", "Andersen", "Costa", "Larsen", "Moreau",
          "Ibrahim", "Sato", "Walsh", "Brennan", "Petrov", "Castillo", "Lindqvist")
CITIES = ("Seattle", "Redmond", "Bellevue", "Tacoma", "Everett", "Olympia")

FIXED_PATIENTS = (
    PatientRecord("demo-patient-1", "1234567", "Chau", ("Hugh",), "Mr", "male", date(1957, 6, 5), "Jane Doe",
                  "+1 555 0100", "Seattle"),
    PatientRecord("demo-patient-2", "2345678", "Black", ("Ruth", "C."), "Mrs", "female", date(1951, 8, 23),
                  "Adele Vance", "+1 555 0101", "Redmond"),
)


def _value(rng: random.Random, low: float, high: float, decimals: int) -> float:
    value = round(rng.uniform(low, high), decimals)
    return int(value) if decimals == 0 else value


def _patient(rng: random.Random, number: int) -> PatientRecord:
    gender = rng.choice(("female", "male"))
    given = rng.choice(FEMALE_GIVEN if gender == "female" else MALE_GIVEN)
    names = (given, rng.choice(MIDDLE)) if rng.random() < 0.4 else (given,)
    prefix = ("Ms", "Mrs")[rng.randrange(2)] if gender == "female" else "Mr"
    birth = date(1935, 1, 1) + timedelta(days=rng.randrange(365 * 70))
    return PatientRecord(
        id=f"demo-patient-{number}", mrn=str(3000000 + number * 7919), family=FAMILY[(number * 11) % len(FAMILY)],
        given=names, prefix=prefix, gender=gender, birth_date=birth, practitioner=rng.choice(PRACTITIONERS),
        phone=f"+1 555 {100 + number:04d}", city=rng.choice(CITIES))


def _encounters_and_observations(rng: random.Random, data: DataSet, patient: PatientRecord, visits: int) -> None:
    start = AS_OF - timedelta(days=3 * 365)
    days = sorted(rng.sample(range(3 * 365 - 7), visits))
    for n, day in enumerate(days, start=1):
        kind, location = ENCOUNTER_TYPES[rng.randrange(len(ENCOUNTER_TYPES))]
        begin = (start + timedelta(days=day)).replace(hour=8 + rng.randrange(9), minute=rng.choice((0, 15, 30, 45)))
        latest = n == len(days)
        end = None if latest else begin + timedelta(minutes=20 + rng.randrange(100))
        encounter = EncounterRecord(
            id=f"{patient.id}-enc-{n}", patient_id=patient.id, status="arrived" if latest else "finished",
            type=kind, start=begin, end=end, location_id=location, practitioner=patient.practitioner)
        data.encounters.append(encounter)
        taken = begin + timedelta(minutes=10)
        for m, (code, low, high, decimals, unit, ucum) in enumerate(VITALS, start=1):
            data.observations.append(ObservationRecord(
                id=f"{encounter.id}-vs-{m}", patient_id=patient.id, encounter_id=encounter.id, category="vital-signs",
                code=code, effective=taken + timedelta(minutes=m), value=_value(rng, low, high, decimals), unit=unit,
                ucum=ucum))
        systolic = _value(rng, 105, 160, 0)
        data.observations.append(ObservationRecord(
            id=f"{encounter.id}-vs-bp", patient_id=patient.id, encounter_id=encounter.id, category="vital-signs",
            code=BLOOD_PRESSURE, effective=taken + timedelta(minutes=len(VITALS) + 1), value=None, unit="", ucum="",
            components=(Component(SYSTOLIC, systolic, "mmHg", "mm[Hg]"),
                        Component(DIASTOLIC, _value(rng, 60, min(95, systolic - 30), 0), "mmHg", "mm[Hg]"))))
        if rng.random() < 0.5:
            code, low, high, decimals, unit, ucum = LABS[rng.randrange(len(LABS))]
            data.observations.append(ObservationRecord(
                id=f"{encounter.id}-lab-1", patient_id=patient.id, encounter_id=encounter.id, category="laboratory",
                code=code, effective=taken + timedelta(minutes=30), value=_value(rng, low, high, decimals), unit=unit,
                ucum=ucum))


def _clinical(rng: random.Random, data: DataSet, patient: PatientRecord, fixed: bool) -> None:
    for n, code in enumerate(rng.sample(CONDITIONS, 3 if fixed else rng.randrange(0, 5)), start=1):
        onset = patient.birth_date + timedelta(days=365 * 30 + rng.randrange(365 * 20))
        onset = min(onset, AS_OF.date() - timedelta(days=400))
        data.conditions.append(ConditionRecord(
            id=f"{patient.id}-cond-{n}", patient_id=patient.id, code=code, severity=rng.choice(SEVERITIES),
            onset=onset, recorded=onset + timedelta(days=rng.randrange(60)), active=rng.random() < 0.8))
    for n, (substance, category) in enumerate(rng.sample(ALLERGENS, 2 if fixed else rng.randrange(0, 4)), start=1):
        recorded = AS_OF - timedelta(days=400 + rng.randrange(3000))
        data.allergies.append(AllergyRecord(
            id=f"{patient.id}-alg-{n}", patient_id=patient.id, substance=substance, category=category,
            criticality=rng.choice(("low", "high")), manifestation=rng.choice(MANIFESTATIONS),
            reaction_severity=rng.choice(("mild", "moderate", "severe")), recorded=recorded.replace(microsecond=0),
            note=f"Reported by patient; avoid {substance.display.lower()}."))
    for n, (medication, dosage) in enumerate(rng.sample(MEDICATIONS, 3 if fixed else rng.randrange(0, 4)), start=1):
        written = AS_OF.date() - timedelta(days=30 + rng.randrange(900))
        ended = written + timedelta(days=90) if rng.random() < 0.3 else None
        data.medications.append(MedicationRecord(
            id=f"{patient.id}-med-{n}", patient_id=patient.id, medication=medication, dosage=dosage,
            written=written, ended=ended, prescriber=patient.practitioner, referenced=n == 2))
    if fixed or rng.random() < 0.85:
        payor, plan = rng.choice(PAYORS)
        start = date(AS_OF.year, 1, 1)
        data.coverages.append(CoverageRecord(
            id=f"{patient.id}-cov-1", patient_id=patient.id, payor=payor, plan=plan,
            group=f"GRP-{rng.randrange(1000, 9999)}", subscriber_id=f"SUB{rng.randrange(10**7, 10**8)}",
            start=start, end=date(AS_OF.year, 12, 31)))


def generate(seed: int = DEFAULT_SEED, patients: int = DEFAULT_PATIENTS) -> DataSet:
    """The whole data set for ``seed``: ``patients`` patients (at least the two fixed ones) and their records."""
    rng = random.Random(seed)
    data = DataSet(locations=list(LOCATIONS), practitioners=list(PRACTITIONER_RECORDS),
                   organizations=[HOSPITAL, *PAYOR_RECORDS])
    data.patients.extend(FIXED_PATIENTS[:max(patients, 0)])
    for number in range(len(data.patients) + 1, patients + 1):
        data.patients.append(_patient(rng, number))
    for patient in data.patients:
        fixed = patient in FIXED_PATIENTS
        _encounters_and_observations(rng, data, patient, 6 if fixed else 2 + rng.randrange(5))
        _clinical(rng, data, patient, fixed)
    return data
