"""Read-only policy and batch classification."""

import json

import pytest

from gateway.proxy.access import AccessRefused, BadBatch, classify, parse_batch, require_access
from gateway.proxy.paths import check_path
from tests.support.constants import GW


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


def _one(method="GET", url="Patient/1"):
    return _bundle((method, url))


@pytest.mark.parametrize("body, message", [
    (b'{"resourceType":"Bundle","type":"batch","type":"batch"}',
     "The body repeats a JSON property name (FHIR JSON forbids it)."),
    (b'{"resourceType":"Bundle","type":"searchset"}', "Only batch or transaction Bundles can be posted to the base."),
    (b'{"resourceType":"Bundle"}', "Only batch or transaction Bundles can be posted to the base."),
    (b'{"resourceType":"Bundle","type":"batch","entry":{"a":1}}', "Bundle.entry must be a list."),
    (b'{"resourceType":"Bundle","type":"batch","entry":"x"}', "Bundle.entry must be a list."),
    (b'{"resourceType":"Bundle","type":"batch","entry":[1]}', "Bundle.entry[0].request needs a method and a url."),
    (b'{"resourceType":"Bundle","type":"batch","entry":[{}]}', "Bundle.entry[0].request needs a method and a url."),
    (b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"url":"Patient/1"}}]}',
     "Bundle.entry[0].request needs a method and a url."),
    (b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":1}}]}',
     "Bundle.entry[0].request needs a method and a url."),
    (b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":1,"url":"Patient/1"}}]}',
     "Bundle.entry[0].request needs a method and a url."),
    (_bundle(("GET", "Patient/1"), ("FETCH", "Patient/1")),
     "Bundle.entry[1].request.method is not an HTTP method FHIR uses."),
    (_one(url="Patient/../x"), "Bundle.entry[0].request.url: The request path contains a dot segment."),
    (_one(url="Patient?a=\x01"), "Bundle.entry[0].request.url: The query string contains control characters."),
    (_one(url="Patient/1#frag"), "Bundle.entry[0].request.url: The request path is not a FHIR REST path."),
    (_one(url="Patient?x=1#frag"), "Bundle.entry[0].request.url must not carry a fragment."),
])
def test_bad_batches_say_exactly_what_is_wrong(body, message):
    with pytest.raises(BadBatch) as caught:
        parse_batch(body, "application/fhir+json", GW)
    assert str(caught.value) == message


@pytest.mark.parametrize("content_type", ["", "application/json", "application/fhir+json",
                                          "application/json+fhir", "Application/FHIR+JSON; charset=utf-8; x=1",
                                          " application/json ;charset=utf-8", "application/json; a=1; b=2"])
def test_json_labels_are_parsed(content_type):
    assert parse_batch(_one(), content_type, GW) is not None


@pytest.mark.parametrize("content_type", ["text/plain", "application/fhir+xml", "application/jsonx", "text/json",
                                          "application/x-www-form-urlencoded", "application/json+xml",
                                          "text/plain; x=application/json"])
def test_other_labels_are_not_parsed_as_json(content_type):
    assert parse_batch(_one(), content_type, GW) is None


def test_not_a_bundle_is_not_a_batch():
    for body in (b'{"resourceType":"Patient"}', b"[]", b'"Bundle"', b"{}", b"\xff\xfe", b"[" * 100000):
        assert parse_batch(body, "application/json", GW) is None


@pytest.mark.parametrize("method, read_only", [("GET", True), ("HEAD", True), ("get", True), ("POST", False),
                                               ("PUT", False), ("PATCH", False), ("DELETE", False)])
def test_every_fhir_method_parses_and_only_reads_are_read_only(method, read_only):
    batch = parse_batch(_one(method), "application/fhir+json", GW)
    assert batch.entries[0].method == method.upper()
    assert batch.read_only is read_only
    assert parse_batch(_bundle(("GET", "Patient/1"), (method, "Patient/2")), "application/fhir+json", GW
                       ).read_only is read_only


def test_a_read_only_transaction_is_still_a_write():
    assert parse_batch(_one(), "application/fhir+json", GW).read_only
    assert not parse_batch(_bundle(("GET", "Patient/1"), kind="transaction"), "application/fhir+json", GW).read_only


def test_entry_urls_on_the_gateway_base_with_or_without_its_trailing_slash():
    for base in (GW, GW + "/"):
        batch = parse_batch(_one(url=f"{GW}/Observation?patient=1"), "application/fhir+json", base)
        assert (batch.entries[0].path.path, batch.entries[0].query) == ("Observation", "patient=1")
        assert batch.entries[0].relative_url == "Observation?patient=1"
    assert parse_batch(_one(url="Patient"), "application/fhir+json", GW).entries[0].relative_url == "Patient"
    other_base = "https://gw.example/apiX"  # whatever the base ends with, only it is taken off
    assert parse_batch(_one(url=f"{other_base}/Patient/1"), "application/json", other_base).entries[0].path.path == \
        "Patient/1"
    with pytest.raises(BadBatch):
        parse_batch(_one(url=f"{GW}x/Patient/1"), "application/fhir+json", GW)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["", "_search", "Patient/_search"])
def test_other_methods_on_the_base_or_a_search_are_writes(method, path):
    kind = classify(method, check_path(path), None)
    assert kind == "write"
    with pytest.raises(AccessRefused) as caught:
        require_access(kind, False, method, check_path(path), None)
    assert str(caught.value) == f"This connection is read-only: {method} is not allowed."
    require_access(kind, True, method, check_path(path), None)


def test_a_batch_posted_elsewhere_than_the_base_is_not_a_read_batch():
    batch = parse_batch(_one(), "application/fhir+json", GW)
    assert classify("POST", check_path("Patient"), batch) == "write"
    assert classify("POST", check_path(""), batch) == "read-batch"
    assert classify("GET", check_path(""), batch) == "read"
    with pytest.raises(AccessRefused) as caught:
        require_access("write", False, "POST", check_path(""), parse_batch(_one("DELETE"), "application/json", GW))
    assert str(caught.value) == "This connection is read-only: the batch contains entries that are not reads."
    with pytest.raises(AccessRefused) as caught:
        require_access("write", False, "POST", check_path(""), None)
    assert str(caught.value) == ("This connection is read-only: only a JSON batch Bundle of GET or HEAD entries "
                                 "may be posted to the base.")


@pytest.mark.parametrize("kind", ["read", "search", "read-batch"])
def test_reads_need_no_write_access(kind):
    require_access(kind, False, "POST", check_path(""), None)
