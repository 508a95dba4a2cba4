"""Search semantics on the prebuilt catalogs (parameters, modifiers, dates, sorting, paging, errors)."""

from __future__ import annotations

import json

import pytest

from devtools.demo_provider import search
from devtools.demo_provider.catalog import catalog_for


def find(version, kind, *pairs):
    result = search.run(catalog_for(version), kind, search.parse(version, kind, list(pairs)))
    return result, [json.loads(e.body) for e in result.entries]


def ids(version, kind, *pairs):
    return [r["id"] for r in find(version, kind, *pairs)[1]]


def test_name_contains_finds_hugh_chau_in_dstu2():
    result, patients = find("DSTU2", "Patient", ("name:contains", "chau"))
    assert [p["id"] for p in patients] == ["demo-patient-1"] and result.total == 1


def test_string_search_ignores_case_and_accents():
    muller = ids("R4", "Patient", ("family", "muller"))
    assert muller and all(json.loads(catalog_for("R4").by_id[("Patient", i)].body)["name"][0]["family"] == "Müller"
                          for i in muller)


def test_plain_family_is_contains_in_stu3_but_starts_with_in_r4():
    assert ids("STU3", "Patient", ("family", "lack")) == ["demo-patient-2"]
    assert ids("R4", "Patient", ("family", "lack")) == []
    assert ids("R4", "Patient", ("family", "bla")) == ["demo-patient-2"]
    assert ids("R4", "Patient", ("family:contains", "lack")) == ["demo-patient-2"]


def test_exact_modifier_is_case_sensitive():
    assert ids("STU3", "Patient", ("family:exact", "Black")) == ["demo-patient-2"]
    assert ids("STU3", "Patient", ("family:exact", "black")) == []


def test_given_and_birthdate_partial_precision():
    assert ids("STU3", "Patient", ("given", "ruth")) == ["demo-patient-2"]
    for value in ("1951-08-23", "1951-08", "1951"):
        found = ids("STU3", "Patient", ("birthdate", value))
        assert "demo-patient-2" in found, value
        births = [json.loads(catalog_for("STU3").by_id[("Patient", i)].body)["birthDate"] for i in found]
        assert all(b.startswith(value) for b in births)


def test_date_prefixes():
    before = ids("STU3", "Patient", ("birthdate", "lt1952"))
    after = ids("STU3", "Patient", ("birthdate", "ge1952"))
    assert "demo-patient-2" in before and "demo-patient-2" not in after
    assert len(before) + len(after) == 30
    births = {i: json.loads(catalog_for("STU3").by_id[("Patient", i)].body)["birthDate"] for i in after}
    assert all(b >= "1952" for b in births.values())


def test_identifier_gender_and_id():
    assert ids("STU3", "Patient", ("identifier", "1234567")) == ["demo-patient-1"]
    assert ids("STU3", "Patient", ("identifier", "http://hospital.example.org/mrn|1234567")) == ["demo-patient-1"]
    assert ids("STU3", "Patient", ("identifier", "http://other.example.org|1234567")) == []
    assert ids("STU3", "Patient", ("_id", "demo-patient-2,demo-patient-1")) == ["demo-patient-1", "demo-patient-2"]
    genders = {json.loads(catalog_for("STU3").by_id[("Patient", i)].body)["gender"]
               for i in ids("STU3", "Patient", ("gender", "female"), ("_count", "100"))}
    assert genders == {"female"}


def test_repeated_parameters_are_anded_and_commas_ored():
    assert ids("STU3", "Patient", ("given", "hugh,ruth"), ("_sort", "_id")) == ["demo-patient-1", "demo-patient-2"]
    assert ids("STU3", "Patient", ("given", "hugh"), ("family", "black")) == []


@pytest.mark.parametrize("sort", [("_sort:desc", "date"), ("_sort", "-date")])
def test_observations_newest_first(sort):
    result, observations = find("DSTU2", "Observation", ("patient", "demo-patient-1"), sort,
                                ("category", "vital-signs"))
    dates = [o["effectiveDateTime"] for o in observations]
    assert dates == sorted(dates, reverse=True) and len(dates) == result.total > 10
    assert all(o["category"]["coding"][0]["code"] == "vital-signs" for o in observations)


def test_encounter_latest_one():
    result, encounters = find("STU3", "Encounter", ("patient", "Patient/demo-patient-1"), ("_sort:desc", "date"),
                              ("_count", "1"))
    everything = find("STU3", "Encounter", ("patient", "demo-patient-1"))[1]
    assert result.total == len(everything) == 6 and len(encounters) == 1
    assert encounters[0]["period"]["start"] == max(e["period"]["start"] for e in everything)


def test_patient_reference_forms_and_empty_results():
    absolute = ids("R4", "Condition", ("patient", "http://127.0.0.1:8081/r4/Patient/demo-patient-1"))
    assert absolute == ids("R4", "Condition", ("subject", "demo-patient-1")) != []
    assert ids("R4", "Condition", ("patient", "Practitioner/demo-patient-1")) == []
    assert ids("R4", "Condition", ("patient", "no-such-patient")) == []


def test_count_offset_and_summary_count():
    result, page = find("STU3", "Observation", ("patient", "demo-patient-1"), ("_count", "5"),
                        ("_getpagesoffset", "5"))
    all_ids = ids("STU3", "Observation", ("patient", "demo-patient-1"), ("_count", "1000"))
    assert [o["id"] for o in page] == all_ids[5:10] and result.total == len(all_ids)
    summary, none = find("STU3", "Observation", ("patient", "demo-patient-1"), ("_summary", "count"))
    assert none == [] and summary.total == len(all_ids)


def test_unknown_parameters_and_empty_values_are_ignored():
    assert ids("STU3", "Patient", ("given", "ruth"), ("unknown", "x"), ("family", "")) == ["demo-patient-2"]


@pytest.mark.parametrize(("pairs", "named"), [
    ([("_count", "ten")], "_count"),
    ([("_count", "-1")], "_count"),
    ([("birthdate", "1951-13")], "birthdate"),
    ([("birthdate", "yesterday")], "birthdate"),
    ([("family:fuzzy", "x")], "family"),
    ([("_sort:sideways", "date")], "_sort"),
])
def test_bad_values_are_a_400_naming_the_parameter_not_the_value(pairs, named):
    with pytest.raises(search.SearchError) as caught:
        search.parse("STU3", "Patient", pairs)
    assert caught.value.status == 400 and named in caught.value.message
    assert pairs[0][1] not in caught.value.message.replace(f"'{named}'", "")


def test_name_matches_a_whole_name_too():
    assert ids("R4", "Patient", ("name", "Hugh Chau")) == ["demo-patient-1"]
    assert ids("R4", "Patient", ("name:contains", "ruth c")) == ["demo-patient-2"]
