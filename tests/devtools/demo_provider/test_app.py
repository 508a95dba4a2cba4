"""The demo provider over real sockets: the Patients app's call sequences, paging, batch, media types, errors."""

from __future__ import annotations

import json

import fhir.resources.R4B as r4b
import fhir.resources.STU3 as stu3
import pytest

from devtools.demo_provider import running_provider

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Headers of the reference client (reference doc §5.1).
APP = {"User-Agent": ".NET FhirClient for FHIR 1.0.2", "Accept": "application/json+fhir;charset=utf-8",
       "Prefer": "return=representation"}
PID = "demo-patient-1"


async def get(http, url, headers=APP):
    async with http.get(url, headers=headers) as response:
        return response.status, response.headers, await response.read()


async def post(http, url, body, headers):
    async with http.post(url, data=body, headers={**APP, **headers}) as response:
        return response.status, response.headers, await response.read()


def bundle_resources(body):
    return [e["resource"] for e in json.loads(body).get("entry", [])]


async def test_dstu2_reference_client_sequence(provider, http):
    """Appendix A, DSTU2: metadata, read, the form searches, the clinical searches and the batch."""
    base = provider.fhir_base("DSTU2")
    dstu2 = "application/json+fhir;charset=utf-8"

    status, headers, body = await get(http, f"{base}/metadata")
    assert status == 200 and headers["Content-Type"] == dstu2
    assert json.loads(body)["fhirVersion"] == "1.0.2"

    # FhirClient quirk: the Patient GET carries a form Content-Type (reference doc §5.1).
    status, headers, body = await get(http, f"{base}/Patient/{PID}", {**APP, **FORM})
    patient = json.loads(body)
    assert status == 200 and headers["Content-Type"] == dstu2
    assert patient["name"][0]["family"] == ["Chau"] and patient["careProvider"][0]["display"]

    for form in ("name:contains=chau", "given:contains=hugh", "birthdate=1957-06-05", "birthdate=1957-06",
                 "birthdate=1957", f"_id={PID}"):
        status, headers, body = await post(http, f"{base}/Patient/_search", form, FORM)
        bundle = json.loads(body)
        assert status == 200 and bundle["type"] == "searchset", form
        assert PID in {r["id"] for r in bundle_resources(body)}, form
        assert bundle["total"] == len(bundle["entry"])
        assert bundle["link"][0] == {"relation": "self", "url": f"{base}/Patient/_search"}
        assert all(e["fullUrl"] == f"{base}/Patient/{e['resource']['id']}" for e in bundle["entry"])

    status, _, body = await get(http, f"{base}/Observation?patient={PID}&_sort:desc=date&category=vital-signs")
    observations = bundle_resources(body)
    assert status == 200 and observations
    dates = [o["effectiveDateTime"] for o in observations]
    assert dates == sorted(dates, reverse=True)

    status, _, body = await get(http, f"{base}/Condition?patient={PID}&_count=10")
    assert status == 200 and all(c["code"]["coding"][0]["display"] for c in bundle_resources(body))
    status, _, body = await get(http, f"{base}/Encounter?patient={PID}&_sort:desc=date&_count=1")
    encounters = bundle_resources(body)
    assert status == 200 and len(encounters) == 1 and json.loads(body)["total"] == 6
    assert encounters[0]["location"][0]["location"]["display"]
    status, _, body = await get(http, f"{base}/AllergyIntolerance?patient={PID}")
    assert status == 200 and all(a["substance"]["text"] for a in bundle_resources(body))
    status, _, body = await get(http, f"{base}/MedicationOrder?patient={PID}&_count=100")
    assert status == 200 and all(m["prescriber"]["display"] for m in bundle_resources(body))
    status, _, body = await get(http, f"{base}/Coverage?patient={PID}")
    assert status == 200 and len(bundle_resources(body)) == 1

    urls = (f"Patient/{PID}", f"Encounter?patient={PID}", f"Observation?patient={PID}",
            f"MedicationOrder?patient={PID}",
            f"AllergyIntolerance?patient={PID}", f"Condition?patient={PID}")
    batch = {"resourceType": "Bundle", "type": "batch",
             "entry": [{"request": {"method": "GET", "url": u}} for u in urls]}
    status, headers, body = await post(http, base, json.dumps(batch),
                                       {"Content-Type": "application/json+fhir;charset=utf-8"})
    response = json.loads(body)
    assert status == 200 and response["type"] == "batch-response" and len(response["entry"]) == 6
    assert [e["response"]["status"] for e in response["entry"]] == ["200 OK"] * 6
    assert response["entry"][0]["resource"]["id"] == PID
    kinds = ["Encounter", "Observation", "MedicationOrder", "AllergyIntolerance", "Condition"]
    for entry, kind in zip(response["entry"][1:], kinds, strict=True):
        assert entry["resource"]["type"] == "searchset"
        assert {r["resourceType"] for r in bundle_resources(json.dumps(entry["resource"]))} == {kind}


