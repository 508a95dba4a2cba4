"""Per-request enforcement of SMART scopes on the proxy's parsed request (gateway.proxy.scope_check)."""

from __future__ import annotations

import json

import pytest

from gateway.proxy.access import parse_batch
from gateway.proxy.paths import check_path
from gateway.proxy.scope_check import ScopeRefused, check_scopes, needed_permissions
from gateway.scopes import SmartScopes
from tests.support.constants import FORM, GW


def resource_for(method: str, path: str) -> bytes:
    """The body a client sends with a create or update on ``path`` (type and id as the URL names them)."""
    segments = path.split("/")
    if method not in ("POST", "PUT") or not path[:1].isupper() or len(segments) > 2 or path.endswith("_search"):
        return b""
    resource = {"resourceType": segments[0], **({"id": segments[1]} if len(segments) == 2 else {})}
    return json.dumps(resource).encode()


def allowed(scopes: str, method: str, url: str, body: bytes = b"", content_type: str = "", *,
            version: str = "STU3", if_none_exist: str | None = None) -> bool:
    path, _, query = url.partition("?")
    checked = check_path(path)
    if not body and (body := resource_for(method, path)):
        content_type = content_type or "application/fhir+json"
    batch = parse_batch(body, content_type or "application/fhir+json", GW) \
        if method == "POST" and checked.is_base else None
    try:
        check_scopes(SmartScopes.parse(scopes), method, checked, query, body=body, content_type=content_type,
                     batch=batch, fhir_version=version, if_none_exist=if_none_exist)
    except ScopeRefused as refused:
        assert "123" not in str(refused) and "smith" not in str(refused)  # never a value of the request
        return False
    return True


def entry(method: str, url: str) -> dict:
    """A batch entry as a client writes it: a create or update carries the resource its url names."""
    resource = resource_for(method, url.partition("?")[0])
    return {"request": {"method": method, "url": url}, **({"resource": json.loads(resource)} if resource else {})}


def bundle(*entries: tuple[str, str], kind: str = "batch") -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": [entry(m, u) for m, u in entries]}).encode()


# --------------------------------------------------------------------------- resource type and interaction

@pytest.mark.parametrize(("method", "url", "needs"), [
    ("GET", "Patient/123", "system/Patient.r"),
    ("HEAD", "Patient/123", "system/Patient.r"),
    ("GET", "Patient/123/_history/2", "system/Patient.r"),
    ("GET", "Patient/123/_history", "system/Patient.r"),
    ("GET", "Patient?name=smith", "system/Patient.s"),
    ("GET", "Patient", "system/Patient.s"),
    ("GET", "Patient/_search?name=smith", "system/Patient.s"),
    ("GET", "Patient/_history", "system/Patient.s"),
    ("POST", "Patient", "system/Patient.c"),
    ("PUT", "Patient/123", "system/Patient.u"),
    ("PATCH", "Patient/123", "system/Patient.u"),
    ("DELETE", "Patient/123", "system/Patient.d"),
    ("PUT", "Patient?identifier=x", "system/Patient.us"),
    ("PATCH", "Patient?identifier=x", "system/Patient.us"),
    ("DELETE", "Patient?identifier=x", "system/Patient.ds"),
    ("GET", "?_type=Patient", "system/Patient.s"),
    ("GET", "", "system/*.s"),
    ("GET", "_search?name=x", "system/*.s"),
    ("GET", "_history", "system/*.s"),
    ("GET", "Patient/123/$everything", "system/*.rs"),
    ("GET", "$export", "system/*.rs"),
    ("POST", "Patient/$validate", "system/*.cruds"),
])
def test_each_interaction_needs_exactly_its_letter(method, url, needs):
    assert allowed(needs, method, url)
    resource_type, letters = needs.removeprefix("system/").split(".")
    for letter in letters:  # each needed letter is needed: without it, refused
        fewer = letters.replace(letter, "")
        if fewer:
            assert not allowed(f"system/{resource_type}.{fewer}", method, url), (url, fewer)
        else:
            assert not allowed("system/Basic.cruds", method, url), url
    if resource_type != "*":
        assert not allowed(f"system/Observation.{letters}", method, url)  # another type does not help
        assert allowed(f"system/*.{letters}", method, url)


def test_metadata_needs_no_scope():
    assert allowed("system/Basic.r", "GET", "metadata")
    assert not allowed("system/*.cruds", "DELETE", "metadata")


@pytest.mark.parametrize(("method", "url"), [("POST", "Patient/123"), ("PUT", "_search"), ("DELETE", "")])
def test_requests_that_are_no_fhir_interaction_are_refused(method, url):
    assert not allowed("system/*.cruds", method, url)


