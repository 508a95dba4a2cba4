"""The scope rules that real clients meet (gateway.proxy.scope_check with gateway.proxy.search_needs): paging on
the FHIR base, includes and chains decided from each version's definitions, $lastn, _contained, create and update
bodies, conditional creates, and parameter names matched exactly."""

from __future__ import annotations

import json

import pytest

from gateway.proxy import page_links
from gateway.proxy.access import parse_batch
from gateway.proxy.paths import check_path
from gateway.proxy.scope_check import ScopeRefused, check_scopes, needed_permissions
from gateway.scopes import SmartScopes
from tests.support.constants import GW, TENANT
from tests.unit.proxy.test_page_links import Keys
from tests.unit.proxy.test_scope_check import allowed, bundle

NOW = 1_900_000_000
PAGE = "_getpages=5c1a&_getpagesoffset=2&_count=2&_bundletype=searchset"
BAD_NAME = ("A search parameter name is not one the gateway can check (names are case-sensitive; special "
            "parameters start with '_' and take only the modifiers FHIR defines).")


def refusal(scopes: str, method: str, url: str, body: bytes = b"", content_type: str = "", **kwargs) -> str:
    path, _, query = url.partition("?")
    checked = check_path(path)
    batch = parse_batch(body, content_type or "application/fhir+json", GW) \
        if method == "POST" and checked.is_base else None
    with pytest.raises(ScopeRefused) as info:
        check_scopes(SmartScopes.parse(scopes), method, checked, query, body=body, content_type=content_type,
                     batch=batch, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- paging on the FHIR base

def verifier(tenant: str = TENANT, client_id: str = "app"):
    def verify(token: str, continuation: str):
        return page_links.verify(Keys(), token, continuation=continuation, tenant=tenant, client_id=client_id,
                                 now=NOW)
    return verify


def signed_page(first_page: str, query: str = PAGE, *, version: str = "STU3") -> str:
    """The next link the gateway hands out for ``first_page`` (a GET), as the client sends it back."""
    path, _, first_query = first_page.partition("?")
    needs = needed_permissions("GET", check_path(path), first_query, fhir_version=version)
    token = page_links.sign(Keys(), continuation="?" + query, tenant=TENANT, client_id="app", needs=needs,
                            expires=NOW + 60)
    return f"{query}&{page_links.PAGE_PARAMETER}={token}"


def page_allowed(scopes: str, query: str, **kwargs) -> bool:
    try:
        check_scopes(SmartScopes.parse(scopes), "GET", check_path(""), query, verify_page=verifier(**kwargs))
    except ScopeRefused:
        return False
    return True


@pytest.mark.parametrize("extra", ["_type=Patient", "_type=Patient,Observation", "_type=Observation"])
def test_a_base_page_link_with_a_type_added_needs_a_system_search(extra):
    """HAPI serves the page its id names whatever ``_type`` says: ``&_type=Patient`` must not pass for a token
    holding only Patient (the provider would answer with the Observation page)."""
    assert refusal("system/Patient.rs", "GET", f"?{PAGE}&{extra}") == \
        "The token's scopes do not allow search-system on every resource type."
    assert allowed("system/*.rs", "GET", f"?{PAGE}&{extra}")


@pytest.mark.parametrize("name", ["_TYPE", "_type:x", "%20_type", "_Type", "_type%20", "%5FTYPE", "_type:exact"])
def test_near_miss_spellings_of_type_are_refused_whatever_the_scopes(name):
    assert refusal("system/*.cruds", "GET", f"?{PAGE}&{name}=Patient") == BAD_NAME
    assert refusal("system/*.cruds", "GET", f"?{name}=Patient") == BAD_NAME


@pytest.mark.parametrize("path", ["Patient", "Patient/1", "Patient/_search", "Patient/1/_history", "metadata",
                                  "Patient/1/Observation", "_history"])
def test_paging_parameters_off_the_base_are_refused(path):
    assert not allowed("system/*.cruds", "GET", f"{path}?_getpages=5c1a")
    assert not allowed("system/*.cruds", "GET", f"{path}?_getpagesoffset=2")


def test_a_page_link_the_gateway_signed_needs_what_the_first_page_needed():
    link = signed_page("Observation?patient=1&_count=2")
    assert page_allowed("system/Observation.s", link)
    assert page_allowed("system/Observation.rs system/Patient.rs", link)
    assert not page_allowed("system/Patient.rs", link)  # scopes narrowed since: refused
    assert not page_allowed("system/Observation.r", link)


def test_a_signed_page_link_keeps_the_needs_of_the_first_pages_includes():
    link = signed_page("Encounter?patient=1&_include=Encounter:location")
    assert page_allowed("system/Encounter.s system/Location.r", link)
    assert not page_allowed("system/Encounter.s", link)


@pytest.mark.parametrize("tamper", [
    lambda link: link.replace("_getpagesoffset=2", "_getpagesoffset=4"),
    lambda link: link.replace("_getpages=5c1a", "_getpages=6d2b"),
    lambda link: "_type=Patient&" + link,
    lambda link: link + "&_type=Patient",
    lambda link: link.replace("&_count=2", ""),
])
def test_a_signed_page_link_changed_in_any_way_is_a_system_search(tamper):
    link = tamper(signed_page("Patient?name=x"))
    assert not page_allowed("system/Patient.rs", link)


def test_a_page_link_signed_for_another_tenant_or_client_is_a_system_search():
    link = signed_page("Patient?name=x")
    assert not page_allowed("system/Patient.rs", link, tenant="0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f")
    assert not page_allowed("system/Patient.rs", link, client_id="other-app")
    assert page_allowed("system/*.s", link, client_id="other-app")  # * s could search the base anyway


def test_without_a_page_link_verifier_a_token_is_not_taken():
    link = signed_page("Patient?name=x")
    assert not allowed("system/Patient.rs", "GET", "?" + link)
    assert allowed("system/*.s", "GET", "?" + link)


def test_a_page_token_anywhere_but_last_is_refused():
    link = signed_page("Patient?name=x") + "&_count=3"
    assert refusal("system/*.cruds", "GET", "?" + link, verify_page=verifier()) == BAD_NAME


def test_a_page_link_of_a_system_search_by_type_needs_those_types():
    link = signed_page("?_type=Patient,Observation")
    assert page_allowed("system/Patient.s system/Observation.s", link)
    assert not page_allowed("system/Patient.s", link)


# --------------------------------------------------------------------------- system search

def test_a_system_search_by_type_may_use_parameters_every_named_type_defines():
    assert allowed("system/Patient.s", "GET", "?_type=Patient&name=smith&_count=10&_lastUpdated=gt2020")
    assert allowed("system/Patient.s system/Observation.s", "GET", "?_type=Patient,Observation&_id=1")
    assert refusal("system/Patient.s system/Observation.s", "GET", "?_type=Patient,Observation&name=x") == \
        "The token's scopes do not allow search-system on every resource type."  # Observation has no "name"
    assert not allowed("system/Patient.s", "GET", "?_type=Patient&foo=bar")
    assert allowed("system/*.s", "GET", "?_type=Patient&foo=bar")


@pytest.mark.parametrize("value", ["*", "", "Patient,", "patient", "Patient;Observation", "Patient Observation"])
def test_a_type_list_that_is_not_type_names_needs_a_system_search(value):
    assert not allowed("system/Patient.s system/Observation.s", "GET", f"?_type={value}")
    assert allowed("system/*.s", "GET", f"?_type={value}")


def test_type_is_only_for_the_base():
    assert refusal("system/*.cruds", "GET", "Patient?_type=Observation") == (
        "Only a search on the FHIR base may name types (_type), and only a page link the gateway handed out may "
        "name a page (_getpages).")


# --------------------------------------------------------------------------- includes and chains per version

@pytest.mark.parametrize(("version", "url", "types"), [
    ("R4", "MedicationRequest?patient=1&_include=MedicationRequest:medication", "MedicationRequest Medication"),
    ("R4", "Encounter?patient=1&_include=Encounter:location", "Encounter Location"),
    ("R4", "Observation?patient=1&_include=Observation:patient", "Observation Patient"),
    ("R4", "Observation?patient=1&_include=Observation:encounter", "Observation Encounter"),
    ("DSTU2", "MedicationOrder?patient=1&_include=MedicationOrder:medication", "MedicationOrder Medication"),
    ("STU3", "MedicationRequest?patient=1&_include=MedicationRequest:medication", "MedicationRequest Medication"),
    ("R4", "Observation?patient.identifier=1234567", "Observation Patient"),
    ("R4", "Observation?patient:Patient.identifier=1234567", "Observation Patient"),
    ("DSTU2", "Observation?patient:Patient.identifier=1234567", "Observation Patient"),
])
def test_us_core_includes_and_chains_pass_with_the_types_they_reach(version, url, types):
    scopes = " ".join(f"system/{t}.rs" for t in types.split())
    assert allowed(scopes, "GET", url, version=version)
    for left_out in types.split()[1:]:
        fewer = " ".join(f"system/{t}.rs" for t in types.split() if t != left_out)
        assert not allowed(fewer, "GET", url, version=version), left_out


@pytest.mark.parametrize(("version", "missing"), [("DSTU2", "Device"), ("STU3", "Group")])
def test_a_parameter_with_several_targets_needs_all_of_them(version, missing):
    url = "Observation?patient=1&_include=Observation:patient"
    everything = "system/Observation.s system/Patient.r system/Group.r system/Device.r system/Location.r"
    assert allowed(everything, "GET", url, version=version)
    assert not allowed(everything.replace(f" system/{missing}.r", ""), "GET", url, version=version)


def test_an_include_naming_a_target_the_parameter_cannot_reach_needs_every_target():
    url = "Observation?_include=Observation:subject:Organization"
    assert not allowed("system/Observation.s system/Organization.r", "GET", url, version="R4")
    assert allowed("system/Observation.s system/Device.r system/Group.r system/Location.r system/Patient.r",
                   "GET", url, version="R4")


@pytest.mark.parametrize("url", ["Observation?_include=Observation:nothing", "Observation?_include=Nothing:x",
                                 "Observation?_include=Observation:code", "Observation?nothing.name=x",
                                 "Observation?code.name=x", "Linkage?_include=Linkage:item",
                                 "Observation?_include= Observation:subject:Patient"])
def test_an_include_or_chain_the_definitions_do_not_resolve_needs_every_type(url):
    assert not allowed("system/Observation.rs system/Patient.rs system/Linkage.rs", "GET", url, version="STU3")
    assert allowed("system/*.rs", "GET", url, version="STU3")


def test_a_multi_link_chain_follows_the_definitions_link_by_link():
    url = "Encounter?location.organization.name=Acme"
    assert allowed("system/Encounter.s system/Location.s system/Organization.s", "GET", url, version="R4")
    assert not allowed("system/Encounter.s system/Location.s", "GET", url, version="R4")


def test_a_chain_or_include_in_a_version_without_that_parameter_needs_every_type():
    url = "MedicationRequest?_include=MedicationRequest:medication"
    assert not allowed("system/MedicationRequest.s system/Medication.r", "GET", url, version="DSTU2")


# --------------------------------------------------------------------------- $lastn, _contained

def test_lastn_is_an_observation_search():
    assert allowed("system/Observation.s", "GET", "Observation/$lastn?patient=1&category=vital-signs&max=3",
                   version="R4")
    assert allowed("system/Observation.s", "HEAD", "Observation/$lastn?patient=1", version="R4")
    assert not allowed("system/Observation.r system/Patient.rs", "GET", "Observation/$lastn?patient=1")
    assert not allowed("system/Observation.s", "GET", "Observation/$lastn?_include=Observation:subject:Patient")
    assert not allowed("system/Observation.s", "POST", "Observation/$lastn", b'{"resourceType":"Parameters"}',
                       "application/fhir+json")
    assert not allowed("system/Observation.s system/Condition.s", "GET", "Condition/$lastn?patient=1")
    assert not allowed("system/Observation.s", "GET", "Observation/1/$lastn")


@pytest.mark.parametrize("query", ["_contained=true", "_contained=both", "_contained=false",
                                   "_containedType=contained", "_containedType=container"])
def test_contained_resources_need_the_wildcard_for_the_interaction(query):
    assert refusal("system/Observation.rs system/Patient.rs", "GET", f"Observation?{query}") == \
        "The token's scopes do not allow search-type on every resource type."
    assert allowed("system/*.s", "GET", f"Observation?{query}")
    assert not allowed("system/*.cruds", "GET", "Observation?" + query.replace("=", ":x="))


# --------------------------------------------------------------------------- bodies and conditional creates

def create(resource: dict) -> bytes:
    return json.dumps(resource).encode()


def test_a_created_resource_must_be_of_the_type_its_url_names():
    assert allowed("system/Patient.c", "POST", "Patient", create({"resourceType": "Patient"}))
    assert refusal("system/Patient.c system/Observation.c", "POST", "Patient",
                   create({"resourceType": "Observation"}), "application/fhir+json") == \
        "The resource sent is not a Patient, the type its URL names."
    for body in (b"", b"[]", b'{"resourceType": 1}', b"{}", b'{"resourceType":"Patient","resourceType":"Patient"}'):
        refusal("system/*.cruds", "POST", "Patient", body, "application/fhir+json")


@pytest.mark.parametrize("content_type", ["application/fhir+xml", "application/xml", "text/plain",
                                          "application/x-www-form-urlencoded"])
def test_a_created_resource_must_be_json(content_type):
    assert refusal("system/*.cruds", "POST", "Patient", create({"resourceType": "Patient"}), content_type) == \
        "A created or updated resource must be sent as FHIR JSON so the gateway can check it."


def test_an_updated_resource_must_carry_the_type_and_id_its_url_names():
    assert allowed("system/Patient.u", "PUT", "Patient/1", create({"resourceType": "Patient", "id": "1"}))
    assert refusal("system/Patient.u", "PUT", "Patient/1", create({"resourceType": "Patient", "id": "2"}),
                   "application/fhir+json") == "The resource sent must carry the id its URL names."
    assert not allowed("system/Patient.u", "PUT", "Patient/1", create({"resourceType": "Patient"}))
    assert not allowed("system/*.cruds", "PUT", "Patient/1", create({"resourceType": "Observation", "id": "1"}))
    assert allowed("system/Patient.us", "PUT", "Patient?identifier=x", create({"resourceType": "Patient"}))
    assert not allowed("system/*.cruds", "PUT", "Patient?identifier=x", create({"resourceType": "Observation"}))


def test_transaction_entries_carry_the_resource_their_url_names():
    def transaction(*entries: dict) -> bytes:
        return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}).encode()

    good = {"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}}
    assert allowed("system/Patient.c", "POST", "", transaction(good))
    for bad in ({"request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Observation"}},
                {"request": {"method": "POST", "url": "Patient"}},
                {"request": {"method": "PUT", "url": "Patient/1"}, "resource": {"resourceType": "Patient", "id": "2"}},
                {"request": {"method": "PUT", "url": "Patient?identifier=x"}, "resource": {"resourceType": "Group"}}):
        assert not allowed("system/*.cruds", "POST", "", transaction(good, bad)), bad


