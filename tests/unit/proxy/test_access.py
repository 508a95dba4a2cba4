"""Read-only policy and batch classification."""

import json

import pytest

from gateway.proxy.access import AccessRefused, BadBatch, classify, parse_batch, require_access
from gateway.proxy.paths import check_path

GW = "http://localhost:7071/fhir"


def _bundle(*entries, kind="batch"):
    return json.dumps({"resourceType": "Bundle", "type": kind,
                       "entry": [{"request": {"method": m, "url": u}} for m, u in entries]}).encode()


PATIENT_VIEW = _bundle(("GET", "Patient/1"), ("GET", "Encounter?patient=1"), ("GET", "Observation?patient=1"),
                       ("GET", "MedicationOrder?patient=1"), ("GET", "AllergyIntolerance?patient=1"),
                       ("GET", "Condition?patient=1"))


def test_reference_client_batch_is_a_read():
    batch = parse_batch(PATIENT_VIEW, "application/json+fhir;charset=utf-8", GW)
    assert batch.read_only and len(batch.entries) == 6
    assert batch.entries[1].relative_url == "Encounter?patient=1"
    assert classify("POST", check_path(""), batch) == "read-batch"


def test_absolute_entry_urls_on_the_gateway_base_are_accepted():
    batch = parse_batch(_bundle(("GET", f"{GW}/Patient/1")), "application/fhir+json", GW)
    assert batch.entries[0].path.path == "Patient/1"


@pytest.mark.parametrize("body", [
    _bundle(("GET", "Patient/1"), ("DELETE", "Patient/2")),
    _bundle(("GET", "Patient/1"), kind="transaction"),
    _bundle(("POST", "Patient")),
])
def test_batches_with_writes_are_refused_on_read_only_routes(body):
    batch = parse_batch(body, "application/fhir+json", GW)
    kind = classify("POST", check_path(""), batch)
    assert kind == "write"
    with pytest.raises(AccessRefused):
        require_access(kind, False, "POST", check_path(""), batch)
    require_access(kind, True, "POST", check_path(""), batch)


@pytest.mark.parametrize("body", [
    _bundle(("GET", "../Patient/1")),
    _bundle(("GET", "Patient/%2e%2e")),
    _bundle(("GET", "https://evil.example/fhir/Patient/1")),
    _bundle(("FETCH", "Patient/1")),
    _bundle(("GET", "Patient?name=a\r\nHost: evil")),
    b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET"}}]}',
    b'{"resourceType":"Bundle","type":"searchset"}',
])
def test_malformed_batches_are_bad_requests(body):
    with pytest.raises(BadBatch):
        parse_batch(body, "application/fhir+json", GW)


def test_non_json_body_is_not_a_batch_and_is_refused_read_only():
    assert parse_batch(b"<Bundle/>", "application/fhir+xml", GW) is None
    assert parse_batch(b"not json", "application/json", GW) is None
    kind = classify("POST", check_path(""), None)
    with pytest.raises(AccessRefused, match="JSON batch"):
        require_access(kind, False, "POST", check_path(""), None)


@pytest.mark.parametrize("method, path, kind", [
    ("GET", "Patient/1", "read"), ("HEAD", "Patient/1", "read"), ("POST", "Patient/_search", "search"),
    ("POST", "Patient", "write"), ("PUT", "Patient/1", "write"), ("PATCH", "Patient/1", "write"),
    ("DELETE", "Patient/1", "write"), ("POST", "Patient/1/$everything", "write"),
])
def test_method_classification(method, path, kind):
    assert classify(method, check_path(path), None) == kind
    if kind == "write":
        with pytest.raises(AccessRefused, match="read-only"):
            require_access(kind, False, method, check_path(path), None)
    else:
        require_access(kind, False, method, check_path(path), None)


@pytest.mark.parametrize("body", [
    # Python's json keeps the last of repeated names; a provider whose parser keeps the first would run a DELETE
    # or a transaction that the read-only check saw as a GET batch. FHIR JSON forbids repeated property names.
    b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"DELETE","url":"Patient/1",'
    b'"method":"GET"}}]}',
    b'{"resourceType":"Bundle","type":"transaction","type":"batch","entry":[{"request":{"method":"GET",'
    b'"url":"Patient/1"}}]}',
    b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1"}}],'
    b'"entry":[{"request":{"method":"GET","url":"Patient/2"}}]}',
])
def test_repeated_json_names_are_bad_requests_not_reads(body):
    with pytest.raises(BadBatch):
        parse_batch(body, "application/fhir+json", GW)