def test_reads_of_the_reference_client_pass_under_the_default_scopes():
    default = "system/*.rs"
    for url in ("Patient/49", "Observation?patient=SMART-1288992&_sort:desc=date&category=vital-signs",
                "Condition?patient=39&_count=10", "Encounter?patient=11013&_sort:desc=date&_count=1",
                "AllergyIntolerance?patient=1", "MedicationOrder?patient=1&_count=100", "Coverage?patient=19"):
        assert allowed(default, "GET", url), url
    assert allowed(default, "POST", "Patient/_search", b"given=hugh&family=chau", FORM)
    assert allowed(default, "POST", "", bundle(("GET", "Patient/19")), "application/json+fhir;charset=utf-8")


# --------------------------------------------------------------------------- POST _search

def test_post_search_needs_search_and_its_body_is_checked():
    assert allowed("system/Patient.s", "POST", "Patient/_search", b"name=smith", FORM)
    assert not allowed("system/Patient.r", "POST", "Patient/_search", b"name=smith", FORM)
    assert not allowed("system/Patient.s", "POST", "Patient/_search", b"_revinclude=Observation:subject", FORM)
    assert not allowed("system/Patient.s", "POST", "Patient/_search", b"name=x&%5Frevinclude=Observation:subject",
                       f"{FORM}; charset=utf-8")
    assert allowed("system/Patient.s system/Observation.r", "POST", "Patient/_search",
                   b"_revinclude=Observation:subject", FORM)


def test_post_search_with_a_body_that_cannot_be_checked_is_refused():
    assert not allowed("system/Patient.s", "POST", "Patient/_search", b'{"name":"smith"}', "application/json")
    assert not allowed("system/Patient.s", "POST", "Patient/_search", b"name=\xff", FORM)
    assert allowed("system/Patient.s", "POST", "Patient/_search", b"", "")


def test_post_system_search_needs_the_wildcard_or_its_types():
    assert not allowed("system/Patient.s", "POST", "_search", b"name=x", FORM)
    assert allowed("system/Patient.s", "POST", "_search", b"_type=Patient&name=x", FORM)


# --------------------------------------------------------------------------- batch and transaction

def test_every_entry_of_a_batch_is_checked():
    body = bundle(("GET", "Patient/123"), ("GET", "Observation?patient=123"))
    assert allowed("system/Patient.r system/Observation.s", "POST", "", body)
    assert not allowed("system/Patient.r", "POST", "", body)
    assert not allowed("system/Observation.s", "POST", "", body)


def test_every_entry_of_a_transaction_is_checked():
    body = bundle(("POST", "Observation"), ("PUT", "Patient/123"), ("DELETE", "Encounter/9"), kind="transaction")
    assert allowed("system/Observation.c system/Patient.u system/Encounter.d", "POST", "", body)
    assert not allowed("system/Observation.c system/Patient.u", "POST", "", body)
    assert not allowed("system/*.rs", "POST", "", body)


def test_batch_entries_cannot_widen_access_through_their_queries():
    body = bundle(("GET", "Patient?_revinclude=Observation:subject"))
    assert not allowed("system/Patient.s", "POST", "", body)
    assert not allowed("system/Patient.s", "POST", "", bundle(("GET", "?_type=Observation")))
    assert not allowed("system/Patient.s", "POST", "", bundle(("GET", f"{GW}/Observation?patient=1")))


def test_batch_entries_that_cannot_be_checked_are_refused():
    assert not allowed("system/*.cruds", "POST", "", bundle(("POST", "Patient/_search")))
    assert not allowed("system/*.cruds", "POST", "", bundle(("POST", "")))


def test_a_post_to_the_base_that_is_not_a_bundle_is_refused():
    assert not allowed("system/*.cruds", "POST", "", b"name=x", FORM)


def test_an_empty_batch_needs_nothing():
    assert allowed("system/Basic.r", "POST", "", bundle())


# --------------------------------------------------------------------------- compartments

def test_a_compartment_search_needs_search_on_the_type_and_read_on_the_compartment():
    url = "Patient/123/Observation?code=1234-5"
    assert allowed("system/Patient.r system/Observation.s", "GET", url)
    assert not allowed("system/Observation.s", "GET", url)
    assert not allowed("system/Patient.rs", "GET", url)
    assert not allowed("system/Patient.s system/Observation.s", "GET", url)  # s on Patient is not r
    assert not allowed("system/Patient.r system/Observation.r", "GET", url)


def test_a_compartment_search_checks_its_includes():
    assert not allowed("system/Patient.r system/Observation.s", "GET",
                       "Patient/123/Observation?_include=Observation:performer:Practitioner")


