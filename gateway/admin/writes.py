"""How an admin operation reads and writes the stores: store errors mapped to problems, one retry loop.

- :func:`store_call`: a read (or a write with nothing to undo) whose store errors become problem details:
  an unreachable store 503 with ``Retry-After``, a continuation token the store refuses 400.
- :func:`conditional_write`: one ETag-conditional write (``if_match``) of a read-check-write cycle. A record
  that changed or vanished since it was read raises :class:`Changed`, so :func:`retry_on_conflict` reads it
  again and re-checks its rules, unless the caller pinned a version itself (``If-Match``): then 412.
- :func:`retry_on_conflict`: that cycle, at most :data:`CONFLICT_RETRIES` times, then 409.
- :func:`may_write` / :func:`undo`: the first write refused once the caller was answered 503
  (``gateway.admin.attempts``); a compensating step whose own failure is logged, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gateway.admin.attempts import Abandoned, checkpoint
from gateway.admin.problems import Problem, bad_request, conflict, unavailable
from gateway.stores.errors import (
    AlreadyExists,
    InvalidContinuation,
    NotFound,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
)

logger = logging.getLogger("gateway.admin")

CONFLICT_RETRIES = 5
T = TypeVar("T")


class Changed(Exception):
    """The record changed or vanished between its read and the conditional write: read it again."""


async def store_call(call: Awaitable[T]) -> T:
    """Await a store call; an unreachable store is 503, a refused continuation token 400."""
    try:
        return await call
    except StoreUnavailable:
        raise unavailable() from None
    except InvalidContinuation:
        raise bad_request("The continuation token is not valid; start the listing again.", "continuation") from None


def may_write() -> None:
    """Before a first write (nothing to undo yet): refuse to start it once the caller has been answered."""
    try:
        checkpoint()
    except Abandoned:
        raise unavailable() from None


async def undo(what: str, step: Callable[[], Awaitable[Any]]) -> None:
    """Run a compensating step; log (without values) when even that fails."""
    try:
        await step()
    except StoreError as exc:
        logger.error("rollback failed: %s error=%s", what, type(exc).__name__)


async def conditional_write(write: Callable[[], Awaitable[T]], *, stale: Problem | None = None,
                            gone: Problem | None = None) -> T:
    """Run one conditional write, unless the caller was already answered (then 503).

    ``stale``: raised when the record changed (or vanished) since it was read, instead of :class:`Changed`
    (the caller sent ``If-Match`` / ``If-None-Match``: 412). ``gone``: raised when it vanished (404).
    """
    try:
        checkpoint()
        return await write()
    except NotFound:
        raise (gone or stale or Changed()) from None
    except (PreconditionFailed, AlreadyExists):
        raise (stale or Changed()) from None
    except StoreUnavailable:
        raise unavailable() from None


async def retry_on_conflict(attempt: Callable[[int], Awaitable[T]], gave_up: str) -> T:
    """``attempt(n)`` (read, check, :func:`conditional_write`) until it does not raise :class:`Changed`;
    409 with ``gave_up`` after :data:`CONFLICT_RETRIES` attempts."""
    for number in range(CONFLICT_RETRIES):
        try:
            return await attempt(number)
        except Changed:
            continue
    raise conflict(gave_up)
