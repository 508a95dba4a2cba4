"""Client authentication methods (RFC 6749 §2.3.1): Basic with form-urlencoded parts, or the body."""

from __future__ import annotations

import base64

import pytest

from gateway.oauth.client_auth import MAX_CLIENT_ID_LENGTH, MAX_SECRET_LENGTH, METHODS, presented_credentials
from gateway.oauth.errors import InvalidClient, InvalidRequest
from tests.support.oauth import basic, token_request


def test_the_registry_names_every_method_in_the_order_they_are_tried():
    assert list(METHODS) == ["private_key_jwt", "client_secret_basic", "client_secret_post"]


def test_basic_parts_are_form_urlencoded():
    request = token_request(headers={"Authorization": basic("id with:colon+plus", "s3cr:t+/=")})
    creds = presented_credentials(request, {})
    assert (creds.client_id, creds.client_secret, creds.method) == ("id with:colon+plus", "s3cr:t+/=",
                                                                    "client_secret_basic")
    assert "s3cr" not in repr(creds)


def test_basic_scheme_is_case_insensitive():
    creds = presented_credentials(token_request(headers={"Authorization": "bAsIc " + basic("a", "b").split()[1]}), {})
    assert creds.client_id == "a"


def test_post():
    creds = presented_credentials(token_request(), {"client_id": "a", "client_secret": "b"})
    assert creds.method == "client_secret_post"


def test_body_client_id_equal_to_basic_is_tolerated():
    creds = presented_credentials(token_request(headers={"Authorization": basic("a", "b")}), {"client_id": "a"})
    assert creds.client_id == "a"


def test_two_authorization_headers_are_refused():
    request = token_request()
    request.headers.add("Authorization", basic("a", "b"))
    request.headers.add("Authorization", basic("c", "d"))
    with pytest.raises(InvalidRequest):
        presented_credentials(request, {})


@pytest.mark.parametrize("client_id", ["x" * 129, "bad\nid"])
def test_unreasonable_client_ids_are_refused(client_id):
    with pytest.raises(InvalidClient):
        presented_credentials(token_request(), {"client_id": client_id, "client_secret": "s"})


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("header", [f"Bearer {_b64('a:b')}", f"Basicx {_b64('a:b')}", f"Digest {_b64('a:b')}",
                                    f"Basic:{_b64('a:b')}", f"B {_b64('a:b')}", _b64("a:b")])
def test_only_the_basic_scheme_carries_basic_credentials(header):
    # Not Basic, even with well-formed id:secret after it, and not even with valid credentials in the body.
    for form in ({}, {"client_id": "a", "client_secret": "b"}):
        with pytest.raises(InvalidClient) as info:
            presented_credentials(token_request(headers={"Authorization": header}), form)
        assert info.value.basic  # answered with the Basic challenge: the header was used and refused


@pytest.mark.parametrize("encoded", ["", "!!!!", _b64("no-colon"), _b64(":secret"), _b64("id:"), "YTpi=", "YTpi====",
                                     base64.b64encode(b"\xff\xfe:secret").decode(), _b64("a:b") + "*"])
def test_malformed_basic_credentials_are_invalid_client(encoded):
    with pytest.raises(InvalidClient) as info:
        presented_credentials(token_request(headers={"Authorization": f"Basic {encoded}"}), {})
    assert info.value.basic


def test_basic_with_a_body_secret_is_two_methods():
    with pytest.raises(InvalidRequest):
        presented_credentials(token_request(headers={"Authorization": basic("a", "b")}), {"client_secret": "b"})
    with pytest.raises(InvalidRequest):
        presented_credentials(token_request(headers={"Authorization": basic("a", "b")}), {"client_id": "other"})


@pytest.mark.parametrize("form", [{"client_id": "", "client_secret": "s"}, {"client_id": "a", "client_secret": ""},
                                  {"client_id": "a"}, {"client_secret": "s"}])
def test_post_needs_a_non_empty_id_and_secret(form):
    with pytest.raises(InvalidClient) as info:
        presented_credentials(token_request(), form)
    assert not info.value.basic


def test_no_credentials_at_all_is_invalid_client():
    with pytest.raises(InvalidClient):
        presented_credentials(token_request(), {"grant_type": "client_credentials"})


def test_length_limits_are_exact():
    ok = presented_credentials(token_request(), {"client_id": "x" * MAX_CLIENT_ID_LENGTH,
                                               "client_secret": "s" * MAX_SECRET_LENGTH})
    assert len(ok.client_id) == MAX_CLIENT_ID_LENGTH and len(ok.client_secret) == MAX_SECRET_LENGTH
    with pytest.raises(InvalidClient):
        presented_credentials(token_request(), {"client_id": "x", "client_secret": "s" * (MAX_SECRET_LENGTH + 1)})
    with pytest.raises(InvalidClient):
        presented_credentials(token_request(headers={"Authorization": basic("x" * (MAX_CLIENT_ID_LENGTH + 1), "s")}),
                            {})
    with pytest.raises(InvalidClient):
        presented_credentials(token_request(headers={"Authorization": basic("x", "s" * (MAX_SECRET_LENGTH + 1))}), {})
