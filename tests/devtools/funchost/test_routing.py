"""Route templates, constraints and path decoding as ASP.NET Core routing does them, and the routes tried in the
order the Functions host registers them (by function name), the first match winning."""

from __future__ import annotations

import pytest

from devtools.funchost.routing import (
    CATCH_ALL,
    LITERAL,
    PARAMETER,
    Match,
    MethodNotAllowed,
    Route,
    RouteTable,
    TemplateError,
    decode_path,
    join_prefix,
    make_constraint,
    parse_template,
)

# The project's own function.json routes (routePrefix "").
METADATA = r"fhir/{*path:regex(^((DSTU2|STU3|R4)/)?(metadata|\.well-known/[^/]+)/?$)}"
PROXY = "fhir/{*path}"
TOKEN = "oauth2/{endpoint:regex(^(token|jwks|authorize)$)}"
MANAGE = "manage/{*path}"


def table(*routes: tuple[str, str | None, str]) -> RouteTable[str]:
    return RouteTable(
        Route(parse_template(t), frozenset(m.split(",")) if m else None, name) for t, m, name in routes
    )


@pytest.fixture
def project() -> RouteTable[str]:
    # In the order of the function names, as the host registers them.
    return table((MANAGE, "GET,POST,PUT,PATCH,DELETE", "admin_fn"),
                 (METADATA, "GET,HEAD", "fhir_metadata_fn"),
                 (PROXY, "GET,HEAD,POST,PUT,PATCH,DELETE", "fhir_proxy_fn"),
                 (TOKEN, "GET,POST", "token_fn"))


def target(result: Match[str] | MethodNotAllowed | None) -> str | None:
    return result.route.target if isinstance(result, Match) else None


# --- parsing ---

def test_parses_literals_parameters_and_catch_all() -> None:
    template = parse_template("fhir/{document:regex(^(metadata|\\.well-known)$)}/{detail?}")
    assert [(s.kind, s.text, s.optional) for s in template.segments] == [
        (LITERAL, "fhir", False), (PARAMETER, "document", False), (PARAMETER, "detail", True)]
    assert parse_template(PROXY).segments[1].kind == CATCH_ALL
    constrained = parse_template(METADATA).segments[1]
    assert constrained.kind == CATCH_ALL and len(constrained.constraints) == 1
    assert parse_template("files/{**rest}").segments[1].kind == CATCH_ALL


def test_default_values_with_and_without_constraints() -> None:
    assert parse_template("items/{id=5}").segments[1].default == "5"
    segment = parse_template("items/{id:int=7}").segments[1]
    assert segment.default == "7" and segment.constraints[0]("12")


def test_doubled_braces_are_literal_braces_in_a_regex() -> None:
    check = parse_template(r"codes/{code:regex(^\d{{3}}$)}").segments[1].constraints[0]
    assert check("123") and not check("12") and not check("1234")


def test_regex_argument_may_hold_colons_and_parentheses() -> None:
    check = parse_template("t/{v:regex(^(a:b|c)$):minlength(1)}").segments[1].constraints
    assert len(check) == 2 and check[0]("a:b") and not check[0]("a")


@pytest.mark.parametrize("template", [
    "a/{*rest}/b",             # catch-all not last
    "a/{x?}/b",                # optional not last
    "a/{x}/{X}",               # repeated name (names are case-insensitive)
    "a//b",                    # empty segment
    "a/{x:nosuch}",            # unknown constraint
    "a/{x:regex(()}",          # invalid regex
    "a/{x",                    # unterminated
    "a/x}",                    # stray brace
    "a/{}",                    # nameless
    "a/pre{x}",                # complex segment
    "a/{x:minlength(two)}",    # non-integer argument
    "a/{*x?}",                 # optional catch-all
])
def test_invalid_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(template)


