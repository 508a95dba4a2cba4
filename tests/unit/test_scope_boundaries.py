"""SMART scopes at their edges: the exact ``invalid_scope`` each refused token request gets (RFC 6749 §5.2),
the length and count limits to the character, the only delimiter RFC 6749 §3.3 allows, and a token's
``scope`` claim read back only in the one form the gateway writes.
"""

from __future__ import annotations

import pytest

from gateway.scopes import (
    DEFAULT_ALLOWED_SCOPES,
    MAX_SCOPE_LENGTH,
    MAX_SCOPE_TOKENS,
    ScopeRequestError,
    ScopeSyntaxError,
    SmartScopes,
    grant_from_claim,
    grant_scopes,
    parse_allowed_scopes,
    parse_scope_parameter,
)
from tests.support.constants import OTHER_TENANT, TENANT

NAME_THE_TENANT = "scope must name the tenant (an Azure AD tenant GUID)"
NEITHER = "scope holds a value that is neither the tenant nor a SMART system scope"


def _description(scope) -> str:
    with pytest.raises(ScopeRequestError) as info:
        parse_scope_parameter(scope)
    return info.value.description


@pytest.mark.parametrize("scope,description", [
    ("", NAME_THE_TENANT),
    (None, NAME_THE_TENANT),
    ([TENANT], NAME_THE_TENANT),
    ("   ", NAME_THE_TENANT),
    ("system/Patient.rs", NAME_THE_TENANT),
    (f"{TENANT} {OTHER_TENANT}", "scope must name exactly one tenant"),
    (f"{TENANT} openid", NEITHER),
    (f"{TENANT}\tsystem/Patient.rs", NEITHER),
    (f"{TENANT}\nsystem/Patient.rs", NEITHER),
    (f"system/Patient.rs\u00a0{TENANT}", NEITHER),
])
def test_each_refused_scope_parameter_says_exactly_why(scope, description):
    assert _description(scope) == description


def test_only_a_space_separates_scope_values():
    """RFC 6749 §3.3: scope-token *( SP scope-token ); a tab or a newline is part of a value, not a separator."""
    assert parse_scope_parameter(f"  {TENANT}   system/Patient.rs ").asked == ("system/Patient.rs",)
    assert _description(f"{TENANT}\tsystem/*.cruds") == NEITHER


def test_the_scope_parameter_may_be_exactly_as_long_as_the_limit():
    padded = TENANT + " " * (MAX_SCOPE_LENGTH - len(TENANT))
    assert len(padded) == MAX_SCOPE_LENGTH
    assert parse_scope_parameter(padded).tenant == TENANT
    assert _description(padded + " ") == "scope is too long"


def test_the_scope_parameter_may_hold_exactly_as_many_values_as_the_limit():
    values = [TENANT] + ["system/Patient.rs"] * (MAX_SCOPE_TOKENS - 1)
    assert parse_scope_parameter(" ".join(values)).asked == ("system/Patient.rs",)
    assert _description(" ".join([*values, "system/Patient.rs"])) == "too many scope values"


def test_grant_refusals_say_exactly_why():
    asked = parse_scope_parameter(f"{TENANT} system/Patient.c")
    with pytest.raises(ScopeRequestError) as info:
        grant_scopes(asked, SmartScopes.parse("system/Patient.rs"))
    assert info.value.description == "a requested scope is not allowed for this client"
    with pytest.raises(ScopeRequestError) as info:
        grant_scopes(parse_scope_parameter(TENANT), SmartScopes())
    assert info.value.description == "this client is allowed no SMART scopes"


def _syntax_error(text) -> str:
    with pytest.raises(ScopeSyntaxError) as info:
        parse_allowed_scopes(text)
    return str(info.value)


def test_allowed_scopes_refusals_say_exactly_why():
    assert _syntax_error(["system/Patient.rs"]) == \
        "allowedScopes must be a string of space-separated SMART system scopes"
    at_limit = "system/Patient.rs" + " " * (MAX_SCOPE_LENGTH - len("system/Patient.rs"))
    assert parse_allowed_scopes(at_limit) == SmartScopes.parse("system/Patient.rs")
    assert _syntax_error(at_limit + " ") == "allowedScopes is too long"


