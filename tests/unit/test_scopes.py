"""SMART system scopes (SMART App Launch 2.x scopes): parsing the ``scope`` parameter, the granted set, granting."""

from __future__ import annotations

import pytest

from gateway.oauth.errors import InvalidScope
from gateway.oauth.grant import requested_tenant
from gateway.scopes import (
    DEFAULT_ALLOWED_SCOPES,
    ScopeRequest,
    ScopeRequestError,
    ScopeSyntaxError,
    SmartScopes,
    grant_from_claim,
    grant_scopes,
    parse_allowed_scopes,
    parse_scope_parameter,
    parse_scope_token,
)
from tests.support.constants import OTHER_TENANT, TENANT

# --------------------------------------------------------------------------- one scope token

@pytest.mark.parametrize(("token", "resource_type", "letters"), [
    ("system/Patient.rs", "Patient", "rs"),
    ("system/Observation.r", "Observation", "r"),
    ("system/*.rs", "*", "rs"),
    ("system/*.cruds", "*", "cruds"),
    ("system/Encounter.cud", "Encounter", "cud"),
    ("system/Patient.s", "Patient", "s"),
    ("system/Patient.cd", "Patient", "cd"),
    ("system/Patient.read", "Patient", "rs"),
    ("system/*.read", "*", "rs"),
    ("system/*.write", "*", "cud"),
    ("system/*.*", "*", "cruds"),
    ("system/Patient.*", "Patient", "cruds"),
    ("system/MedicationRequest.write", "MedicationRequest", "cud"),
])
def test_v1_and_v2_system_scopes_parse_onto_v2_letters(token, resource_type, letters):
    assert parse_scope_token(token) == (resource_type, frozenset(letters))


@pytest.mark.parametrize("token", [
    "system/Patient.sr",           # letters out of order
    "system/Patient.rr",           # a letter twice
    "system/Patient.x",            # not a permission
    "system/Patient.",             # no permission
    "system/Patient.RS",           # case-sensitive (RFC 6749 §3.3)
    "System/Patient.rs",
    "system/patient.rs",           # resource types start with a capital
    "patient/Patient.rs",          # patient and user scopes are not for backend services
    "user/*.cruds",
    "system/Patient.rs?category=laboratory",  # granular scopes are not supported
    "system/Patient",
    "system/.rs",
    "system/**.rs",
    "system/Patient.read.rs",
    "system/Patient.rs ",
    "openid",
    "fhirUser",
    "launch",
    "offline_access",
    "",
])
def test_anything_else_is_not_a_system_scope(token):
    with pytest.raises(ScopeSyntaxError):
        parse_scope_token(token)


# --------------------------------------------------------------------------- the granted set

def scopes(text: str) -> SmartScopes:
    return SmartScopes.parse(text)


def test_a_set_prints_in_one_stable_order_and_v2_syntax():
    assert str(scopes("system/Observation.read system/Patient.u system/*.r system/Patient.c")) \
        == "system/*.r system/Observation.s system/Patient.cu"
    assert str(scopes("system/Patient.cu system/Observation.read system/*.r")) \
        == "system/*.r system/Observation.s system/Patient.cu"


def test_letters_granted_by_the_wildcard_are_not_repeated_per_type():
    assert str(scopes("system/*.rs system/Patient.rs system/Observation.cruds")) \
        == "system/*.rs system/Observation.cud"
    assert scopes("system/*.rs system/Patient.rs") == scopes("system/*.rs")


def test_an_empty_set_prints_empty_and_is_false():
    assert str(SmartScopes()) == "" and not SmartScopes() and not scopes("")


@pytest.mark.parametrize(("a", "b", "both"), [
    ("system/*.rs", "system/Patient.cruds", "system/Patient.rs"),
    ("system/*.rs", "system/*.r system/Patient.s", "system/*.r system/Patient.s"),
    ("system/Patient.rs system/Observation.r", "system/*.r", "system/Observation.r system/Patient.r"),
    ("system/Patient.rs", "system/Observation.rs", ""),
    ("system/*.cruds", "system/*.write", "system/*.cud"),
    ("system/*.read", "system/Patient.cruds system/*.s", "system/*.s system/Patient.r"),
])
def test_intersection_grants_what_both_grant(a, b, both):
    assert scopes(a) & scopes(b) == scopes(both)
    assert scopes(b) & scopes(a) == scopes(both)