async def test_stu3_reference_client_sequence(provider, http):
    """Appendix A, STU3, with every answer validated by fhir.resources.STU3."""
    base = provider.fhir_base("STU3")
    status, headers, body = await get(http, f"{base}/metadata")
    assert status == 200 and headers["Content-Type"] == "application/fhir+json;charset=utf-8"
    stu3.get_fhir_model_class("CapabilityStatement").model_validate_json(body)

    found = {}
    for form in ("birthdate=1951-08-23", "birthdate=1951-08", "birthdate=1951", "given=ruth",
                 "_id=demo-patient-2", "given=ruth&family=black"):
        status, _, body = await post(http, f"{base}/Patient/_search", form, FORM)
        assert status == 200, form
        stu3.get_fhir_model_class("Bundle").model_validate_json(body)
        found[form] = {r["id"] for r in bundle_resources(body)}
    assert all("demo-patient-2" in ids for ids in found.values()), found
    assert found["given=ruth&family=black"] == {"demo-patient-2"}

    for url in (f"Patient/{PID}", f"Observation?patient={PID}&category=vital-signs",
                f"Observation?patient={PID}&_sort=-date&category=vital-signs", f"Condition?patient={PID}&_count=10",
                f"Encounter?patient={PID}&_sort:desc=date&_count=1", f"AllergyIntolerance?patient={PID}",
                f"MedicationRequest?patient={PID}&_count=10", f"Coverage?patient={PID}"):
        status, _, body = await get(http, f"{base}/{url}")
        assert status == 200, url
        document = json.loads(body)
        stu3.get_fhir_model_class(document["resourceType"]).model_validate(document)
        if document["resourceType"] == "Bundle":
            assert document["total"] >= 1, url


async def test_r4_answers_are_valid_r4(provider, http):
    base = provider.fhir_base("R4")
    for url in ("metadata", f"Patient/{PID}", f"Observation?patient={PID}&_sort=-date",
                f"Encounter?patient={PID}", f"Condition?patient={PID}", f"AllergyIntolerance?patient={PID}",
                f"MedicationRequest?patient={PID}", f"Coverage?patient={PID}", "Location"):
        status, headers, body = await get(http, f"{base}/{url}")
        assert status == 200 and headers["Content-Type"] == "application/fhir+json;charset=utf-8", url
        document = json.loads(body)
        r4b.get_fhir_model_class(document["resourceType"]).model_validate(document)
    _, _, body = await get(http, f"{base}/AllergyIntolerance?patient={PID}")
    assert bundle_resources(body)[0]["clinicalStatus"]["coding"][0]["code"] == "active"


async def test_paging_through_next_links_visits_every_match_once(provider, http):
    base = provider.fhir_base("STU3")
    url = f"{base}/Observation?patient={PID}&_sort=-date&_count=7"
    seen, dates, total = [], [], None
    while url:
        assert url.startswith(provider.base_url + "/")
        status, _, body = await get(http, url)
        assert status == 200
        bundle = json.loads(body)
        stu3.get_fhir_model_class("Bundle").model_validate(bundle)
        total = bundle["total"] if total is None else total
        assert bundle["total"] == total and len(bundle.get("entry", [])) <= 7
        seen += [r["id"] for r in bundle_resources(body)]
        dates += [r["effectiveDateTime"] for r in bundle_resources(body)]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert links["self"] == url
        url = links.get("next")
    assert len(seen) == len(set(seen)) == total > 7
    assert dates == sorted(dates, reverse=True)


async def test_paging_a_post_search_keeps_the_search_values_out_of_the_links(provider, http):
    base = provider.fhir_base("DSTU2")
    status, _, body = await post(http, f"{base}/Patient/_search", "gender=female&_count=2", FORM)
    bundle = json.loads(body)
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert status == 200 and "female" not in links["next"] and links["next"].startswith(f"{base}?_getpages=")
    status, _, body = await get(http, links["next"])
    second = json.loads(body)
    assert status == 200 and second["total"] == bundle["total"]
    assert all(r["gender"] == "female" for r in bundle_resources(body))
    assert {link["relation"] for link in second["link"]} >= {"self", "previous"}