def test_route_prefix_joins_like_host_json() -> None:
    assert join_prefix("", "fhir/{*path}") == "fhir/{*path}"
    assert join_prefix("api", "fhir") == "api/fhir"
    assert join_prefix("/api/", "/x/") == "api/x"


# --- constraints ---

@pytest.mark.parametrize(("constraint", "args", "good", "bad"), [
    ("int", None, ["0", "-12", "+7", "2147483647"], ["2147483648", "1.5", "x", ""]),
    ("long", None, ["9223372036854775807", "-3"], ["9223372036854775808", "0x1"]),
    ("bool", None, ["true", "False", "TRUE"], ["yes", "1"]),
    ("guid", None, ["0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5bd9cb469fa16570867728950e",
                    "{0f8fad5b-d9cb-469f-a165-70867728950e}"], ["0f8fad5b-d9cb-469f-a165", "tenant"]),
    ("alpha", None, ["abc", "ABC"], ["ab1", "é"]),
    ("minlength", "2", ["ab", "abc"], ["a"]),
    ("maxlength", "3", ["abc"], ["abcd"]),
    ("length", "2", ["ab"], ["a", "abc"]),
    ("length", "2,3", ["ab", "abc"], ["a", "abcd"]),
    ("min", "10", ["10", "11"], ["9", "x"]),
    ("max", "10", ["10", "-4"], ["11"]),
    ("range", "1,5", ["1", "5"], ["0", "6"]),
    ("double", None, ["1.5", "-2", "1e3"], ["abc", "inf"]),
    ("decimal", None, ["1.5", "-2"], ["1e3"]),
    ("datetime", None, ["2020-01-02", "2020-01-02T03:04:05"], ["tomorrow"]),
    ("regex", "^meta", ["metadata", "METADATA"], ["xmetadata"]),
    ("regex", "data", ["metadata"], ["meta"]),  # unanchored, as .NET IsMatch
])
def test_constraints(constraint: str, args: str | None, good: list[str], bad: list[str]) -> None:
    check = make_constraint(constraint, args)
    assert all(check(v) for v in good), [v for v in good if not check(v)]
    assert not any(check(v) for v in bad), [v for v in bad if check(v)]


def test_constraint_names_are_case_insensitive() -> None:
    assert make_constraint("INT", None)("5")


# --- matching, in the order the routes were added ---

def test_the_metadata_function_serves_every_base_s_documents(project: RouteTable[str]) -> None:
    for path in ("/fhir/metadata", "/fhir/.well-known/smart-configuration", "/fhir/STU3/metadata",
                 "/fhir/DSTU2/.well-known/smart-configuration", "/fhir/R4/metadata", "/fhir/metadata/"):
        result = project.resolve("GET", path)
        assert isinstance(result, Match) and result.route.target == "fhir_metadata_fn", path
    assert project.resolve("GET", "/fhir/STU3/metadata").values == {"path": "STU3/metadata"}  # type: ignore[union-attr]
    assert target(project.resolve("GET", "/fhir/.well-known/openid-configuration")) == "fhir_metadata_fn"  # its 404
    for path in ("/fhir/Patient", "/fhir/STU3/Patient/1", "/fhir/STU3", "/fhir/metadata/a/b", "/fhir/R5/metadata",
                 "/fhir/.well-known/a/b"):
        assert target(project.resolve("GET", path)) == "fhir_proxy_fn", path


def test_literals_match_case_insensitively_and_values_keep_case(project: RouteTable[str]) -> None:
    result = project.resolve("GET", "/FHIR/Metadata")
    # .NET's regex constraint ignores case too: the function itself refuses what is not its exact spelling.
    assert isinstance(result, Match) and result.route.target == "fhir_metadata_fn"
    assert result.values == {"path": "Metadata"}


