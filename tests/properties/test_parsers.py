"""Round-trip and invariant properties of the parsers underneath the handlers.

Each parser either returns a well-formed value or raises its one documented, client-safe error;
encoders and decoders round-trip; rewriting never corrupts JSON.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, quote, unquote_plus, urlsplit

from hypothesis import assume, example, given
from hypothesis import strategies as st

from gateway.admin.access import accepted_function_key
from gateway.admin.openapi import SCHEMAS, schema_root
from gateway.admin.paging import MAX_PAGE_SIZE, decode_continuation, encode_continuation, next_link, page_size_of
from gateway.admin.problems import FieldError, Problem
from gateway.admin.schema import Validator
from gateway.credentials import check_verifier, make_verifier, new_secret, secret_id_of
from gateway.http import Headers, Request
from gateway.outbound.transport import MockTransport, UpstreamResponse, UpstreamTimeout, UpstreamUnreachable
from gateway.proxy.access import BadBatch, parse_batch
from gateway.proxy.batch import entry_of
from gateway.proxy.paths import PathRejected, check_path
from gateway.proxy.rewrite import LinkRewriter
from gateway.proxy.urls import normalize_query
from gateway.stores.errors import InvalidContinuation
from gateway.stores.tables import continuation as table_continuation
from tests.properties.support import HOSTILE_JSON_BODIES, examples, json_bytes, json_values, leaves
from tests.support.constants import GW

# --------------------------------------------------------------------------- rewriting

hosts = st.sampled_from(["ehr.example", "ehr.example:8443", "10.0.0.5:8080", "[::1]:9", "127.0.0.1:9", "a-b.c.example"])
base_paths = st.sampled_from(["", "/fhir", "/fhir/stu3", "/api/FHIR/R4", "/x.y/z_1"])
bases = st.builds(lambda scheme, host, path: f"{scheme}://{host}{path}", st.sampled_from(["http", "https"]), hosts,
                  base_paths)
url_tails = st.one_of(st.just(""), st.builds(lambda sep, rest: sep + rest, st.sampled_from(["/", "?", "#"]),
                                             st.text(st.characters(codec="ascii", exclude_characters=":"),
                                                     max_size=20)))


def upper_origin(base: str) -> str:
    """The same base with scheme and host upper-cased: the same URL (RFC 3986 §6.2.2.1)."""
    scheme, rest = base.split("://", 1)
    host, slash, path = rest.partition("/")
    return f"{scheme.upper()}://{host.upper()}{slash}{path}"


def upper_path(base: str) -> str:
    """The same origin with the path upper-cased: another URL unless the path has no letters."""
    scheme, rest = base.split("://", 1)
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host}{slash}{path.upper()}"


@st.composite
def documents(draw, provider: str):
    """JSON with provider URLs, near misses and ordinary text in strings and keys."""
    strings = st.one_of(
        url_tails.map(lambda tail: provider + tail),
        url_tails.map(lambda tail: upper_origin(provider) + tail),
        st.sampled_from([provider + "2/Patient", provider + "x", upper_path(provider), provider.replace("//", "/"),
                         "see " + provider + "/Patient/1 here", provider.split("://")[1]]),
        st.text(max_size=30))
    return draw(json_values(15, text=strings, keys=st.text(max_size=10)))


@examples(200)
@given(data=st.data(), provider=bases, gateway=bases, ascii_only=st.booleans(), escape_slashes=st.booleans())
def test_rewriting_keeps_json_valid_and_touches_only_provider_urls(data, provider, gateway, ascii_only, escape_slashes):
    assume(provider.rstrip("/") != gateway.rstrip("/"))
    document = data.draw(documents(provider))
    text = json.dumps(document, ensure_ascii=ascii_only)
    if escape_slashes:  # as some servers write JSON: "https:\/\/ehr.example\/fhir"
        text = text.replace("/", "\\/")
    rewritten = json.loads(LinkRewriter(provider, gateway).rewrite_body(text.encode("utf-8")))
    before, after = list(leaves(document)), list(leaves(rewritten))
    assert [p for p, _ in before] == [p for p, _ in after]  # same shape, same keys
    for (_, old), (_, new) in zip(before, after, strict=True):
        if isinstance(old, str) and old.startswith(upper_origin(provider)) and provider not in old:
            old = provider + old[len(upper_origin(provider)):]  # scheme and host match whatever their case
        if not isinstance(old, str):
            assert new == old and type(new) is type(old)
        elif provider not in old:
            assert new == old  # strings that are not provider URLs are unchanged
        elif old == provider or old.startswith(provider) and old[len(provider)] in "/?#":
            assert new == gateway + old[len(provider):]


@examples(100)
@given(provider=bases, gateway=bases, tail=url_tails, other=st.text(max_size=40))
def test_rewrite_url_changes_only_urls_under_the_provider_base(provider, gateway, tail, other):
    rewriter = LinkRewriter(provider, gateway)
    assert rewriter.rewrite_url(provider + tail) == gateway + tail
    if not other.startswith(provider):
        assert rewriter.rewrite_url(other) == other


# --------------------------------------------------------------------------- query strings

@examples(200)
@given(query=st.text(max_size=80))
@example("a=%zz&b=é c#d")
@example("name:contains=chau&_sort:desc=date&a=1&a=2")
def test_query_normalization_keeps_meaning_and_makes_a_valid_request_target(query):
    try:
        normalized = normalize_query(query)
    except PathRejected:
        assert any(ord(c) < 0x20 or ord(c) == 0x7F for c in query)
        return
    assert all(0x21 <= ord(c) < 0x7F and c != "#" for c in normalized)
    assert normalize_query(normalized) == normalized  # idempotent
    if query.isascii() and " " not in query and "#" not in query:
        assert normalized == query  # verbatim whenever it can be
    if "%" not in query:
        assert parse_qsl(normalized, keep_blank_values=True) == parse_qsl(query, keep_blank_values=True)


# --------------------------------------------------------------------------- batch Bundles

@examples(200)
@given(body=st.one_of(json_values(12).map(json_bytes), HOSTILE_JSON_BODIES, st.binary(max_size=100),
                      st.lists(st.fixed_dictionaries({"request": st.fixed_dictionaries({}, optional={
                          "method": st.sampled_from(["GET", "head", "POST", "X"]) | json_values(2),
                          "url": st.text(max_size=30) | json_values(2)})}), max_size=5).map(
                          lambda entries: json_bytes({"resourceType": "Bundle", "type": "batch",
                                                      "entry": entries}))),
       content_type=st.sampled_from(["application/fhir+json", "application/json", "", "text/xml"]))
def test_batch_parser_returns_checked_entries_or_bad_batch(body, content_type):
    try:
        batch = parse_batch(body, content_type, GW)
    except BadBatch as exc:
        assert str(exc).isprintable()
        return
    if batch is None:
        return
    assert batch.bundle_type in ("batch", "transaction")
    for entry in batch.entries:
        assert entry.method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        assert check_path(entry.path.path) == entry.path
        assert normalize_query(entry.query) == entry.query and not entry.relative_url.startswith("/")


@examples(150)
@given(status=st.integers(100, 599), reason=st.text(max_size=20),
       headers=st.lists(st.tuples(st.sampled_from(["ETag", "Location", "Last-Modified", "X"]), st.text(max_size=20)),
                        max_size=4),
       body=st.one_of(HOSTILE_JSON_BODIES, st.binary(max_size=100), json_values(8).map(json_bytes)),
       failure=st.sampled_from([None, None, None, UpstreamTimeout("t"), UpstreamUnreachable("u")]))
def test_every_fanned_out_entry_result_becomes_a_batch_response_entry(status, reason, headers, body, failure):
    entry = entry_of(failure if failure is not None else UpstreamResponse(status, headers, body, reason))
    json.dumps(entry, allow_nan=False)  # serializable as strict JSON
    assert entry["response"]["status"][:3].isdigit()
    if "resource" in entry:
        assert isinstance(entry["resource"], dict) and "resourceType" in entry["resource"]


# --------------------------------------------------------------------------- admin schema, paging, principal

INPUT_SCHEMAS = ["RouteInput", "ClientCreate", "ClientPatch", "Timeouts", "UpstreamAuthInput"]
validator = Validator(schema_root())


@examples(200)
@given(schema=st.sampled_from(INPUT_SCHEMAS), value=json_values(20))
def test_schema_validation_never_raises_and_names_fields(schema, value):
    errors = validator.validate(value, {"$ref": f"#/components/schemas/{schema}"})
    assert all(isinstance(e, FieldError) and isinstance(e.field, str) and e.message for e in errors)
    properties, closed = SCHEMAS[schema].get("properties", {}), SCHEMAS[schema].get("additionalProperties") is False
    if isinstance(value, dict) and set(value) - set(properties) and closed:
        assert errors  # unknown fields are always refused


@examples(150)
@given(token=st.text())
def test_admin_continuation_round_trips(token):
    encoded = encode_continuation(token)
    assert encoded.isascii() and "=" not in encoded
    assert decode_continuation(encoded) == token
    link = next_link("http://localhost:7071", "/manage/clients", token, 10)
    query = dict(parse_qsl(urlsplit(link).query))
    assert decode_continuation(query["continuation"]) == token and query["pageSize"] == "10"


@examples(150)
@given(value=st.text(max_size=60) | st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode()) |
       json_values(4).map(lambda v: base64.urlsafe_b64encode(json_bytes(v)).decode().rstrip("=")))
def test_admin_continuation_decodes_or_is_a_400(value):
    try:
        assert isinstance(decode_continuation(value), str)
    except Problem as problem:
        assert problem.status == 400 and problem.errors[0].field == "continuation"


@examples(150)
@given(raw=st.none() | st.text(max_size=12) | st.integers(-5, MAX_PAGE_SIZE + 5).map(str))
def test_page_size_is_in_range_or_a_400(raw):
    url = "http://localhost:7071/manage/clients" + ("" if raw is None else "?pageSize=" + raw.replace("&", "%26")
                                                    .replace("#", "%23").replace("+", "%2B").replace("%", "%25"))
    request = Request("GET", url)
    try:
        size = page_size_of(request)
    except Problem as problem:
        assert problem.status == 400
        return
    assert 1 <= size <= MAX_PAGE_SIZE


@examples(150)
@given(pk=st.none() | st.text(), rk=st.none() | st.text())
def test_table_continuation_round_trips(pk, rk):
    token = {"PartitionKey": pk, "RowKey": rk}
    encoded = table_continuation.encode_continuation(token)
    if pk is None and rk is None:
        assert encoded is not None or encoded is None
        return
    assert table_continuation.decode_continuation(encoded) == token


@examples(150)
@given(value=st.text(max_size=60) | json_values(4).map(lambda v: base64.urlsafe_b64encode(json_bytes(v)).decode()))
def test_table_continuation_decodes_or_is_invalid(value):
    try:
        decoded = table_continuation.decode_continuation(value)
    except InvalidContinuation:
        return
    assert set(decoded) == {"PartitionKey", "RowKey"}
    assert all(v is None or isinstance(v, str) for v in decoded.values())


@examples(150)
@given(pairs=st.lists(st.tuples(st.sampled_from(["code", "CODE", "Code", "%63ode", "cod", "x", "", "code%00"])
                                # a request target never holds '#': the fragment is not sent (RFC 9110 §4.1)
                                | st.text(max_size=6).filter(lambda name: "#" not in name),
                                st.text(max_size=12)), max_size=5),
       header=st.none() | st.text(max_size=20))
def test_the_accepted_function_key_is_the_first_code_value_or_the_header(pairs, header):
    """Whatever the query and header hold: the header's first value when present, else the first ``code``."""
    query = "&".join(f"{name}={quote(value)}" for name, value in pairs)
    request = Request("GET", f"http://localhost:7071/manage/clients?{query}",
                      Headers({"x-functions-key": header} if header is not None else {}))
    accepted = accepted_function_key(request)
    if header is not None:
        assert accepted == (header.split(",", 1)[0].strip() or None)
        return
    codes = [unquote_plus(value) for name, value in (p.partition("=")[::2] for p in query.split("&"))
             if unquote_plus(name).lower() == "code"]
    assert accepted == (codes[0] or None if codes else None)