def test_covers():
    assert scopes("system/*.rs").covers(scopes("system/Patient.r system/Observation.rs"))
    assert not scopes("system/Patient.rs").covers(scopes("system/*.r"))
    assert not scopes("system/*.rs").covers(scopes("system/Patient.c"))
    assert scopes("system/*.cruds").covers(scopes("system/*.read system/*.write"))


@pytest.mark.parametrize(("interaction", "letter"), [
    ("read", "r"), ("vread", "r"), ("history-instance", "r"),
    ("search-type", "s"), ("history-type", "s"),
    ("create", "c"), ("update", "u"), ("patch", "u"), ("delete", "d"),
])
def test_allows_maps_each_interaction_onto_its_letter(interaction, letter):
    granted = scopes(f"system/Patient.{letter}")
    assert granted.allows("Patient", interaction)
    assert not granted.allows("Observation", interaction)
    others = "".join(x for x in "cruds" if x != letter)
    assert not scopes(f"system/Patient.{others}").allows("Patient", interaction)
    assert scopes(f"system/*.{letter}").allows("Observation", interaction)


@pytest.mark.parametrize("interaction", ["search-system", "history-system"])
def test_system_level_interactions_need_the_wildcard(interaction):
    assert scopes("system/*.s").allows(None, interaction)
    assert scopes("system/*.s").allows("Patient", interaction)
    assert not scopes("system/Patient.s system/Observation.s").allows(None, interaction)
    assert not scopes("system/Patient.s").allows("Patient", interaction)  # a system search reaches every type


def test_allows_refuses_an_unknown_interaction():
    with pytest.raises(ValueError):
        scopes("system/*.cruds").allows("Patient", "operation")  # type: ignore[arg-type]


def test_readable_is_r_or_s():
    assert scopes("system/Patient.r").readable("Patient")
    assert scopes("system/Patient.s").readable("Patient")
    assert not scopes("system/Patient.cud").readable("Patient")
    assert not scopes("system/Patient.rs").readable(None)
    assert scopes("system/*.s").readable(None)


def test_the_set_is_immutable_and_hashable():
    granted = scopes("system/Patient.rs")
    with pytest.raises(TypeError):
        granted.permissions["Observation"] = frozenset("r")  # type: ignore[index]
    with pytest.raises(AttributeError):
        granted.extra = 1  # type: ignore[attr-defined]
    assert {granted, scopes("system/Patient.read")} == {granted}


# --------------------------------------------------------------------------- the scope parameter

@pytest.mark.parametrize("scope", [TENANT, TENANT.upper(), f"  {TENANT}  ", f"{TENANT} {TENANT.upper()}"])
def test_the_tenant_alone(scope):
    assert parse_scope_parameter(scope) == ScopeRequest(tenant=TENANT, asked=None)


def test_tenant_with_system_scopes_in_any_order():
    request = parse_scope_parameter(f"system/Patient.rs {TENANT.upper()} system/*.read system/Patient.rs")
    assert request.tenant == TENANT
    assert request.asked == ("system/Patient.rs", "system/*.read")
    assert not request.tenant_only


@pytest.mark.parametrize("scope", [
    None, "", " ", "system/*.rs",                       # no tenant
    f"{TENANT} {OTHER_TENANT}",                         # two tenants
    TENANT.replace("-", ""),                            # not the canonical GUID shape
    f"{{{TENANT}}}",
    f"{TENANT} openid", f"{TENANT} patient/*.rs", f"{TENANT} system/Patient.sr", f"{TENANT} launch/patient",
    " ".join(["system/*.rs"] * 201) + f" {TENANT}",     # too many values
    f"{TENANT} " + "system/Patient.r " * 1000,          # too long (over 8 KiB)
])
def test_anything_else_is_invalid_scope(scope):
    with pytest.raises(ScopeRequestError) as raised:
        parse_scope_parameter(scope)
    assert "system/" not in raised.value.description and "openid" not in raised.value.description
    with pytest.raises(InvalidScope) as answered:  # the OAuth layer's translation
        requested_tenant(scope)
    assert answered.value.response().status == 400 and answered.value.description == raised.value.description