async def test_read_headers_and_conditional_read(provider, http):
    url = f"{provider.fhir_base('STU3')}/Patient/{PID}"
    status, headers, body = await get(http, url)
    assert status == 200 and headers["ETag"] == 'W/"1"' and headers["Last-Modified"].endswith(" GMT")
    assert json.loads(body)["meta"]["versionId"] == "1"
    status, headers, body = await get(http, url, {"If-None-Match": 'W/"1"'})
    assert status == 304 and body == b""
    status, _, body = await get(http, f"{url}/_history/1")
    assert status == 200 and json.loads(body)["id"] == PID


@pytest.mark.parametrize(("accept", "query", "expected"), [
    ("application/json", "", "application/json;charset=utf-8"),
    ("application/fhir+xml", "?_format=json", "application/fhir+json;charset=utf-8"),
    (None, "?_format=application/json", "application/json;charset=utf-8"),
])
async def test_media_types(provider, http, accept, query, expected):
    headers = {"Accept": accept} if accept else {}
    status, response_headers, _ = await get(http, f"{provider.fhir_base('STU3')}/Patient/{PID}{query}", headers)
    assert status == 200 and response_headers["Content-Type"] == expected


def outcome_of(body):
    document = json.loads(body)
    assert document["resourceType"] == "OperationOutcome"
    return document["issue"][0]


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/stu3/Patient/no-such-patient", 404, "not-found"),
    ("GET", "/stu3/Observations?patient=x", 404, "not-supported"),
    ("GET", "/stu3/Patient/demo-patient-1/_history/2", 404, "not-found"),
    ("GET", "/fhir/Patient/demo-patient-1", 404, "not-supported"),
    ("GET", "/stu3/Patient/demo-patient-1/everything/else", 404, "not-supported"),
    ("GET", "/stu3/Patient?_count=ten", 400, "invalid"),
    ("GET", "/stu3/Patient?birthdate=not-a-date", 400, "invalid"),
    ("GET", "/stu3", 400, "not-supported"),
    ("GET", "/stu3?_getpages=unknown-token&_getpagesoffset=10", 410, "not-found"),
    ("PUT", "/stu3/Patient/demo-patient-1", 405, "not-supported"),
    ("DELETE", "/stu3/Patient/demo-patient-1", 405, "not-supported"),
    ("POST", "/stu3/Patient", 405, "not-supported"),
    ("POST", "/stu3/metadata", 405, "not-supported"),
])
async def test_errors_are_operation_outcomes(provider, http, method, path, status, code):
    async with http.request(method, provider.base_url + path, headers=APP) as response:
        assert response.status == status
        assert response.headers["Content-Type"] == "application/fhir+json;charset=utf-8"
        if status == 405:
            assert response.headers["Allow"]
        issue = outcome_of(await response.read())
    assert issue["code"] == code and "ten" not in issue["diagnostics"] and "not-a-date" not in issue["diagnostics"]


async def test_xml_is_not_acceptable(provider, http):
    status, headers, body = await get(http, f"{provider.fhir_base('DSTU2')}/Patient/{PID}",
                                      {"Accept": "application/xml+fhir"})
    assert status == 406 and headers["Content-Type"] == "application/json+fhir;charset=utf-8"
    assert outcome_of(body)["code"] == "not-supported"


@pytest.mark.parametrize(("body", "status"), [
    ('{"resourceType":"Bundle","type":"transaction","entry":[]}', 400),
    ('{"resourceType":"Patient","id":"x"}', 400),
    ("not json", 400),
    ('["Bundle"]', 400),
    ('{"resourceType":"Bundle","type":"searchset"}', 400),
    ('{"resourceType":"Bundle","type":"batch","entry":{}}', 400),
])
async def test_bad_batch_bodies_are_400(provider, http, body, status):
    got, _, answer = await post(http, provider.fhir_base("STU3"), body, {"Content-Type": "application/fhir+json"})
    assert got == status and outcome_of(answer)["severity"] == "error"


