"""Properties of SMART scopes (gateway.scopes) and their enforcement (gateway.proxy.scope_check).

The granted set behaves as a set of (type, letter) permissions: intersection is exact, printing
round-trips, a grant never exceeds what the client is allowed. Enforcement is monotonic (more
scopes never refuse what fewer allowed), only ever raises its one client-safe error, and no
spelling of ``_include``/``_revinclude``/``_type`` lets a request reach a type it was not granted.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.oauth.errors import InvalidScope
from gateway.oauth.grant import requested_tenant
from gateway.proxy.access import BadBatch, parse_batch
from gateway.proxy.paths import PathRejected, check_path
from gateway.proxy.scope_check import ScopeRefused, check_scopes
from gateway.proxy.urls import normalize_query
from gateway.scopes import (
    PERMISSION_LETTERS,
    ScopeRequestError,
    SmartScopes,
    grant_scopes,
    parse_scope_parameter,
)
from gateway.stores.models import canonical_tenant_id
from tests.properties.support import examples
from tests.support.constants import GW, TENANT
from tests.unit.proxy.test_scope_check import entry, resource_for

TYPES = ["Patient", "Observation", "Encounter", "Practitioner", "Organization"]
INTERACTIONS = ["read", "vread", "history-instance", "history-type", "search-type", "create", "update", "patch",
                "delete"]

letters = st.sets(st.sampled_from(PERMISSION_LETTERS))
scope_sets = st.dictionaries(st.sampled_from([*TYPES, "*"]), letters, max_size=6).map(SmartScopes)


def permissions(scopes: SmartScopes) -> set[tuple[str, str]]:
    """The scopes as explicit (type, letter) pairs over the test's types (the wildcard as its own row)."""
    return {(t, letter) for t in [*TYPES, "Other"] for letter in scopes.letters_for(t)} | \
        {("*", letter) for letter in scopes.letters_for(None)}


@given(scope_sets, scope_sets)
@examples(200)
def test_intersection_is_the_intersection_of_permissions(a, b):
    assert permissions(a & b) == permissions(a) & permissions(b)
    assert a & b == b & a and a & a == a
    assert a.covers(a & b) and b.covers(a & b)


@given(scope_sets, scope_sets)
@examples(200)
def test_union_is_the_union_of_permissions(a, b):
    assert permissions(a | b) == permissions(a) | permissions(b)
    assert (a | b).covers(a) and (a | b).covers(b)


@given(scope_sets, st.sampled_from([*TYPES, "Other"]), st.sampled_from(INTERACTIONS), scope_sets)
@examples(200)
def test_allows_of_an_intersection_is_allows_of_both(a, resource_type, interaction, b):
    assert (a & b).allows(resource_type, interaction) == (a.allows(resource_type, interaction)
                                                          and b.allows(resource_type, interaction))


@given(scope_sets)
@examples(200)
def test_printing_round_trips_and_is_stable(scopes):
    text = str(scopes)
    assert SmartScopes.parse(text) == scopes
    assert str(SmartScopes.parse(" ".join(reversed(text.split())))) == text


@given(st.lists(st.sampled_from([*(f"system/{t}.{p}" for t in [*TYPES, "*"]
                                    for p in ("r", "s", "rs", "cud", "cruds", "read", "write", "*"))]),
                max_size=6), scope_sets)
@examples(200)
def test_a_grant_never_exceeds_the_allowed_scopes(asked, allowed):
    request = parse_scope_parameter(" ".join([TENANT, *asked]))
    try:
        grant = grant_scopes(request, allowed)
    except ScopeRequestError:
        return
    assert allowed.covers(grant.scopes)
    if asked:
        assert SmartScopes.parse(asked).covers(grant.scopes)
    else:
        assert grant.scopes == allowed
    assert grant.scope.split(" ")[0] == TENANT


@given(st.text(max_size=200))
@examples(300)
def test_parsing_any_scope_parameter_gives_a_request_or_invalid_scope(text):
    try:
        request = parse_scope_parameter(text)
    except ScopeRequestError as error:
        with pytest.raises(InvalidScope) as answered:  # the OAuth layer's translation: 400 invalid_scope
            requested_tenant(text)
        assert answered.value.response().status == 400 and answered.value.description == error.description
        return
    assert canonical_tenant_id(request.tenant) == request.tenant
    assert request.tenant in text.lower()


