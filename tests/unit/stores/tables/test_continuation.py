"""Opaque continuation tokens (gateway/stores/tables/continuation.py)."""

from __future__ import annotations

import base64

import pytest

from gateway.stores.errors import InvalidContinuation
from gateway.stores.tables.continuation import decode_continuation, encode_continuation


@pytest.mark.parametrize("token", [{"PartitionKey": "cDI=", "RowKey": None}, {"PartitionKey": "a", "RowKey": "b/é"},
                                   {"PartitionKey": None, "RowKey": "r"}])
def test_round_trip_through_a_url_safe_string(token: dict) -> None:
    encoded = encode_continuation(token)
    assert encoded and set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_continuation(encoded) == token


def test_no_token_means_no_more_pages() -> None:
    assert encode_continuation(None) is None and encode_continuation({}) is None
    assert decode_continuation(None) is None


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("value", ["", "!!!", "é", b64(b"not json"), b64(b"[1,2]"), b64(b'{"pk":"a"}'),
                                   b64(b'{"pk":1,"rk":null}'), b64(b'{"pk":null,"rk":null}'),
                                   b64(b'{"pk":"a","rk":"b","x":1}')])
def test_tokens_it_did_not_issue_are_refused(value: str) -> None:
    with pytest.raises(InvalidContinuation) as caught:
        decode_continuation(value)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == "continuation token is not valid"