def _claim_error(claim) -> str:
    with pytest.raises(ValueError) as info:
        grant_from_claim(claim)
    return str(info.value)


def test_a_tenant_only_claim_grants_the_default_scopes_of_that_tenant():
    grant = grant_from_claim(TENANT)
    assert (grant.tenant, grant.scopes, grant.scope) == (TENANT, DEFAULT_ALLOWED_SCOPES, f"{TENANT} system/*.rs")


@pytest.mark.parametrize("claim,message", [
    (7, "the scope claim must be a string"),
    (TENANT.upper(), "the scope claim must start with the canonical tenant GUID"),
    (f"{TENANT.upper()} system/*.rs", "the scope claim must start with the canonical tenant GUID"),
    (f"{{{TENANT}}} system/*.rs", "the scope claim must start with the canonical tenant GUID"),
    (f"{TENANT} openid", "the scope claim holds a value that is not a SMART system scope"),
    (f"{TENANT} system/Patient.read", "the scope claim is not in the form the gateway issues"),
])
def test_a_scope_claim_is_read_only_in_the_form_the_gateway_writes(claim, message):
    assert _claim_error(claim) == message


def test_scopes_show_themselves_in_logs_as_v2_scopes():
    assert repr(SmartScopes.parse("system/Patient.read system/*.s")) == "SmartScopes('system/*.s system/Patient.r')"


NOT_A_SCOPE = "not a SMART system scope (system/<Type>.<cruds> or system/<Type>.read|write|*)"
LETTER_ORDER = "SMART v2 permissions are the letters c, r, u, d, s, each at most once, in that order"


@pytest.mark.parametrize("tokens,message", [
    ([5], NOT_A_SCOPE),
    ([None], NOT_A_SCOPE),
    (["patient/Patient.rs"], NOT_A_SCOPE),
    (["system/Patient.sr"], LETTER_ORDER),
    (["system/Patient.rr"], LETTER_ORDER),
])
def test_each_scope_syntax_error_says_exactly_why(tokens, message):
    with pytest.raises(ScopeSyntaxError) as info:
        SmartScopes.parse(tokens)
    assert str(info.value) == message


def test_a_scope_list_may_hold_exactly_as_many_values_as_the_limit():
    assert SmartScopes.parse(["system/Patient.rs"] * MAX_SCOPE_TOKENS) == SmartScopes.parse("system/Patient.rs")
    with pytest.raises(ScopeSyntaxError) as info:
        SmartScopes.parse(["system/Patient.rs"] * (MAX_SCOPE_TOKENS + 1))
    assert str(info.value) == "too many scope values"


def test_every_type_at_once_is_granted_by_the_wildcard_alone():
    scopes = SmartScopes.parse("system/*.r system/Patient.cruds")
    assert scopes.letters_for(None) == scopes.letters_for("*") == frozenset("r")
    assert scopes.letters_for("Patient") == frozenset("cruds")
    with pytest.raises(ValueError, match="^not a FHIR interaction$"):
        scopes.allows("Patient", "operation")  # type: ignore[arg-type]


@pytest.mark.parametrize("permissions,message", [
    ({"patient": "rs"}, "a resource type is not a FHIR resource type name"),
    ({"Patient/1": "r"}, "a resource type is not a FHIR resource type name"),
    ({"Patient": "rx"}, "SMART permissions are the letters c, r, u, d, s"),
])
def test_scopes_built_from_parts_refuse_what_no_scope_string_could_say(permissions, message):
    with pytest.raises(ScopeSyntaxError) as info:
        SmartScopes(permissions)
    assert str(info.value) == message


def test_the_wildcard_prints_first_then_types_alphabetically():
    scopes = SmartScopes({"Observation": "r", "*": "s", "AllergyIntolerance": "c", "Zzz": "d"})
    assert str(scopes) == "system/*.s system/AllergyIntolerance.c system/Observation.r system/Zzz.d"
