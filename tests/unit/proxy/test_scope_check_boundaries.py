"""SMART scope enforcement on proxied requests, exactly: the 403 message each refusal gives (it names the
interaction and the type, never a value), the parameter-count limit to the parameter, search parameters that
cannot be decoded, a form body that must not hide the query's parameters, and chains several links long.
"""

from __future__ import annotations

import pytest

from gateway.proxy.access import parse_batch
from gateway.proxy.paths import check_path
from gateway.proxy.scope_check import MAX_SEARCH_PARAMETERS, ScopeRefused, check_scopes
from gateway.scopes import SmartScopes
from tests.support.constants import FORM, GW
from tests.unit.proxy.test_scope_check import allowed, bundle, resource_for


def refusal(scopes: str, method: str, url: str, body: bytes = b"", content_type: str = "") -> str:
    path, _, query = url.partition("?")
    checked = check_path(path)
    if not body and (body := resource_for(method, path)):
        content_type = content_type or "application/fhir+json"
    batch = parse_batch(body, content_type or "application/fhir+json", GW) \
        if method == "POST" and checked.is_base else None
    with pytest.raises(ScopeRefused) as info:
        check_scopes(SmartScopes.parse(scopes), method, checked, query, body=body, content_type=content_type,
                     batch=batch)
    return str(info.value)


NOT_CHECKABLE = "The search parameters cannot be checked against the token's scopes."


@pytest.mark.parametrize("scopes,method,url,message", [
    ("system/Patient.rs", "GET", "_history", "The token's scopes do not allow history-system on every resource type."),
    ("system/Patient.rs", "GET", "", "The token's scopes do not allow search-system on every resource type."),
    ("system/Patient.rs", "GET", "Observation/1", "The token's scopes do not allow read on Observation."),
    ("system/Patient.rs", "PATCH", "Patient?identifier=x", "The token's scopes do not allow patch on Patient."),
    ("system/Patient.rs", "PUT", "Patient?identifier=x", "The token's scopes do not allow update on Patient."),
    ("system/Patient.rs", "DELETE", "Patient?identifier=x", "The token's scopes do not allow delete on Patient."),
    ("system/Patient.rs", "GET", "Patient?_include=Patient:organization:Organization",
     "The token's scopes do not allow returning Organization."),
    ("system/Patient.rs", "GET", "Patient?_include=Patient:organization",
     "The token's scopes do not allow returning Organization."),
    ("system/Patient.rs", "GET", "Patient?_include=Patient:link",
     "The token's scopes do not allow returning RelatedPerson."),  # STU3 Patient-link: Patient, RelatedPerson
    ("system/Patient.rs", "GET", "Patient?_include=Patient:nothing",
     "The token's scopes do not allow returning every resource type."),
    ("system/Patient.rs", "GET", "Patient?a=%FF", NOT_CHECKABLE),
    ("system/Patient.rs", "GET", "Patient?%FE%FF=1", NOT_CHECKABLE),
    ("system/Patient.rs", "GET", "Patient?a=1;b=%FF", NOT_CHECKABLE),
])
def test_each_refusal_says_exactly_what_is_not_allowed(scopes, method, url, message):
    assert refusal(scopes, method, url) == message


def test_a_request_may_carry_exactly_as_many_search_parameters_as_the_limit():
    at_limit = "&".join(f"p{n}=1" for n in range(MAX_SEARCH_PARAMETERS))
    assert allowed("system/Patient.s", "GET", f"Patient?{at_limit}")
    assert refusal("system/Patient.s", "GET", f"Patient?{at_limit}&one=more") == NOT_CHECKABLE
    semicolons = ";".join(f"p{n}=1" for n in range(MAX_SEARCH_PARAMETERS + 1))
    assert refusal("system/Patient.s", "GET", f"Patient?{semicolons}") == NOT_CHECKABLE


def test_a_form_body_does_not_hide_the_query_of_a_post_search():
    url = "Patient/_search?_include=Patient:organization:Organization"
    assert not allowed("system/Patient.rs", "POST", url, b"name=smith", FORM)
    assert allowed("system/Patient.rs system/Organization.r", "POST", url, b"name=smith", FORM)


