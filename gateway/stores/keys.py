"""What a store key (tenant id, client id, audit record id) may be.

Table Storage's rules, applied by every implementation so that the in-memory
twin refuses what Azure would
(https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#characters-disallowed-in-key-fields):
a non-empty string of at most 1 KiB without ``/``, ``\\``, ``#``, ``?`` or
control characters (U+0000-U+001F, U+007F-U+009F).
"""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 512  # characters; 1 KiB of UTF-16 at most
RESERVED_PREFIX = "~"
"""Keys of the routes and clients tables that hold no route or client (the change log, the legacy client id
index) start with it: ``~`` sorts after every character a tenant GUID or an issued client id is made of."""
_DISALLOWED = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def key_problem(value: object) -> str | None:
    """Why ``value`` cannot be a key, or None if it can."""
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return "must not be empty"
    if len(value) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters"
    if _DISALLOWED.search(value):
        return "must not contain '/', '\\', '#', '?' or control characters"
    return None


def check_key(value: object, what: str) -> str:
    """``value`` if it is a valid key; ValueError naming ``what`` otherwise (the value is not echoed)."""
    problem = key_problem(value)
    if problem is not None or not isinstance(value, str):  # key_problem refuses every non-string
        raise ValueError(f"{what} {problem}")
    return value


def is_valid_key(value: object) -> bool:
    return key_problem(value) is None