# --------------------------------------------------------------------------- _include / _revinclude

@pytest.mark.parametrize("query", [
    "_include=Observation:performer:Practitioner",
    "_include:iterate=Observation:performer:Practitioner",
    "_include:recurse=Observation:performer:Practitioner",
    "_revinclude=Practitioner:organization",
    "_revinclude:iterate=Practitioner:organization:Organization",
    "%5Finclude=Observation:performer:Practitioner",
    "_include=Observation%3Aperformer%3APractitioner",
    "_include=Observation:subject:Patient,Observation:performer:Practitioner",
    "_include=Observation:subject:Patient&_include=Observation:performer:Practitioner",
])
def test_includes_need_the_included_type(query):
    assert not allowed("system/Observation.s system/Patient.r", "GET", f"Observation?{query}")
    assert allowed("system/Observation.s system/Patient.r system/Practitioner.r", "GET", f"Observation?{query}")
    assert allowed("system/Observation.s system/Patient.s system/Practitioner.s", "GET", f"Observation?{query}")


@pytest.mark.parametrize("query", ["_include=*", "_revinclude=*", "_include=Observation:*",
                                   "_include=Observation:subject", "_include:iterate=Observation:performer",
                                   "_revinclude=", "_include="])
def test_wildcard_or_open_includes_need_the_wildcard(query):
    assert not allowed("system/Observation.s system/Patient.rs system/Group.rs", "GET", f"Observation?{query}")
    assert allowed("system/Observation.s system/*.r", "GET", f"Observation?{query}")


def test_includes_of_granted_types_pass():
    assert allowed("system/Observation.s system/Patient.r", "GET",
                   "Observation?patient=1&_include=Observation:subject:Patient")
    assert allowed("system/Patient.rs system/Observation.s", "GET",
                   "Patient?_revinclude=Observation:subject")


# --------------------------------------------------------------------------- _type, chains, _has

def test_system_search_with_type_needs_search_on_each_type():
    assert allowed("system/Patient.s system/Observation.s", "GET", "?_type=Patient,Observation")
    assert not allowed("system/Patient.s", "GET", "?_type=Patient,Observation")
    assert not allowed("system/Patient.s", "GET", "?_type=Patient&_type=Observation")
    assert not allowed("system/Patient.s", "GET", "?_type=*")
    assert allowed("system/*.s", "GET", "?_type=Patient,Observation")


def test_type_on_a_type_search_cannot_add_types():
    assert not allowed("system/Patient.s", "GET", "Patient?_type=Observation")


@pytest.mark.parametrize(("query", "other"), [
    ("subject:Patient.name=smith", "system/Patient.s"),
    ("subject:Patient.organization:Organization.name=x", "system/Patient.s system/Organization.s"),
    ("_has:Observation:patient:code=1234", "system/Observation.s"),
    ("_has:Observation:patient:_has:AuditEvent:entity:agent=x", "system/Observation.s system/AuditEvent.s"),
])
def test_chains_need_search_on_the_chained_type(query, other):
    assert not allowed("system/Encounter.s", "GET", f"Encounter?{query}")
    assert allowed(f"system/Encounter.s {other}", "GET", f"Encounter?{query}")


@pytest.mark.parametrize("query", ["subject.name=smith", "_query=everything", "_filter=name eq x"])
def test_open_chains_and_free_queries_need_the_wildcard(query):
    assert not allowed("system/Encounter.s system/Patient.s", "GET", f"Encounter?{query}")
    assert allowed("system/*.s", "GET", f"Encounter?{query}")


def test_needed_permissions_lists_each_need():
    needs = needed_permissions("GET", check_path("Patient/1/Observation"), "_include=Observation:performer")
    assert [(n.resource_type, n.interaction, n.included) for n in needs] == [
        ("Patient", "read", False), ("Observation", "search-type", False),  # STU3 Observation-performer's targets:
        *((t, "read", True) for t in ("Organization", "Patient", "Practitioner", "RelatedPerson"))]


@pytest.mark.parametrize("url", ["Patient/123?_include=Patient:general-practitioner:Practitioner",
                                 "metadata?_include=*", "Patient/123/_history?_revinclude=Provenance:target",
                                 "Patient/123?_type=Observation"])
def test_widening_parameters_are_checked_on_every_request_not_only_searches(url):
    assert not allowed("system/Patient.rs", "GET", url)


def test_a_semicolon_cannot_hide_a_widening_parameter():
    assert not allowed("system/Patient.s", "GET", "Patient?name=x;_revinclude=Observation:subject")
    assert allowed("system/Patient.s", "GET", "Patient?name=x;y")
