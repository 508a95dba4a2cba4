"""Client authentication methods (RFC 6749 §2.3.1): Basic with form-urlencoded parts, or the body."""

from __future__ import annotations

import pytest

from gateway.oauth.client_auth import AUTH_METHODS, extract_credentials
from gateway.oauth.errors import InvalidClient, InvalidRequest
from tests.unit.oauth.helpers import basic, token_request


def test_registry_names_the_two_methods():
    assert list(AUTH_METHODS) == ["client_secret_basic", "client_secret_post"]


def test_basic_parts_are_form_urlencoded():
    request = token_request(headers={"Authorization": basic("id with:colon+plus", "s3cr:t+/=")})
    creds = extract_credentials(request, {})
    assert (creds.client_id, creds.client_secret, creds.method) == ("id with:colon+plus", "s3cr:t+/=",
                                                                    "client_secret_basic")
    assert "s3cr" not in repr(creds)


def test_basic_scheme_is_case_insensitive():
    creds = extract_credentials(token_request(headers={"Authorization": "bAsIc " + basic("a", "b").split()[1]}), {})
    assert creds.client_id == "a"


def test_post():
    creds = extract_credentials(token_request(), {"client_id": "a", "client_secret": "b"})
    assert creds.method == "client_secret_post"


def test_body_client_id_equal_to_basic_is_tolerated():
    creds = extract_credentials(token_request(headers={"Authorization": basic("a", "b")}), {"client_id": "a"})
    assert creds.client_id == "a"


def test_two_authorization_headers_are_refused():
    request = token_request()
    request.headers.add("Authorization", basic("a", "b"))
    request.headers.add("Authorization", basic("c", "d"))
    with pytest.raises(InvalidRequest):
        extract_credentials(request, {})


@pytest.mark.parametrize("client_id", ["x" * 129, "bad\nid"])
def test_unreasonable_client_ids_are_refused(client_id):
    with pytest.raises(InvalidClient):
        extract_credentials(token_request(), {"client_id": client_id, "client_secret": "s"})
