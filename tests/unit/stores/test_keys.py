"""Key rules shared by every store (gateway/stores/keys.py): what Table Storage can hold as a key."""

from __future__ import annotations

import pytest

from gateway.stores.keys import MAX_KEY_LENGTH, check_key, is_valid_key, key_problem


@pytest.mark.parametrize("key", ["0f8fad5b-d9cb-469f-a165-70867728950e", "patients-app", "a b", "é",
                                 "x" * MAX_KEY_LENGTH, "quote'inside"])
def test_valid_keys(key: str) -> None:
    assert is_valid_key(key) and check_key(key, "client_id") == key


@pytest.mark.parametrize("key", ["", "a/b", "a\\b", "a#b", "a?b", "nul\x00", "tab\t", "del\x7f", "c1\x85",
                                 "x" * (MAX_KEY_LENGTH + 1), None, 42])
def test_invalid_keys_are_refused_with_a_message_that_does_not_echo_them(key: object) -> None:
    assert not is_valid_key(key)
    with pytest.raises(ValueError) as caught:
        check_key(key, "client_id")
    assert str(caught.value).startswith("client_id ")
    assert key_problem(key) in str(caught.value)
    if isinstance(key, str) and len(key) > 1:
        assert key not in str(caught.value)
