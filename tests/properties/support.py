"""Shared pieces of the property tests: settings per profile, an event loop, store snapshots, strategies."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st

from gateway.services import Services

T = TypeVar("T")

PROFILE = "deep" if os.environ.get("HYPOTHESIS_PROFILE", "").strip().lower() == "deep" else "properties"
DEEP_FACTOR = 25


def examples(n: int) -> settings:
    """Settings of the active profile with ``n`` examples (``n`` * DEEP_FACTOR under HYPOTHESIS_PROFILE=deep)."""
    count = n * DEEP_FACTOR if PROFILE == "deep" else n
    return settings(settings.get_profile(PROFILE), max_examples=count)


class Loop:
    """One event loop per test: every example of a property runs its coroutine on it."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    def run(self, awaitable: Awaitable[T]) -> T:
        return self._loop.run_until_complete(awaitable)

    def close(self) -> None:
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()


def store_state(services: Services) -> dict[str, Any]:
    """What a refused request must not change: routes, clients and secrets (memory twins).

    The twins replace their records (frozen dataclasses) rather than mutate them, so copies of the maps suffice.
    """
    return {
        "routes": dict(services.routes._items),  # noqa: SLF001 - the twins' own state
        "clients": dict(services.clients._items),  # noqa: SLF001
        "secrets": {name: list(versions) for name, versions in services.secrets._versions.items()},  # noqa: SLF001
    }


# --------------------------------------------------------------------------- strategies

def json_values(max_leaves: int = 12, text: st.SearchStrategy[str] | None = None,
                keys: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """Any JSON value: nested lists/objects of every scalar, huge numbers included."""
    text = text if text is not None else st.text(max_size=40)
    keys = keys if keys is not None else text
    scalars = st.one_of(
        st.none(), st.booleans(), text,
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([0, -1, 1e308, -1e308, 2**63, 2**64 + 1, 0.5, 1e-300]),
    )
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)), max_leaves=max_leaves)


def deep_nesting(depth: int) -> bytes:
    """A JSON document nested ``depth`` levels (arrays and objects alternating)."""
    return (b'{"a":[' * (depth // 2)) + b"1" + (b"]}" * (depth // 2))


HOSTILE_JSON_BODIES = st.one_of(
    st.integers(min_value=200, max_value=120_000).map(deep_nesting),
    st.integers(min_value=1, max_value=60_000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([b"NaN", b"Infinity", b'{"a": NaN}', b"-Infinity", b"1e999", b"9" * 5000,
                     b'{"a": 1e400}', b'"\\ud800"', b'{"\\u0000": 1}', b"\xff\xfe{}", b"\xc3\x28", b"", b" ",
                     b"null", b"[]", b'"x"', b"{}", b"{" + b'"a":1,' * 5000 + b'"a":2}']),
)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every scalar in a JSON document, in document order."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from leaves(value, (*path, index))
    else:
        yield path, document