# --------------------------------------------------------------------------- enforcement

paths = st.one_of(
    st.sampled_from(["", "_search", "_history", "metadata", "$export"]),
    st.builds(lambda t, tail: t + tail, st.sampled_from(TYPES),
              st.sampled_from(["", "/_search", "/_history", "/1", "/1/_history", "/1/_history/2", "/1/$everything",
                               "/1/Observation", "/1/Encounter", "/$validate"])))
parameter_names = st.sampled_from(["name", "patient", "_include", "_revinclude", "_include:iterate", "_type",
                                   "subject:Patient.name", "_has:Observation:patient:code", "_count", "_INCLUDE",
                                   "%5Finclude", "subject.name", "_filter"])
parameter_values = st.one_of(
    st.sampled_from(["*", "x", "Observation:subject", "Observation:subject:Patient", "Patient:link",
                     "Observation:performer:Practitioner", "Patient,Observation", "Encounter:subject:Patient"]),
    st.text(max_size=10))
queries = st.lists(st.tuples(parameter_names, parameter_values), max_size=4).map(
    lambda pairs: "&".join(f"{n}={quote(v, safe=':,*')}" for n, v in pairs))
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])


def decide(scopes: SmartScopes, method: str, path: str, query: str, body: bytes = b"",
           content_type: str = "") -> bool:
    checked = check_path(path)
    batch = None
    if method == "POST" and checked.is_base:
        try:
            batch = parse_batch(body, content_type or "application/json", GW)
        except BadBatch:
            return False
    try:
        check_scopes(scopes, method, checked, normalize_query(query), body=body, content_type=content_type,
                     batch=batch)
    except ScopeRefused as refused:
        assert str(refused).startswith(("The token's scopes", "A ", "Only ", "The search", "The resource sent"))
        return False
    return True


@given(scope_sets, scope_sets, methods, paths, queries)
@examples(300)
def test_more_scopes_never_refuse_what_fewer_allowed(a, b, method, path, query):
    if decide(a, method, path, query):
        assert decide(a | b, method, path, query)
        assert decide(SmartScopes.parse("system/*.cruds"), method, path, query)


@given(scope_sets, methods, paths, queries)
@examples(300)
def test_a_request_allowed_without_a_type_never_needs_it(scopes, method, path, query):
    """What is allowed while ``Practitioner`` is granted nothing never reaches Practitioner data."""
    without = SmartScopes({k: v for k, v in scopes.permissions.items() if k not in ("Practitioner", "*")})
    if not decide(without, method, path, query):
        return
    assert "Practitioner" not in path
    for spelling in ("_include", "_INCLUDE", "%5Finclude", "_include:iterate", "_revinclude"):
        assert f"{spelling}=Observation:performer:Practitioner" not in query
        assert f"{spelling}=*" not in query
    assert "_type=Practitioner" not in query


@given(st.text(max_size=60), st.binary(max_size=60), methods, st.sampled_from(["", "application/x-www-form-urlencoded",
                                                                                 "application/json", "text/plain"]))
@examples(300)
def test_any_input_is_decided_or_refused_never_crashes(raw, body, method, content_type):
    path, _, query = raw.partition("?")
    try:
        checked = check_path(path)
        query = normalize_query(query)
    except PathRejected:
        return
    batch = None
    if method == "POST" and checked.is_base:
        try:
            batch = parse_batch(body, content_type, GW)
        except BadBatch:
            return
    try:
        check_scopes(SmartScopes.parse("system/*.cruds"), method, checked, query, body=body,
                     content_type=content_type, batch=batch)
    except ScopeRefused:
        pass