def test_a_conditional_create_is_a_search_on_its_type():
    body = create({"resourceType": "Patient"})
    assert allowed("system/Patient.cs", "POST", "Patient", body, if_none_exist="identifier=x")
    assert allowed("system/Patient.cs", "POST", "Patient", body, if_none_exist="?identifier=x")
    assert not allowed("system/Patient.c", "POST", "Patient", body, if_none_exist="identifier=x")
    assert refusal("system/Patient.cs", "POST", "Patient", body, "application/fhir+json",
                   if_none_exist="_has:Observation:subject:code=1234-5") == \
        "The token's scopes do not allow search-type on Observation."
    assert allowed("system/Patient.cs system/Observation.s", "POST", "Patient", body,
                   if_none_exist="_has:Observation:subject:code=1234-5")
    assert not allowed("system/*.cruds", "POST", "Patient", body, if_none_exist="_TYPE=x")


def test_a_transaction_entrys_if_none_exist_is_a_search_on_its_type():
    def entry(search: str) -> bytes:
        return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "POST", "url": "Patient", "ifNoneExist": search},
             "resource": {"resourceType": "Patient"}}]}).encode()

    assert allowed("system/Patient.cs", "POST", "", entry("identifier=x"))
    assert not allowed("system/Patient.c", "POST", "", entry("identifier=x"))
    assert not allowed("system/Patient.cs", "POST", "", entry("_has:Observation:subject:code=1234-5"))
    assert allowed("system/Patient.cs system/Observation.s", "POST", "", entry("_has:Observation:subject:code=1"))


