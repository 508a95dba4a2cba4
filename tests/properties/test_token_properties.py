"""The token endpoint and its parsers under hostile input.

In-process against ``gateway.oauth.endpoint.OAuthEndpoints.respond`` on the in-memory stores: whatever the form body,
content type or ``Authorization`` header, the answer is an RFC 6749 §5.2 JSON error (or a token for
exactly the right credentials), never a 5xx, and the stores are left as they were.
"""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.clock import FakeClock
from gateway.http import Headers, Request
from gateway.oauth.client_auth import MAX_CLIENT_ID_LENGTH, MAX_SECRET_LENGTH, presented_credentials
from gateway.oauth.errors import InvalidClient, InvalidRequest, OAuthError, RequestTooLarge
from gateway.oauth.form import MAX_BODY_BYTES, MAX_FIELDS, parse_form
from gateway.oauth.grant import MAX_SCOPE_TOKENS, requested_tenant
from gateway.services import memory_services
from tests.fixtures.common import make_settings
from tests.properties.support import examples, store_state
from tests.support.constants import CLIENT_ID, FORM, OTHER_TENANT, TENANT
from tests.support.oauth import basic
from tests.support.surfaces import respond
from tests.unit.oauth.helpers import add_client, add_route

OAUTH_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                "unsupported_grant_type", "invalid_scope", "temporarily_unavailable"}
PARAMS = ["grant_type", "client_id", "client_secret", "scope", "grant-type", "audience", "x", ""]

# Text with what breaks form and header parsers: separators, escapes, controls, non-BMP, lone surrogates.
hostile_text = st.text(
    st.one_of(st.sampled_from(list("&=+%;:, \t\r\n\x00\x7f\"'\\/?#é€😀")),
              st.characters(codec="utf-8"), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    max_size=60)
percent_garbage = st.lists(st.sampled_from(["%", "%2", "%zz", "%00", "%ff", "%c3%28", "%e2%82", "%25", "%2B", "+",
                                            "%%", "%u0041", "%C0%AF"]), max_size=6).map("".join)
# The same without lone surrogates: text a client can actually encode as UTF-8.
unicode_text = st.text(st.one_of(st.sampled_from(list("&=+%;:, \t\r\n\x00\x7f\"'\\/?#é€😀")),
                                 st.characters(codec="utf-8")), max_size=60)
values = st.one_of(hostile_text, percent_garbage, st.sampled_from(["client_credentials", TENANT, CLIENT_ID]))


def encode_pairs(pairs: list[tuple[str, str]], raw: bool) -> bytes:
    if raw:  # as a careless client would: no escaping at all
        return "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
    return urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                      for k, v in pairs]).encode("ascii")


form_bodies = st.one_of(
    st.builds(encode_pairs, st.lists(st.tuples(st.sampled_from(PARAMS) | hostile_text, values), max_size=8),
              st.booleans()),
    st.binary(max_size=200),
    st.integers(min_value=MAX_BODY_BYTES - 2, max_value=MAX_BODY_BYTES * 3).map(lambda n: b"scope=" + b"a" * n),
    st.integers(min_value=MAX_FIELDS - 1, max_value=MAX_FIELDS * 4).map(lambda n: b"&".join([b"a=1"] * n)),
)
content_types = st.sampled_from([FORM, f"{FORM}; charset=utf-8", f"{FORM}; charset=latin1", f"{FORM};charset=\"UTF-8\"",
                                 "APPLICATION/X-WWW-FORM-URLENCODED", "application/json", "multipart/form-data",
                                 "text/plain", "", ";", f"{FORM}; charset", f"{FORM}; ;;"]) | hostile_text


def raw_basic(payload: bytes) -> str:
    return "Basic " + base64.b64encode(payload).decode("ascii")


authorizations = st.one_of(
    st.none(),
    hostile_text,
    hostile_text.map(lambda t: "Basic " + t),  # not base64
    st.binary(max_size=80).map(raw_basic),  # base64 of anything (non-UTF-8, no colon...)
    st.tuples(hostile_text, hostile_text).map(
        lambda p: raw_basic(f"{p[0]}:{p[1]}".encode("utf-8", "surrogatepass"))),  # not form-encoded
    st.tuples(hostile_text, hostile_text).map(
        lambda p: raw_basic(f"{quote_plus(p[0].encode('utf-8', 'surrogatepass'))}:"
                            f"{quote(p[1].encode('utf-8', 'surrogatepass'))}".encode())),
    hostile_text.map(lambda t: raw_basic(t.encode("utf-8", "surrogatepass"))),  # no colon
    st.sampled_from(["Basic", "Basic ", "basic Og==", "BASIC Og==", "Bearer x", "Basic Og", "Basic ====",
                     "Basic " + "QUFB" * 5000]),
)