@pytest.mark.parametrize("content_type", [FORM, f"{FORM};charset=UTF-8", f"{FORM} ; charset=utf-8",
                                          f"{FORM}; charset=utf-8; x=y", FORM.upper()])
def test_a_form_body_is_recognised_with_its_media_type_parameters(content_type):
    assert allowed("system/Patient.s", "POST", "Patient/_search", b"name=smith", content_type)


def test_refused_post_search_bodies_say_exactly_why():
    assert refusal("system/Patient.s", "POST", "Patient/_search", b'{"name": "x"}', "application/json") == (
        "A POST search must send its parameters form-encoded (application/x-www-form-urlencoded) "
        "so the gateway can check them.")
    assert refusal("system/Patient.s", "POST", "Patient/_search", b"name=\xff", FORM) == NOT_CHECKABLE


def test_refused_batch_entries_say_exactly_why():
    nested = bundle(("POST", ""))
    assert refusal("system/*.cruds", "POST", "", nested) == \
        "A batch or transaction entry may not address the FHIR base."
    search = bundle(("POST", "Patient/_search"))
    assert refusal("system/*.cruds", "POST", "", search) == \
        "A batch entry may not be a POST search; use GET with the parameters in its url."


def test_every_link_of_a_chain_is_checked():
    url = "Observation?subject:Patient.organization:Organization.name=x"
    assert allowed("system/Observation.s system/Patient.s system/Organization.s", "GET", url)
    assert not allowed("system/Observation.s system/Patient.s", "GET", url)
    assert not allowed("system/Observation.s system/Organization.s", "GET", url)


BAD_NAME = ("A search parameter name is not one the gateway can check (names are case-sensitive; special "
            "parameters start with '_' and take only the modifiers FHIR defines).")


@pytest.mark.parametrize("name", ["_has", "_has:Observation", "_has:Observation:patient",
                                  "_has:observation:patient:code", "_has:Observation:patient:code.x",
                                  "_has:Observation:patient:_include", "_has:Observation::code",
                                  "_has:Observation:patient:code:text:x"])
def test_a_reverse_chain_that_is_not_fhir_syntax_is_refused_whatever_the_scopes(name):
    assert refusal("system/*.cruds", "GET", f"Patient?{name}=x") == BAD_NAME


def test_a_reverse_chain_needs_search_on_each_of_its_types():
    assert allowed("system/Patient.s system/Observation.s", "GET", "Patient?_has:Observation:patient:code=x")
    assert allowed("system/Patient.s system/Observation.s", "GET", "Patient?_has:Observation:patient:_id=x")
    assert allowed("system/Patient.s system/Observation.s", "GET", "Patient?_has:Observation:patient:code:text=x")
    assert refusal("system/Patient.s", "GET", "Patient?_has:Observation:patient:code=x") == \
        "The token's scopes do not allow search-type on Observation."


def test_a_query_is_checked_as_split_on_ampersands_alone_too():
    """A server that does not split on ``;`` reads ``_type=Observation;Patient`` as one type name, which no scope
    grants; the check reads the query both ways and needs both readings granted."""
    scopes = "system/Observation.s system/Patient.s"
    assert allowed(scopes, "GET", "?_type=Observation&_type=Patient")
    assert not allowed(scopes, "GET", "?_type=Observation;Patient")
    assert allowed("system/*.s", "GET", "?_type=Observation;Patient")


def test_a_chain_link_naming_more_than_one_type_is_refused():
    """FHIR's chain modifier names one type (``subject:Patient.name``); a link such as ``subject:Foo:Patient``
    is not FHIR syntax and a server could read it either way."""
    assert refusal("system/*.cruds", "GET", "Observation?subject:Foo:Patient.name=x") == BAD_NAME


def test_a_post_to_the_base_without_a_bundle_is_refused_exactly():
    with pytest.raises(ScopeRefused) as info:
        check_scopes(SmartScopes.parse("system/*.cruds"), "POST", check_path(""), "", body=b"{}",
                     content_type="application/fhir+json", batch=None)
    assert str(info.value) == "Only a batch or transaction Bundle may be posted to the base."