def test_batch_entries_on_the_base_are_refused():
    for entry in (("GET", "?_type=Patient"), ("GET", "_search?name=x"), ("POST", "")):
        assert refusal("system/*.cruds", "POST", "", bundle(entry)) == \
            "A batch or transaction entry may not address the FHIR base."


# --------------------------------------------------------------------------- exact names

@pytest.mark.parametrize("name", ["_Include", "_INCLUDE", "_include:Iterate", "_include:x", "_revInclude",
                                  "_REVINCLUDE", "_count:x", "_sort:foo", "_summary:x", "_id:Patient", "_foo",
                                  "_getpages", "_gateway_page", " _count", "_count ", "name\t", "na me",
                                  "_elements:x", "-", "_has:Observation:patient:_include"])
def test_a_name_that_fhir_does_not_define_that_way_is_refused_whatever_the_scopes(name):
    assert not allowed("system/*.cruds", "GET", f"Patient?{name}=x")


@pytest.mark.parametrize("name", ["name", "name:contains", "name:exact", "birthdate", "_id", "_id:not",
                                  "_lastUpdated", "_tag:not", "_profile:below", "_count", "_sort", "_sort:desc",
                                  "_sort:asc", "_summary", "_elements", "_format", "_pretty", "_offset", "_list",
                                  "_total", "_cursor", "_page", "-pageContext", "general-practitioner:Practitioner",
                                  "us-core-race"])