def make_request(body: bytes, content_type: str | None, authorization: str | None, *, method: str = "POST",
                 query: str = "", repeat_auth: bool = False) -> Request:
    headers = Headers([("X-Forwarded-For", "203.0.113.9:4000")])
    if content_type is not None:
        headers.add("Content-Type", content_type)
    if authorization is not None:
        headers.add("Authorization", authorization)
        if repeat_auth:
            headers.add("Authorization", authorization)
    url = "http://localhost:7071/oauth2/token" + (f"?{query}" if query else "")
    return Request(method=method, url=url, headers=headers, route_params={"endpoint": "token"}, body=body)


async def fresh_services():
    services = memory_services(make_settings(), FakeClock())
    secret = await add_client(services)
    await add_route(services)
    return services, secret


def assert_oauth_answer(response, request: Request) -> dict:
    """RFC 6749 §5.1/§5.2 shape: JSON, no-store, a known error code, never a 5xx."""
    assert response.status < 500, response.body
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type.startswith("application/json")
    payload = json.loads(response.body)
    if response.status == 200:
        assert set(payload) == {"access_token", "token_type", "expires_in", "scope"}
        return payload
    assert response.status in {400, 401, 405, 413, 429}, response.status
    assert set(payload) == {"error", "error_description"} and payload["error"] in OAUTH_ERRORS
    assert payload["error_description"].isprintable()
    sent_auth = bool(request.headers.get_all("authorization"))
    if response.status == 401:  # §5.2: WWW-Authenticate exactly when the client tried the Authorization header
        assert ("WWW-Authenticate" in response.headers) == sent_auth
    if response.status == 429:
        assert int(response.headers["Retry-After"]) >= 1
    return payload


@examples(150)
@given(body=form_bodies, content_type=st.none() | content_types, authorization=authorizations,
       method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "post", "HEAD"]),
       query=st.sampled_from(["", "", "grant_type=client_credentials", "%zz"]), repeat_auth=st.booleans())
def test_any_token_request_gets_an_oauth_answer_and_changes_nothing(loop, body, content_type, authorization, method,
                                                                    query, repeat_auth):
    services, secret = loop.run(fresh_services())
    before = store_state(services)
    request = make_request(body, content_type, authorization, method=method, query=query, repeat_auth=repeat_auth)
    response = loop.run(respond(request, services))
    assert response.status != 200  # random input never holds the client's secret
    payload = assert_oauth_answer(response, request)
    assert secret not in payload["error_description"]
    assert store_state(services) == before
    assert services.audit.records == []


@examples(100)
@given(scope=st.lists(st.one_of(
    st.sampled_from([TENANT, TENANT.upper(), OTHER_TENANT, str(uuid.UUID(int=0)), "{" + TENANT + "}",
                     TENANT.replace("-", ""), "urn:" + TENANT, TENANT + "\n", "openid", "system/*.read",
                     "x" * 300]),
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), unicode_text), max_size=20).flatmap(
    lambda tokens: st.sampled_from([" ", "  ", "\t", "\n", "+", ",", "%20"]).map(lambda sep: sep.join(tokens))),
    via_basic=st.booleans())
def test_scope_grants_exactly_one_allowed_tenant(loop, scope, via_basic):
    services, secret = loop.run(fresh_services())
    form = {"grant_type": "client_credentials", "scope": scope}
    if via_basic:
        request = make_request(encode_pairs(list(form.items()), False), FORM, basic(CLIENT_ID, secret))
    else:
        form.update(client_id=CLIENT_ID, client_secret=secret)
        request = make_request(encode_pairs(list(form.items()), False), FORM, None)
    response = loop.run(respond(request, services))
    payload = assert_oauth_answer(response, request)
    tokens = [t for t in scope.split(" ") if t]
    try:
        tenant = requested_tenant(scope)
    except OAuthError:
        tenant = None
    if tenant == TENANT and len(tokens) <= MAX_SCOPE_TOKENS:
        # canonical lowercase; the tenant alone when nothing else was asked, else the granted SMART scopes after it
        smart = [t for t in tokens if t.lower() != TENANT]
        assert response.status == 200 and payload["scope"] == (f"{TENANT} system/*.rs" if smart else TENANT)
    else:
        assert response.status == 400 and payload["error"] == "invalid_scope"


@examples(100)
@given(scope=st.text(max_size=300))
def test_requested_tenant_is_canonical_or_invalid_scope(scope):
    try:
        tenant = requested_tenant(scope)
    except OAuthError as error:
        assert error.error == "invalid_scope"
        return
    assert tenant == str(uuid.UUID(tenant))
    assert tenant in scope.lower()


# --------------------------------------------------------------------------- parsers underneath

printable_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)


@examples(100)
@given(form=st.dictionaries(printable_names, st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]),
                                                     max_size=40), max_size=MAX_FIELDS),
       charset=st.sampled_from(["", "; charset=utf-8", "; charset=US-ASCII"]))
def test_form_round_trips_every_distinct_parameter(form, charset):
    body = urlencode(form).encode("ascii")
    assume(len(body) <= MAX_BODY_BYTES)
    parsed = parse_form(make_request(body, FORM + charset, None))
    assert parsed == {k: v for k, v in form.items() if v != ""}