@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
async def test_batch_entries_fail_one_by_one_in_order(provider, http, version):
    base = provider.fhir_base(version)
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/no-such-patient"}},
        {"request": {"method": "DELETE", "url": f"Patient/{PID}"}},
        {"request": {"method": "GET", "url": f"/Patient/{PID}"}},
        {"request": {"method": "GET", "url": f"{base}/Patient?_id={PID}"}},
        {"request": {"method": "GET", "url": f"http://elsewhere.example/Patient/{PID}"}},
        {"fullUrl": "no request"},
        {"request": {"method": "GET", "url": "metadata"}},
    ]}
    status, _, body = await post(http, base, json.dumps(batch), {"Content-Type": "application/fhir+json"})
    entries = json.loads(body)["entry"]
    assert status == 200
    assert [e["response"]["status"] for e in entries] == [
        "404 Not Found", "405 Method Not Allowed", "200 OK", "200 OK", "400 Bad Request", "400 Bad Request", "200 OK"]
    failed = entries[0]["resource"] if version == "DSTU2" else entries[0]["response"]["outcome"]
    assert failed["resourceType"] == "OperationOutcome"
    assert entries[2]["resource"]["id"] == PID and entries[2]["fullUrl"] == f"{base}/Patient/{PID}"
    assert entries[3]["resource"]["total"] == 1
    if version == "STU3":
        stu3.get_fhir_model_class("Bundle").model_validate_json(body)
    if version == "R4":
        r4b.get_fhir_model_class("Bundle").model_validate_json(body)


async def test_post_search_combines_query_and_body_and_checks_the_content_type(provider, http):
    base = provider.fhir_base("STU3")
    status, _, body = await post(http, f"{base}/Patient/_search?given=ruth", "family=black", FORM)
    assert status == 200 and [r["id"] for r in bundle_resources(body)] == ["demo-patient-2"]
    status, _, body = await post(http, f"{base}/Patient/_search", '{"given":"ruth"}',
                                 {"Content-Type": "application/json"})
    assert status == 415 and outcome_of(body)["code"] == "not-supported"
    status, _, body = await post(http, f"{base}/Patient/_search", b"given=\xff", FORM)
    assert status == 400 and outcome_of(body)["code"] == "invalid"


async def test_base_url_override_is_used_for_every_absolute_url(http):
    async with running_provider(base_url="https://hospital.example.org/fhir-root/") as provider:
        assert provider.base_url == "https://hospital.example.org/fhir-root"
        status, _, body = await get(http, f"{provider.url}/r4/Observation?patient={PID}&_count=2")
        bundle = json.loads(body)
        urls = [link["url"] for link in bundle["link"]] + [e["fullUrl"] for e in bundle["entry"]]
        assert status == 200 and all(u.startswith("https://hospital.example.org/fhir-root/r4") for u in urls)
        status, _, body = await get(http, f"{provider.url}/r4/metadata")
        assert json.loads(body)["implementation"]["url"] == "https://hospital.example.org/fhir-root/r4"


async def test_index_lists_the_three_bases(provider, http):
    status, _, body = await get(http, provider.url + "/", {})
    assert status == 200 and json.loads(body)["fhirBaseUrls"]["DSTU2"] == provider.fhir_base("DSTU2")


async def test_latency_option_still_answers(http):
    async with running_provider(latency_ms=5) as provider:
        status, _, body = await get(http, f"{provider.fhir_base('STU3')}/Patient/{PID}")
        assert status == 200 and json.loads(body)["id"] == PID


async def test_count_zero_gives_the_total_only(provider, http):
    status, _, body = await get(http, f"{provider.fhir_base('STU3')}/Observation?patient={PID}&_count=0")
    bundle = json.loads(body)
    assert status == 200 and bundle["total"] > 0 and "entry" not in bundle
    assert [link["relation"] for link in bundle["link"]] == ["self"]


async def test_an_oversized_body_is_a_413_outcome(provider, http):
    huge = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [], "padding": "x" * 1_100_000})
    status, _, body = await post(http, provider.fhir_base("R4"), huge, {"Content-Type": "application/fhir+json"})
    assert status == 413 and outcome_of(body)["code"] == "too-costly"


async def test_errors_follow_the_negotiated_media_type(provider, http):
    status, headers, body = await get(http, f"{provider.fhir_base('R4')}/Patient/nobody",
                                      {"Accept": "application/json"})
    assert status == 404 and headers["Content-Type"] == "application/json;charset=utf-8"
    assert outcome_of(body)["code"] == "not-found"