# --------------------------------------------------------------------------- credentials, addresses

@examples(30)
@given(st.data())
def test_new_secrets_name_their_id_and_verify(data):
    secret_id, secret = new_secret()
    assert secret_id_of(secret) == secret_id
    verifier = make_verifier(secret)
    assert check_verifier(verifier, secret) and secret not in verifier
    other = data.draw(st.text(max_size=60))
    assume(other != secret)
    assert not check_verifier(verifier, other)


@examples(200)
@given(verifier=st.text(max_size=80) | st.lists(st.text(max_size=20), min_size=3, max_size=3).map("$".join),
       presented=st.text(max_size=80))
def test_verifier_check_of_anything_is_a_boolean(verifier, presented):
    assert check_verifier(verifier, presented) is False or verifier.startswith("hmac-sha256$")
    assert secret_id_of(presented) is None or len(secret_id_of(presented)) == 16


@examples(150)
@given(hops=st.lists(st.text(max_size=50), max_size=4))
def test_client_address_is_the_last_hop_and_bounded(hops):
    request = Request("GET", "http://localhost/", headers=Headers([("X-Forwarded-For", h) for h in hops]))
    address = request.client_address
    assert isinstance(address, str) and 0 < len(address) <= 64
    if not "".join(hops).strip(" ,"):
        assert address == "unknown"


