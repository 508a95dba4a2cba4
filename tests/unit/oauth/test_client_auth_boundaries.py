"""Client authentication at the token endpoint, exactly (RFC 6749 §2.3.1, §5.2; RFC 7617): the error and
description each refusal gives the client, and the spellings of Basic credentials that are accepted.

The description is what a client's developer reads to find out what is wrong; a refusal that changed its
error code or message, or a credential read differently, is something a client notices.
"""

from __future__ import annotations

import base64

import pytest

from gateway.oauth.client_auth import presented_credentials
from gateway.oauth.errors import InvalidClient, InvalidRequest, OAuthError
from tests.support.oauth import basic, token_request


def _raw_basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def _refusal(headers: dict[str, str] | list[tuple[str, str]], form: dict[str, str]) -> OAuthError:
    request = token_request()
    for name, value in (headers.items() if isinstance(headers, dict) else headers):
        request.headers.add(name, value)
    with pytest.raises(OAuthError) as info:
        presented_credentials(request, form)
    return info.value


@pytest.mark.parametrize("headers,form,error,description", [
    ({}, {}, InvalidClient, "client authentication required (client_secret_basic or client_secret_post)"),
    ({}, {"client_id": "a"}, InvalidClient, "client_secret_post needs both client_id and client_secret"),
    ({}, {"client_secret": "s"}, InvalidClient, "client_secret_post needs both client_id and client_secret"),
    ({}, {"client_id": "", "client_secret": "s"}, InvalidClient, "invalid client_id"),
    ({}, {"client_id": "x" * 129, "client_secret": "s"}, InvalidClient, "invalid client_id"),
    ({}, {"client_id": "a\tb", "client_secret": "s"}, InvalidClient, "invalid client_id"),
    ({}, {"client_id": "a", "client_secret": ""}, InvalidClient, "client authentication failed"),
    ({}, {"client_id": "a", "client_secret": "s" * 513}, InvalidClient, "client authentication failed"),
    ([("Authorization", basic("a", "b")), ("Authorization", basic("a", "b"))], {}, InvalidRequest,
     "repeated Authorization header"),
    ({"Authorization": "Bearer " + base64.b64encode(b"a:b").decode()}, {}, InvalidClient,
     "unsupported authentication scheme; use Basic or client_secret_post"),
    ({"Authorization": "Basic YTpi="}, {}, InvalidClient, "malformed Basic credentials"),
    ({"Authorization": "Basic YT pi"}, {}, InvalidClient, "malformed Basic credentials"),
    ({"Authorization": "Basic YWI6Yx=="}, {}, InvalidClient, "malformed Basic credentials"),
    ({"Authorization": _raw_basic("a:b")[:6] + base64.b64encode(b"\xff:\xfe").decode()}, {}, InvalidClient,
     "malformed Basic credentials"),
    ({"Authorization": basic("a", "b")}, {"client_secret": "b"}, InvalidRequest,
     "use exactly one client authentication method (Basic or client_secret_post)"),
    ({"Authorization": basic("a", "b")}, {"client_id": "c"}, InvalidRequest,
     "client_id in the body differs from the Basic credentials"),
    ({"Authorization": basic("a:b\n", "s")}, {}, InvalidClient, "invalid client_id"),
])
def test_each_refusal_tells_the_client_exactly_why(headers, form, error, description):
    refusal = _refusal(headers, form)
    assert type(refusal) is error
    assert refusal.description == description


def test_basic_refusals_challenge_for_basic_and_body_ones_do_not():
    """RFC 6749 §5.2: a client that used the Authorization header gets a 401 with WWW-Authenticate."""
    assert _refusal({"Authorization": basic("", "s")}, {}).basic
    assert _refusal({"Authorization": basic("x" * 129, "s")}, {}).basic
    assert _refusal({"Authorization": basic("a", "")}, {}).basic
    assert not _refusal({}, {"client_id": "a", "client_secret": ""}).basic


def test_a_colon_in_an_unencoded_basic_secret_belongs_to_the_secret():
    """RFC 7617 §2: the user-id ends at the first colon; the password may contain colons."""
    creds = presented_credentials(token_request(headers={"Authorization": _raw_basic("client:pa:ss:word")}), {})
    assert (creds.client_id, creds.client_secret) == ("client", "pa:ss:word")


@pytest.mark.parametrize("separator", ["  ", "\t", " \t "])
def test_white_space_between_scheme_and_credentials_is_tolerated(separator):
    """RFC 7235 §2.1 allows one or more spaces after the scheme; a lenient client's header still works."""
    header = "Basic" + separator + base64.b64encode(b"a:b").decode()
    if separator == "\t":
        with pytest.raises(InvalidClient):  # the scheme ends at a space only
            presented_credentials(token_request(headers={"Authorization": header}), {})
        return
    creds = presented_credentials(token_request(headers={"Authorization": header}), {})
    assert (creds.client_id, creds.client_secret) == ("a", "b")


def test_the_authorization_header_is_found_whatever_its_case():
    request = token_request()
    request.headers.add("AUTHORIZATION", basic("a", "b"))
    assert presented_credentials(request, {}).client_id == "a"