def test_names_fhir_defines_pass(name):
    assert allowed("system/Patient.s", "GET", f"Patient?{name}=x")


def test_an_unknown_fhir_version_is_refused_rather_than_guessed():
    with pytest.raises(ScopeRefused) as info:
        check_scopes(SmartScopes.parse("system/*.cruds"), "GET", check_path("Patient/1"), fhir_version="R5")
    assert str(info.value) == "The FHIR version of this connection is not one the gateway can check requests for."


def test_a_system_search_by_type_recognises_modifiers_and_chains_of_the_named_types():
    assert allowed("system/Patient.s", "GET", "?_type=Patient&name:contains=chau&family:exact=Chau", version="R4")
    assert allowed("system/Observation.s system/Patient.s", "GET", "?_type=Observation&patient.identifier=1",
                   version="R4")
    assert not allowed("system/Observation.s", "GET", "?_type=Observation&patient.identifier=1", version="R4")


def test_a_conditional_creates_chain_starts_from_the_created_type():
    body = create({"resourceType": "Patient"})
    assert allowed("system/Patient.cs system/Organization.s", "POST", "Patient", body, version="R4",
                   if_none_exist="organization.name=Acme")
    assert not allowed("system/Patient.cs", "POST", "Patient", body, version="R4",
                       if_none_exist="organization.name=Acme")
    entry = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Patient", "ifNoneExist": "organization.name=Acme"},
         "resource": {"resourceType": "Patient"}}]}).encode()
    assert allowed("system/Patient.cs system/Organization.s", "POST", "", entry, version="R4")
    assert not allowed("system/Patient.cs", "POST", "", entry, version="R4")