def test_catch_all_serves_the_bare_base_and_deep_paths(project: RouteTable[str]) -> None:
    for path, values in [("/fhir", {}), ("/fhir/", {}), ("/fhir/Patient/1", {"path": "Patient/1"}),
                         ("/fhir/Patient/1/", {"path": "Patient/1/"})]:
        result = project.resolve("GET", path)
        assert isinstance(result, Match) and result.route.target == "fhir_proxy_fn", path
        assert result.values == values, path


def test_the_first_route_added_wins_whatever_its_template() -> None:
    # The host registers routes by function name: a catch-all named first hides every route after it.
    hiding = table((PROXY, None, "a_proxy_fn"), (METADATA, None, "b_metadata_fn"))
    assert target(hiding.resolve("GET", "/fhir/metadata")) == "a_proxy_fn"
    routes = table(("items/{*rest}", None, "catch-all"), ("items/new", None, "literal"))
    assert target(routes.resolve("GET", "/items/new")) == "catch-all"


def test_method_refused_by_the_first_route_falls_through(project: RouteTable[str]) -> None:
    # fhir_metadata_fn takes GET/HEAD only: a POST to the same path goes to the proxy, as in Azure.
    assert target(project.resolve("POST", "/fhir/metadata")) == "fhir_proxy_fn"


def test_method_not_allowed_lists_every_matching_route_method(project: RouteTable[str]) -> None:
    assert project.resolve("DELETE", "/oauth2/token") == MethodNotAllowed(("GET", "POST"))


def test_no_route(project: RouteTable[str]) -> None:
    assert project.resolve("GET", "/oauth2/other") is None
    assert project.resolve("GET", "/") is None
    assert project.resolve("GET", "/fhirx") is None


def test_a_constraint_that_fails_passes_to_the_next_route() -> None:
    routes = table(("items/{id:int}", None, "constrained"), ("items/{name}", None, "plain"),
                   ("items/{*rest}", None, "catch-all"))
    assert target(routes.resolve("GET", "/items/42")) == "constrained"
    assert target(routes.resolve("GET", "/items/abc")) == "plain"
    assert target(routes.resolve("GET", "/items/abc/def")) == "catch-all"


def test_parameters_need_a_non_empty_segment() -> None:
    routes = table(("a/{x}/b", None, "r"))
    assert routes.resolve("GET", "/a//b") is None
    assert target(routes.resolve("GET", "/a/1/b")) == "r"


def test_default_value_fills_a_missing_segment() -> None:
    result = table(("page/{n:int=1}", None, "r")).resolve("GET", "/page")
    assert isinstance(result, Match) and result.values == {"n": "1"}


def test_route_without_methods_takes_every_method() -> None:
    assert target(table(("x", None, "r")).resolve("PROPFIND", "/x")) == "r"


def test_empty_template_matches_the_root_only() -> None:
    routes = table(("", None, "root"))
    assert target(routes.resolve("GET", "/")) == "root"
    assert routes.resolve("GET", "/x") is None


# --- path decoding ---

def test_decode_path_keeps_encoded_slash_and_decodes_the_rest() -> None:
    assert decode_path(b"/fhir/Patient%2F1/caf%C3%A9%20x") == "/fhir/Patient%2F1/café x"
    assert decode_path(b"/a%2fb") == "/a%2fb"


def test_decode_path_removes_dot_segments() -> None:
    assert decode_path(b"/fhir/x/../metadata") == "/fhir/metadata"
    assert decode_path(b"/fhir/./metadata") == "/fhir/metadata"
    assert decode_path(b"/fhir/%2E%2E/manage/x") == "/manage/x"
    assert decode_path(b"/../../x") == "/x"


def test_decode_path_leaves_invalid_utf8_encoded() -> None:
    assert decode_path(b"/a/%FF") == "/a/%FF"


def test_encoded_slash_stays_inside_one_catch_all_value() -> None:
    result = table(("files/{*rest}", None, "r")).resolve("GET", decode_path(b"/files/a%2Fb/c"))
    assert isinstance(result, Match) and result.values == {"rest": "a%2Fb/c"}