# --------------------------------------------------------------------------- the provider's token response

@examples(100)
@given(status=st.sampled_from([200, 200, 200, 400, 401, 500]),
       body=st.one_of(HOSTILE_JSON_BODIES, st.binary(max_size=80), json_values(6).map(json_bytes),
                      st.fixed_dictionaries({"access_token": st.text(max_size=20) | json_values(2)},
                                            optional={"expires_in": json_values(2) | st.sampled_from(
                                                ["3600", "1e999", 10**400, -5, "nan"]),
                                                "token_type": st.text(max_size=8)}).map(json_bytes)))
def test_any_provider_token_response_is_a_token_or_an_upstream_auth_error(loop, status, body):
    from gateway.clock import FakeClock
    from gateway.services import memory_services
    from gateway.stores.models import Route, UpstreamAuth
    from gateway.upstream.kind import UpstreamAuthError
    from tests.fixtures.common import make_settings

    services = memory_services(make_settings(), FakeClock())
    loop.run(services.secrets.set("provider-secret", "provider-s3cret"))
    route = Route(tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47", fhir_base_url="http://127.0.0.1:9/r4",
                  fhir_version="STU3", upstream_auth=UpstreamAuth(type="clientCredentials", client_id="gw",
                                                                  token_url="http://127.0.0.1:9/token",
                                                                  secret_name="provider-secret"))
    transport = MockTransport(lambda request: UpstreamResponse(status, [("Content-Type", "application/json")], body))
    try:
        value = loop.run(services.upstream_authenticator.authorization(route, transport))
    except UpstreamAuthError as error:
        assert "provider-s3cret" not in str(error)
        return
    assert status == 200 and value.startswith("Bearer ") and len(value) > len("Bearer ")