def test_a_body_repeating_a_name_cannot_be_checked():
    assert refusal("system/*.cruds", "POST", "Patient", b'{"resourceType":"Patient","resourceType":"Patient"}',
                   "application/fhir+json") == \
        "A created or updated resource must be sent as FHIR JSON so the gateway can check it."
    assert refusal("system/*.cruds", "POST", "Patient", b'[{"resourceType":"Patient"}]', "application/fhir+json") \
        == "A created or updated resource must be sent as FHIR JSON so the gateway can check it."


def test_a_chain_link_from_several_types_reaches_what_any_of_them_reaches():
    """``finding-ref`` reaches Condition, Media and Observation; their ``subject`` reaches, together, Device, Group,
    Location, Patient, Practitioner, PractitionerRole and Specimen (Media's)."""
    types = ("ClinicalImpression Condition Media Observation Device Group Location Patient Practitioner "
             "PractitionerRole Specimen")
    url = "ClinicalImpression?finding-ref.subject.name=x"
    assert allowed(" ".join(f"system/{t}.s" for t in types.split()), "GET", url, version="R4")
    assert not allowed(" ".join(f"system/{t}.s" for t in types.split() if t != "Specimen"), "GET", url,
                       version="R4")


def test_a_page_token_that_does_not_verify_makes_any_base_request_a_system_search():
    for query in ("_type=Patient&_gateway_page=v1.x", "_type=Patient&name=x&_gateway_page=" + "A" * 60):
        assert not page_allowed("system/Patient.rs", query)
        assert not allowed("system/Patient.rs", "GET", "?" + query)
        assert page_allowed("system/*.s", query)