@examples(100)
@given(body=form_bodies, content_type=content_types, query=st.sampled_from(["", "a=b"]))
def test_form_parser_raises_only_oauth_errors(body, content_type, query):
    request = make_request(body, content_type, None, query=query)
    try:
        parsed = parse_form(request)
    except RequestTooLarge:
        assert len(body) > MAX_BODY_BYTES
    except InvalidRequest as error:
        assert error.status == 400 and error.description.isprintable()
    else:
        assert len(body) <= MAX_BODY_BYTES and not query
        assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in parsed.items())


@examples(100)
@given(client_id=st.text(min_size=1, max_size=MAX_CLIENT_ID_LENGTH).filter(str.isprintable),
       secret=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=MAX_SECRET_LENGTH))
def test_basic_credentials_round_trip(client_id, secret):
    credentials = presented_credentials(make_request(b"", FORM, basic(client_id, secret)), {})
    assert (credentials.client_id, credentials.client_secret, credentials.used_basic) == (client_id, secret, True)
    assert repr(credentials) == f"ClientCredentials(client_id={client_id!r}, method='client_secret_basic')"


@examples(150)
@given(authorization=authorizations, form=st.dictionaries(st.sampled_from(["client_id", "client_secret", "x"]),
                                                          hostile_text.filter(bool), max_size=3))
def test_client_authentication_raises_only_oauth_errors(authorization, form):
    request = make_request(b"", FORM, authorization)
    try:
        credentials = presented_credentials(request, form)
    except InvalidClient as error:
        assert error.status == 401
        assert error.basic == (authorization is not None)
    except InvalidRequest as error:
        assert error.status == 400
    else:
        assert 0 < len(credentials.client_id) <= MAX_CLIENT_ID_LENGTH and credentials.client_id.isprintable()
        assert 0 < len(credentials.client_secret) <= MAX_SECRET_LENGTH


@pytest.mark.parametrize("unavailable", ["clients", "secrets", "routes"])
def test_cold_cache_outage_is_a_documented_503(loop, unavailable):
    services, secret = loop.run(fresh_services())
    getattr(services, unavailable).available = False
    request = make_request(encode_pairs([("grant_type", "client_credentials"), ("scope", TENANT)], False), FORM,
                           basic(CLIENT_ID, secret))
    response = loop.run(respond(request, services))
    assert response.status == 503 and int(response.headers["Retry-After"]) >= 1
    assert json.loads(response.body)["error"] == "temporarily_unavailable"


@examples(60)
@given(swap=st.booleans(), via_basic=st.booleans(), junk=st.sampled_from(["", "x", " ", "%20", "\n", "-"]),
       prefix=st.sampled_from(["", "x", "a."]), cut=st.integers(0, 40))
def test_no_credential_reaches_the_log_whatever_field_it_is_sent_in(loop, caplog, swap, via_basic, junk, prefix,
                                                                    cut):
    """A client that swaps its id and secret (whole, cut short or with junk around it) must not get it logged."""
    from tests.fixtures.leaks import findings_in, register_sensitive

    services, secret = loop.run(fresh_services())
    register_sensitive(secret)
    presented = prefix + secret[:len(secret) - cut] + junk
    client_id, client_secret = (presented, CLIENT_ID) if swap else (CLIENT_ID, presented)
    form = [("grant_type", "client_credentials"), ("scope", TENANT)]
    if via_basic:
        request = make_request(encode_pairs(form, False), FORM, basic(client_id, client_secret))
    else:
        form += [("client_id", client_id), ("client_secret", client_secret)]
        request = make_request(encode_pairs(form, False), FORM, None)
    caplog.clear()
    with caplog.at_level("DEBUG"):
        response = loop.run(respond(request, services))
    assert_oauth_answer(response, request)
    assert findings_in(caplog.text) == [] and secret[:len(secret) - cut] not in caplog.text


@examples(60)
@given(endpoint=st.sampled_from(["jwks", "authorize", "", "token2", "JWKS"]) | hostile_text,
       method=st.sampled_from(["GET", "HEAD", "POST", "DELETE", "OPTIONS"]), body=form_bodies,
       query=st.sampled_from(["", "response_type=code&redirect_uri=https%3A%2F%2Fevil.example", "%zz"]))
def test_the_other_oauth_endpoints_answer_cleanly(loop, endpoint, method, body, query):
    services, _ = loop.run(fresh_services())
    url = f"http://localhost:7071/oauth2/{quote(endpoint, errors='surrogatepass')}" + (f"?{query}" if query else "")
    request = Request(method=method, url=url, headers=Headers({"Content-Type": FORM}),
                      route_params={"endpoint": endpoint}, body=body)
    response = loop.run(respond(request, services))
    assert response.status in (200, 400, 404, 405), response.status
    if response.status == 200:
        assert endpoint == "jwks" and method in ("GET", "HEAD")
        if method == "GET":
            assert all("d" not in key for key in json.loads(response.body)["keys"])  # public parts only
    else:
        assert "Location" not in response.headers  # never a redirect
        assert json.loads(response.body)["error"]
