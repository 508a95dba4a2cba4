"""Opaque continuation tokens and nextLink."""

from __future__ import annotations

import pytest

from gateway.admin.paging import decode_continuation, encode_continuation, next_link
from gateway.admin.problems import Problem


def test_round_trip_and_next_link():
    token = encode_continuation("store-token/with?odd=chars")
    assert decode_continuation(token) == "store-token/with?odd=chars"
    link = next_link("https://gw.example.org", "/manage/audit", "t", 50, {"since": "2026-01-01T00:00:00Z"})
    assert link.startswith("https://gw.example.org/manage/audit?since=2026-01-01T00%3A00%3A00Z&pageSize=50&")
    assert next_link("https://gw.example.org", "/manage/audit", None, 50) is None


@pytest.mark.parametrize("bad", ["", "!!", "e30", "eyJ2IjoxLCJ0IjoxfQ"])
def test_tampered_tokens_are_400(bad):
    with pytest.raises(Problem) as problem:
        decode_continuation(bad)
    assert problem.value.status == 400