def test_a_chain_on_a_system_search_of_several_types_starts_from_each_of_them():
    url = "?_type=Observation,Condition&patient.identifier=1"
    assert allowed("system/Observation.s system/Condition.s system/Patient.s", "GET", url, version="R4")
    assert not allowed("system/Observation.s system/Condition.s", "GET", url, version="R4")
    url = "?_type=Observation,DiagnosticReport&subject.name=x"  # DSTU2: subject reaches several types from each
    assert not allowed("system/Observation.s system/DiagnosticReport.s system/Patient.s", "GET", url,
                       version="DSTU2")


def test_both_readings_of_a_query_with_semicolons_are_checked():
    """A server splitting on ``&`` alone reads ``_include`` as one value, another reads ``;`` as a separator."""
    scopes = "system/Observation.s system/Patient.r"
    assert not allowed(scopes, "GET", "Observation?_include=Observation:subject:Patient;x=1")
    assert allowed(scopes, "GET", "Observation?_include=Observation:subject:Patient&x=1")
    assert not allowed("system/Patient.s", "GET", "Patient?name=x;_include=")


def test_parameters_of_metadata_and_system_history_are_read_in_the_version():
    assert allowed("system/Patient.r", "GET", "metadata?_lastUpdated=gt2020-01-01")
    assert allowed("system/*.s", "GET", "_history?_lastUpdated=gt2020-01-01")


def test_a_chain_on_lastn_starts_from_observation():
    url = "Observation/$lastn?patient.identifier=1234567"
    assert allowed("system/Observation.s system/Patient.s", "GET", url, version="R4")
    assert not allowed("system/Observation.s", "GET", url, version="R4")


def test_contained_on_a_read_needs_read_on_every_type():
    assert allowed("system/*.r", "GET", "Patient/1?_contained=true")
    assert not allowed("system/*.s system/Patient.r", "GET", "Patient/1?_contained=true")


def test_every_parameter_after_a_reverse_chain_is_checked_too():
    url = "Patient?_has:Observation:patient:code=1234-5&_include=*"
    assert not allowed("system/Patient.s system/Observation.s", "GET", url)
    assert allowed("system/Patient.s system/Observation.s system/*.r", "GET", url)


def test_a_body_without_a_content_type_is_read_as_json():
    check_scopes(SmartScopes.parse("system/Patient.c"), "POST", check_path("Patient"),
                 body=b'{"resourceType":"Patient"}')
    with pytest.raises(ScopeRefused):
        check_scopes(SmartScopes.parse("system/Patient.c"), "POST", check_path("Patient"),
                     body=b'{"resourceType":"Group"}')


def test_a_head_on_a_signed_page_link_is_judged_as_its_get():
    link = signed_page("Observation?patient=1&_count=2")
    check_scopes(SmartScopes.parse("system/Observation.s"), "HEAD", check_path(""), link, verify_page=verifier())


def test_free_queries_need_search_on_every_type_whatever_the_request():
    assert not allowed("system/*.r", "GET", "Patient/1?_query=everything")
    assert not allowed("system/*.r", "GET", "Patient/1?_filter=name eq x")
    assert allowed("system/*.rs", "GET", "Patient/1?_query=everything")


def test_contained_and_chains_on_metadata_and_history_are_checked_without_a_type():
    assert not allowed("system/*.r", "GET", "metadata?_contained=true")
    assert allowed("system/*.s", "GET", "metadata?_contained=true")
    assert allowed("system/*.s", "GET", "_history?subject.name=x")
    assert not allowed("system/Patient.s", "GET", "Patient/_history?_contained=true")
