"""Token request body parsing (RFC 6749 §3.1, §3.2, Appendix B)."""

from __future__ import annotations

import pytest

from gateway.oauth.errors import InvalidRequest, RequestTooLarge
from gateway.oauth.form import MAX_BODY_BYTES, parse_form
from tests.support.oauth import token_request


def test_parses_and_drops_empty_values():
    form = parse_form(token_request(body=b"grant_type=client_credentials&scope=&client_id=a%2Bb+c"))
    assert form == {"grant_type": "client_credentials", "client_id": "a+b c"}


def test_repeated_even_if_empty_is_refused():
    with pytest.raises(InvalidRequest, match="scope is repeated"):
        parse_form(token_request(body=b"scope=&scope=x"))


def test_size_limit():
    parse_form(token_request(body=b"a=" + b"x" * (MAX_BODY_BYTES - 2)))
    with pytest.raises(RequestTooLarge):
        parse_form(token_request(body=b"a=" + b"x" * (MAX_BODY_BYTES - 1)))


def test_too_many_fields():
    with pytest.raises(InvalidRequest):
        parse_form(token_request(body=b"&".join(b"f%d=1" % n for n in range(100))))


def test_error_names_are_sanitised():
    with pytest.raises(InvalidRequest) as info:
        parse_form(token_request(body=b"%3Cscript%3E=1&%3Cscript%3E=2"))
    assert "<" not in info.value.description
