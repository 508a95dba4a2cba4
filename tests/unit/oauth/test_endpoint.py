"""The token endpoint end to end in process (memory stores, fake clock): one test per error code and status."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import jwt
import pytest

from gateway.oauth.form import MAX_BODY_BYTES
from gateway.services import Services, memory_services
from tests.fixtures.common import make_settings
from tests.support.constants import CLIENT_ID, OTHER_TENANT, TENANT
from tests.support.oauth import basic, post_form, token_request
from tests.support.surfaces import respond
from tests.unit.oauth.helpers import add_client, add_route, add_secret


@pytest.fixture
async def secret(services: Services) -> str:
    await add_route(services)
    return await add_client(services)


def body(response) -> dict:
    return json.loads(response.body)


def assert_error(response, status: int, error: str) -> dict:
    payload = body(response)
    assert response.status == status, payload
    assert payload["error"] == error
    assert isinstance(payload.get("error_description"), str) and payload["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type.startswith("application/json")
    return payload


async def test_post_credentials_issue_a_token(services, secret):
    response = await respond(token_request(post_form(CLIENT_ID, secret)), services)
    payload = body(response)
    assert response.status == 200
    assert payload["token_type"] == "Bearer"
    assert payload["expires_in"] == 3600
    assert payload["scope"] == TENANT
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    claims = await services.token_verifier.verify(payload["access_token"])
    assert (claims.client_id, claims.tenant_id) == (CLIENT_ID, TENANT)


async def test_basic_credentials_issue_a_token(services, secret):
    request = token_request({"grant_type": "client_credentials", "scope": TENANT},
                            headers={"Authorization": basic(CLIENT_ID, secret)})
    response = await respond(request, services)
    assert response.status == 200
    assert body(response)["scope"] == TENANT


async def test_token_claims_have_the_rfc9068_shape(services, secret):
    response = await respond(token_request(post_form(CLIENT_ID, secret)), services)
    token = body(response)["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt" and header["kid"]
    assert claims["iss"] == "http://localhost:7071"
    assert claims["aud"] == "http://localhost:7071/fhir"
    assert claims["sub"] == claims["client_id"] == CLIENT_ID
    assert claims["scope"] == claims["tid"] == TENANT
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert claims["jti"]


async def test_tenant_is_matched_case_insensitively_and_answered_lowercase(services, secret):
    response = await respond(token_request(post_form(CLIENT_ID, secret, scope=TENANT.upper())), services)
    assert response.status == 200
    assert body(response)["scope"] == TENANT


async def test_token_lifetime_comes_from_settings(clock):
    services = memory_services(make_settings(TOKEN_LIFETIME_SECONDS="600"), clock)
    await add_route(services)
    secret = await add_client(services)
    response = await respond(token_request(post_form(CLIENT_ID, secret)), services)
    assert body(response)["expires_in"] == 600


# -- invalid_request (400) -------------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", ""])
async def test_non_form_body_is_invalid_request(services, secret, content_type):
    request = token_request(post_form(CLIENT_ID, secret), headers={"Content-Type": content_type})
    payload = assert_error(await respond(request, services), 400, "invalid_request")
    assert "x-www-form-urlencoded" in payload["error_description"]


async def test_repeated_parameter_is_invalid_request(services, secret):
    form = [*post_form(CLIENT_ID, secret).items(), ("scope", OTHER_TENANT)]
    payload = assert_error(await respond(token_request(form), services), 400, "invalid_request")
    assert "scope" in payload["error_description"]


async def test_missing_grant_type_is_invalid_request(services, secret):
    form = post_form(CLIENT_ID, secret)
    del form["grant_type"]
    payload = assert_error(await respond(token_request(form), services), 400, "invalid_request")
    assert "grant_type" in payload["error_description"]


async def test_the_docs_grant_hyphen_type_typo_is_not_accepted(services, secret):
    form = post_form(CLIENT_ID, secret)
    form["grant-type"] = form.pop("grant_type")
    payload = assert_error(await respond(token_request(form), services), 400, "invalid_request")
    assert "grant_type" in payload["error_description"] and "grant-type" in payload["error_description"]


async def test_both_client_auth_methods_is_invalid_request(services, secret):
    request = token_request(post_form(CLIENT_ID, secret), headers={"Authorization": basic(CLIENT_ID, secret)})
    payload = assert_error(await respond(request, services), 400, "invalid_request")
    assert "one client authentication method" in payload["error_description"]


async def test_body_client_id_differing_from_basic_is_invalid_request(services, secret):
    request = token_request({"grant_type": "client_credentials", "scope": TENANT, "client_id": "someone-else"},
                            headers={"Authorization": basic(CLIENT_ID, secret)})
    assert_error(await respond(request, services), 400, "invalid_request")


async def test_parameters_in_the_url_are_invalid_request(services, secret):
    request = token_request(post_form(CLIENT_ID, secret), query=f"client_secret={secret}")
    payload = assert_error(await respond(request, services), 400, "invalid_request")
    assert secret not in json.dumps(payload)


async def test_undecodable_body_is_invalid_request(services, secret):
    request = token_request(body=b"grant_type=client_credentials&client_id=\xff\xfe")
    assert_error(await respond(request, services), 400, "invalid_request")


async def test_non_utf8_charset_is_invalid_request(services, secret):
    request = token_request(post_form(CLIENT_ID, secret),
                            headers={"Content-Type": "application/x-www-form-urlencoded; charset=iso-8859-1"})
    assert_error(await respond(request, services), 400, "invalid_request")


async def test_charset_utf8_is_accepted(services, secret):
    request = token_request(post_form(CLIENT_ID, secret),
                            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"})
    assert (await respond(request, services)).status == 200


# -- unsupported_grant_type (400) --------------------------------------------------------------------------------
@pytest.mark.parametrize("grant", ["authorization_code", "password", "refresh_token", "CLIENT_CREDENTIALS"])
async def test_other_grant_types_are_unsupported(services, secret, grant):
    form = post_form(CLIENT_ID, secret, grant_type=grant)
    assert_error(await respond(token_request(form), services), 400, "unsupported_grant_type")


# -- invalid_client (401) ------------------------------------------------------------------------------------------
async def test_wrong_secret_is_invalid_client_without_basic_challenge(services, secret):
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    response = await respond(token_request(post_form(CLIENT_ID, wrong)), services)
    assert_error(response, 401, "invalid_client")
    assert "WWW-Authenticate" not in response.headers


async def test_wrong_basic_secret_is_invalid_client_with_basic_challenge(services, secret):
    request = token_request({"grant_type": "client_credentials", "scope": TENANT},
                            headers={"Authorization": basic(CLIENT_ID, secret + "x")})
    response = await respond(request, services)
    assert_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("header", ["Basic !!!notbase64", "Basic " + "bm9jb2xvbg==", "Bearer abc"])
async def test_malformed_or_foreign_authorization_is_invalid_client(services, secret, header):
    request = token_request({"grant_type": "client_credentials", "scope": TENANT}, headers={"Authorization": header})
    response = await respond(request, services)
    assert_error(response, 401, "invalid_client")
    assert "Basic" in response.headers["WWW-Authenticate"]


async def test_no_client_authentication_is_invalid_client(services, secret):
    response = await respond(token_request({"grant_type": "client_credentials", "scope": TENANT}), services)
    assert_error(response, 401, "invalid_client")


async def test_client_id_without_secret_is_invalid_client(services, secret):
    form = {"grant_type": "client_credentials", "scope": TENANT, "client_id": CLIENT_ID}
    assert_error(await respond(token_request(form), services), 401, "invalid_client")


async def test_unknown_client_is_invalid_client(services, secret):
    assert_error(await respond(token_request(post_form("nobody", secret)), services), 401, "invalid_client")


async def test_secret_of_another_client_is_invalid_client(services, secret):
    other = await add_client(services, "other-client")
    assert_error(await respond(token_request(post_form(CLIENT_ID, other)), services), 401, "invalid_client")


async def test_secret_not_of_our_format_is_invalid_client(services, secret):
    form = post_form(CLIENT_ID, "hunter2")
    assert_error(await respond(token_request(form), services), 401, "invalid_client")


async def test_disabled_client_is_invalid_client(services, secret):
    client = await services.clients.get(CLIENT_ID)
    await services.clients.replace(replace(client, enabled=False))
    services.client_directory.invalidate(CLIENT_ID)
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret)), services), 401, "invalid_client")


async def test_expired_secret_is_invalid_client(services, clock, secret):
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
    clock.advance(181 * 86400)
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret)), services), 401, "invalid_client")


async def test_either_of_two_active_secrets_works(services, secret):
    second = await add_secret(services, CLIENT_ID)
    for presented in (secret, second):
        assert (await respond(token_request(post_form(CLIENT_ID, presented)), services)).status == 200


async def test_a_secret_created_after_the_record_was_cached_works_at_once(services, secret):
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
    fresh = await add_secret(services, CLIENT_ID)  # the cached record does not list it yet
    assert (await respond(token_request(post_form(CLIENT_ID, fresh)), services)).status == 200


async def test_revoked_secret_stops_working_once_the_cache_expires(services, clock, secret):
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
    client = await services.clients.get(CLIENT_ID)
    await services.clients.replace(replace(client, secrets=()))
    for item in await services.secrets.list():
        await services.secrets.delete(item.name)
    clock.advance(services.settings.client_cache_seconds + 1)
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret)), services), 401, "invalid_client")


# -- unauthorized_client / invalid_scope (400) -------------------------------------------------------------------
async def test_client_without_tenants_is_unauthorized_client(services):
    await add_route(services)
    secret = await add_client(services, tenants=())
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret)), services), 400, "unauthorized_client")


@pytest.mark.parametrize("scope", ["", "not-a-guid", f"{TENANT} {OTHER_TENANT}", "{" + TENANT + "}"])
async def test_scope_without_exactly_one_tenant_is_invalid_scope(services, secret, scope):
    form = post_form(CLIENT_ID, secret, scope=scope)
    if not scope:
        del form["scope"]
    assert_error(await respond(token_request(form), services), 400, "invalid_scope")


async def test_smart_scopes_beside_the_tenant_are_granted_and_listed_after_it(services, secret):
    response = await respond(token_request(post_form(CLIENT_ID, secret, scope=f"system/*.read {TENANT}")), services)
    assert response.status == 200 and body(response)["scope"] == f"{TENANT} system/*.rs"


@pytest.mark.parametrize("scope", [f"openid {TENANT}", f"patient/*.read {TENANT}", f"{TENANT} system/Patient.c"])
async def test_scope_values_the_client_may_not_have_are_invalid_scope(services, secret, scope):
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret, scope=scope)), services), 400,
                 "invalid_scope")


async def test_tenant_not_allowed_for_the_client_is_invalid_scope(services, secret):
    await add_route(services, OTHER_TENANT)
    form = post_form(CLIENT_ID, secret, scope=OTHER_TENANT)
    assert_error(await respond(token_request(form), services), 400, "invalid_scope")


async def test_wildcard_client_gets_any_routed_tenant(services):
    await add_route(services, OTHER_TENANT)
    secret = await add_client(services, "wild", tenants=("*",))
    response = await respond(token_request(post_form("wild", secret, scope=OTHER_TENANT)), services)
    assert response.status == 200


async def test_tenant_without_route_is_invalid_scope(services):
    secret = await add_client(services, tenants=("*",))
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret)), services), 400, "invalid_scope")


async def test_tenant_with_disabled_route_is_invalid_scope(services):
    await add_route(services, enabled=False)
    secret = await add_client(services)
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret)), services), 400, "invalid_scope")


# -- 405, 413, 429, 503 ----------------------------------------------------------------------------------------------
async def test_get_on_token_is_405_with_allow(services, secret):
    response = await respond(token_request(method="GET", body=b""), services)
    assert_error(response, 405, "invalid_request")
    assert response.headers["Allow"] == "POST"


async def test_oversized_body_is_413(services, secret):
    request = token_request(body=b"a=" + b"x" * MAX_BODY_BYTES)
    assert_error(await respond(request, services), 413, "invalid_request")


async def test_repeated_failures_are_refused_with_429_and_retry_after(services, clock, secret):
    limit = services.settings.auth_failure_limit
    for _ in range(limit):
        assert (await respond(token_request(post_form(CLIENT_ID, "nope")), services)).status == 401
    response = await respond(token_request(post_form(CLIENT_ID, secret)), services)  # even the right secret
    assert_error(response, 429, "temporarily_unavailable")
    assert 1 <= int(response.headers["Retry-After"]) <= services.settings.auth_failure_window_seconds
    # the same client from another address is not locked out
    other = token_request(post_form(CLIENT_ID, secret), address="198.51.100.20")
    assert (await respond(other, services)).status == 200
    clock.advance(services.settings.auth_failure_window_seconds)
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200


async def test_successes_are_never_limited(services, secret):
    for _ in range(services.settings.auth_failure_limit * 3):
        assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200


async def test_one_address_trying_many_clients_is_limited(clock):
    services = memory_services(make_settings(AUTH_FAILURE_LIMIT_PER_ADDRESS="5"), clock)
    for n in range(5):
        await respond(token_request(post_form(f"client-{n}", "nope")), services)
    response = await respond(token_request(post_form("client-99", "nope")), services)
    assert_error(response, 429, "temporarily_unavailable")


async def test_client_store_outage_with_nothing_cached_is_503(services, secret):
    services.clients.available = False
    response = await respond(token_request(post_form(CLIENT_ID, secret)), services)
    assert_error(response, 503, "temporarily_unavailable")
    assert int(response.headers["Retry-After"]) > 0


async def test_key_vault_outage_with_nothing_cached_is_503(services, secret):
    services.secrets.available = False
    assert_error(await respond(token_request(post_form(CLIENT_ID, secret)), services), 503, "temporarily_unavailable")


async def test_outage_with_warm_caches_still_issues_tokens(services, clock, secret):
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
    services.clients.available = services.routes.available = services.secrets.available = False
    clock.advance(services.settings.client_cache_seconds + 1)  # stale, but within stale-if-error
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200


# -- jwks, authorize, dispatch -------------------------------------------------------------------------------------
async def test_jwks_publishes_public_keys_only(services, secret):
    await respond(token_request(post_form(CLIENT_ID, secret)), services)
    response = await respond(token_request(method="GET", body=b"", endpoint="jwks"), services)
    assert response.status == 200
    assert response.content_type.startswith("application/jwk-set+json")
    assert "max-age" in response.headers["Cache-Control"]
    keys = body(response)["keys"]
    assert keys and all(set(k) == {"kty", "crv", "x", "y", "kid", "use", "alg"} for k in keys)


async def test_post_on_jwks_is_405(services):
    response = await respond(token_request(endpoint="jwks"), services)
    assert response.status == 405 and response.headers["Allow"] == "GET"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_authorize_answers_an_oauth_error_and_never_redirects(services, method):
    request = token_request(method=method, body=b"", endpoint="authorize",
                            query="response_type=code&client_id=x&redirect_uri=https%3A%2F%2Fevil.example")
    response = await respond(request, services)
    assert_error(response, 400, "unsupported_response_type")
    assert "Location" not in response.headers


async def test_unknown_endpoint_is_404(services):
    response = await respond(token_request(endpoint="introspect"), services)
    assert response.status == 404


# -- logging ---------------------------------------------------------------------------------------------------------
async def test_one_log_line_per_request_without_secrets_or_tokens(services, secret, caplog):
    caplog.set_level(logging.DEBUG)
    ok = await respond(token_request({"grant_type": "client_credentials", "scope": TENANT},
                                     headers={"Authorization": basic(CLIENT_ID, secret)}), services)
    await respond(token_request(post_form(CLIENT_ID, secret + "x")), services)
    token = body(ok)["access_token"]
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.oauth"]
    assert len(lines) == 2
    assert f"client_id={CLIENT_ID}" in lines[0] and f"tenant={TENANT}" in lines[0] and "outcome=issued" in lines[0]
    assert "outcome=invalid_client" in lines[1] and "duration_ms=" in lines[1]
    everything = caplog.text + "".join(lines)
    assert secret not in everything and token not in everything and secret.split(".")[1] not in everything
    assert basic(CLIENT_ID, secret).split()[1] not in everything


async def test_forged_forwarded_for_hops_do_not_escape_the_limit(services, secret):
    for n in range(services.settings.auth_failure_limit):
        forged = token_request(post_form(CLIENT_ID, "nope"), headers={"X-Forwarded-For": f"10.0.0.{n}, 203.0.113.7"})
        assert (await respond(forged, services)).status == 401
    again = token_request(post_form(CLIENT_ID, "nope"), headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"})
    assert_error(await respond(again, services), 429, "temporarily_unavailable")