# --------------------------------------------------------------------------- granting

def grant(scope: str, allowed: str | None) -> str:
    return grant_scopes(parse_scope_parameter(scope), None if allowed is None else scopes(allowed)).scope


def test_a_tenant_only_request_gets_the_clients_allowed_scopes():
    assert grant(TENANT, "system/Patient.rs system/Observation.rs") \
        == f"{TENANT} system/Observation.rs system/Patient.rs"


def test_a_client_without_allowed_scopes_gets_the_default_read_and_search_everything():
    assert DEFAULT_ALLOWED_SCOPES == scopes("system/*.rs")
    assert grant(TENANT, None) == f"{TENANT} system/*.rs"


def test_the_token_gets_what_was_asked_and_allowed():
    assert grant(f"{TENANT} system/Patient.rs", None) == f"{TENANT} system/Patient.rs"
    assert grant(f"{TENANT} system/Patient.read system/Observation.r", "system/*.rs") \
        == f"{TENANT} system/Observation.r system/Patient.rs"
    # asked more than allowed on a type: the allowed part is granted (RFC 6749 §3.3)
    assert grant(f"{TENANT} system/Patient.cruds", "system/*.rs") == f"{TENANT} system/Patient.rs"
    assert grant(f"{TENANT} system/*.*", "system/Patient.rs system/Observation.r") \
        == f"{TENANT} system/Observation.r system/Patient.rs"


@pytest.mark.parametrize(("scope", "allowed"), [
    (f"{TENANT} system/Patient.c", "system/*.rs"),               # write asked, read allowed
    (f"{TENANT} system/*.write", None),
    (f"{TENANT} system/Observation.rs", "system/Patient.rs"),
    (f"{TENANT} system/Patient.rs system/Observation.rs", "system/Patient.rs"),  # one of them is refused
    (TENANT, ""),                                                   # a client allowed nothing
])
def test_a_scope_the_client_may_not_have_is_invalid_scope(scope, allowed):
    with pytest.raises(ScopeRequestError):
        grant(scope, allowed)


def test_allowed_scopes_of_the_admin_api():
    assert parse_allowed_scopes("system/Patient.read system/*.s") == scopes("system/*.s system/Patient.r")
    for bad in ("system/Patient.sr", "openid", TENANT, "x" * 9000, 42):
        with pytest.raises(ScopeSyntaxError):
            parse_allowed_scopes(bad)  # type: ignore[arg-type]


def test_a_set_refuses_bad_parts_when_built_directly():
    with pytest.raises(ScopeSyntaxError):
        SmartScopes({"patient": "rs"})
    with pytest.raises(ScopeSyntaxError):
        SmartScopes({"Patient": "rx"})


# --------------------------------------------------------------------------- the access token's claim

def test_the_claim_reads_back_the_grant():
    grant = grant_scopes(parse_scope_parameter(f"{TENANT} system/Patient.rs system/*.r"), None)
    assert grant_from_claim(grant.scope) == grant


def test_a_claim_of_the_tenant_alone_grants_the_default():
    assert grant_from_claim(TENANT).scopes == DEFAULT_ALLOWED_SCOPES


@pytest.mark.parametrize("claim", [TENANT.upper(), f"{TENANT}  system/*.rs", f"{TENANT} system/Patient.read",
                                   f"{TENANT} system/Patient.rs system/*.r", f"{TENANT} openid", "system/*.rs",
                                   f"{TENANT} ", "", 42, f"{TENANT} system/Patient.r system/Patient.s"])
def test_a_claim_the_gateway_would_not_write_is_refused(claim):
    with pytest.raises(ValueError):
        grant_from_claim(claim)


def test_a_scope_per_resource_type_fits():
    many = " ".join(f"system/Type{i:03d}.rs" for i in range(150))
    assert len(parse_allowed_scopes(many).permissions) == 150
    assert len(parse_scope_parameter(f"{TENANT} {many}").asked) == 150