@given(st.lists(st.tuples(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), paths, queries), max_size=5), scope_sets)
@examples(200)
def test_a_batch_is_allowed_exactly_when_each_of_its_entries_is(entries, scopes):
    body = json.dumps({"resourceType": "Bundle", "type": "transaction",
                       "entry": [entry(m, p + (f"?{q}" if q else "")) for m, p, q in entries]}).encode()
    whole = decide(scopes, "POST", "", "", body, "application/fhir+json")
    each = all(not check_path(p).is_base and p != "_search" and not (m == "POST" and check_path(p).is_search)
               and decide(scopes, m, p, q, resource_for(m, p), "application/fhir+json") for m, p, q in entries)
    assert whole == each


@st.composite
def spellings(draw, text: str) -> str:
    """``text`` as a client may spell it in a query: any letter case, any character percent-encoded."""
    out = []
    for char in text:
        if char.isalpha() and draw(st.booleans()):
            char = char.swapcase()
        out.append(f"%{ord(char):02X}" if draw(st.booleans()) else char)
    return "".join(out)


@given(st.data(), st.sampled_from(["_include", "_include:iterate", "_include:recurse", "_revinclude",
                                   "_revinclude:iterate"]),
       st.sampled_from(["", "name=x&", "_count=5&", "name=x;"]), st.sampled_from(["GET", "POST"]))
@examples(300)
def test_no_spelling_of_an_include_reaches_an_ungranted_type(data, name, before, method):
    value = "Practitioner:organization" if name.startswith("_revinclude") \
        else "Observation:performer:Practitioner"
    parameter = f"{data.draw(spellings(name))}={data.draw(spellings(value))}"
    granted = SmartScopes.parse("system/Observation.rs system/Patient.rs system/Organization.rs")
    if method == "GET":
        assert not decide(granted, "GET", "Observation", before + parameter)
    else:
        body = (before + parameter).encode()
        assert not decide(granted, "POST", "Observation/_search", "", body, "application/x-www-form-urlencoded")


@given(st.data(), st.sampled_from(["_type", "_getpages", "_include", "_revinclude", "_contained"]),
       st.sampled_from(["Patient", "Patient,Observation", "*", "Patient:link"]))
@examples(300)
def test_no_spelling_of_a_special_parameter_on_a_base_page_link_passes_for_a_narrow_token(data, name, value):
    """The leak of ``<base>?_getpages=<id>&_type=Patient``: no spelling of a special parameter makes an unsigned
    base request pass for a token without ``* s``."""
    spelled = data.draw(spellings(name))
    query = normalize_query(f"_getpages=5c1a&_getpagesoffset=2&{spelled}={quote(value, safe=',:*')}")
    granted = SmartScopes.parse("system/Patient.rs system/Observation.rs")
    assert not decide(granted, "GET", "", query)


@given(scope_sets, scope_sets, methods, paths, queries, st.sampled_from(["DSTU2", "STU3", "R4"]))
@examples(300)
def test_in_every_version_more_scopes_never_refuse_what_fewer_allowed(a, b, method, path, query, version):
    checked = check_path(path)
    body = resource_body(method, path)

    def allowed(scopes: SmartScopes) -> bool:
        try:
            check_scopes(scopes, method, checked, normalize_query(query), body=body,
                         content_type="application/fhir+json", fhir_version=version,
                         batch=None if not (method == "POST" and checked.is_base) else parse_batch(b"{}", "", GW))
        except ScopeRefused:
            return False
        return True

    if allowed(a):
        assert allowed(a | b)


def resource_body(method: str, path: str) -> bytes:
    return resource_for(method, path) or b"{}"


@given(st.text(min_size=1, max_size=20), st.integers(min_value=0, max_value=60))
@examples(200)
def test_a_page_link_verifies_for_its_exact_continuation_only(inserted, where):
    from gateway.proxy import page_links
    from tests.unit.proxy.test_page_links import NEEDS, NOW, Keys

    continuation = "?_getpages=5c1a&_getpagesoffset=2&_count=2&_bundletype=searchset"
    token = page_links.sign(Keys(), continuation=continuation, tenant=TENANT, client_id="app", needs=NEEDS,
                            expires=NOW + 60)
    changed = continuation[:where] + inserted + continuation[where:]
    try:
        needs = page_links.verify(Keys(), token, continuation=changed, tenant=TENANT, client_id="app", now=NOW)
    except page_links.InvalidPageLink:
        return
    assert changed == continuation and needs == NEEDS
