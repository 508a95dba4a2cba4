"""The synthetic data set: deterministic, complete, internally consistent."""

from __future__ import annotations

from datetime import date

from devtools.demo_provider import data


def test_same_seed_gives_the_same_data_and_another_seed_differs():
    assert data.generate() == data.generate()
    assert data.generate(seed=1).observations != data.generate().observations


def test_thirty_patients_with_unique_ids_and_mrns():
    ds = data.generate()
    assert len(ds.patients) == 30
    assert len({p.id for p in ds.patients}) == 30
    assert len({p.mrn for p in ds.patients}) == 30


def test_the_well_known_demo_patients():
    ds = data.generate()
    hugh, ruth = ds.patients[0], ds.patients[1]
    assert (hugh.id, hugh.family, hugh.given, hugh.birth_date) == ("demo-patient-1", "Chau", ("Hugh",),
                                                                     date(1957, 6, 5))
    assert (ruth.id, ruth.family, ruth.given[0], ruth.birth_date) == ("demo-patient-2", "Black", "Ruth",
                                                                       date(1951, 8, 23))
    for kind in (ds.encounters, ds.observations, ds.conditions, ds.allergies, ds.medications, ds.coverages):
        assert any(r.patient_id == "demo-patient-1" for r in kind)


def test_every_reference_points_at_a_record_that_exists():
    ds = data.generate()
    patients = {p.id for p in ds.patients}
    locations = {loc.id for loc in ds.locations}
    encounters = {e.id for e in ds.encounters}
    for e in ds.encounters:
        assert e.patient_id in patients and e.location_id in locations
    for o in ds.observations:
        assert o.patient_id in patients and o.encounter_id in encounters
    for kind in (ds.conditions, ds.allergies, ds.medications, ds.coverages):
        assert all(r.patient_id in patients for r in kind)


def test_vital_signs_are_spread_over_time_and_have_units():
    ds = data.generate()
    vitals = [o for o in ds.observations if o.patient_id == "demo-patient-1" and o.category == "vital-signs"]
    assert len({o.effective.date() for o in vitals}) == 6
    assert all(o.unit and o.value is not None for o in vitals if not o.components)
    panels = [o for o in vitals if o.components]
    assert panels and all(c.value > 0 and c.unit == "mmHg" for o in panels for c in o.components)
    assert all(sys.value > dia.value for sys, dia in (o.components for o in panels))


def test_a_smaller_data_set_keeps_the_fixed_patients_first():
    ds = data.generate(patients=3)
    assert [p.id for p in ds.patients] == ["demo-patient-1", "demo-patient-2", "demo-patient-3"]
