"""Admin requests are answered within ``STORE_TIMEOUT_SECONDS``, even when a store hangs; nothing is half-written.

A store that accepts connections but never answers would otherwise hold an admin request for the SDK's
connect and read timeouts and its retry (about 30 s). Here the request's operation runs as a task the
caller waits for at most ``STORE_TIMEOUT_SECONDS``; then the caller gets 503 with ``Retry-After``, and the
operation is *abandoned*: it is not cancelled (a write already sent may still land when the store wakes
up, and only the operation knows how to undo it), but

- it starts no further write (:func:`checkpoint` raises :class:`Abandoned`, a ``StoreUnavailable``, so
  the operation's own failure path undoes what it had done), and
- a write that was in flight and lands afterwards is undone by the operation (:func:`commit` says so).

Once an operation has committed (its deciding write landed while the caller was still waiting) it is
finished, not abandoned: the caller gets its answer when the clean-up after the commit is done.
Abandoned operations finish in the background; :func:`settle` waits for them (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from gateway.stores.errors import StoreUnavailable

logger = logging.getLogger("gateway.admin")
T = TypeVar("T")


@dataclass
class Attempt:
    """One admin request's operation: whether its caller has been answered, whether it committed."""

    answered: bool = False
    committed: bool = False


class Abandoned(StoreUnavailable):
    """The caller was answered (503) before this step: the step is not started and the operation undoes itself."""


class TimedOut(StoreUnavailable):
    """A store did not answer within ``STORE_TIMEOUT_SECONDS``; the caller is answered 503 now."""


_current: ContextVar[Attempt | None] = ContextVar("gateway_admin_attempt", default=None)
_background: set[asyncio.Task[object]] = set()


def checkpoint() -> None:
    """Call before each write step: refuses to start it once the caller has been answered."""
    attempt = _current.get()
    if attempt is not None and attempt.answered and not attempt.committed:
        raise Abandoned("the caller was answered before this step; the change is being undone")


def commit() -> bool:
    """Call right after the write that makes the change: True if it stands, False if it must be undone
    (the caller was already answered 503)."""
    attempt = _current.get()
    if attempt is None:
        return True
    if attempt.answered and not attempt.committed:
        return False
    attempt.committed = True
    return True


def answered() -> bool:
    """Whether this operation's caller has been answered already (an irreversible step landed late)."""
    attempt = _current.get()
    return attempt is not None and attempt.answered and not attempt.committed


async def run_within(seconds: float, operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation()`` and return its result, or raise :class:`TimedOut` after ``seconds`` while it
    continues in the background (abandoned, see the module docstring)."""
    attempt = Attempt()
    token = _current.set(attempt)
    try:
        task = asyncio.ensure_future(operation())  # the task copies the context: it sees ``attempt``
    finally:
        _current.reset(token)
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        if attempt.committed or task.done():
            return await task
        attempt.answered = True
        _background.add(task)
        task.add_done_callback(_finished)
        raise TimedOut(f"a store did not answer within {seconds:g} s") from None


def _finished(task: asyncio.Task[object]) -> None:
    _background.discard(task)
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.warning("abandoned admin operation ended: %s", type(error).__name__)
    else:
        logger.warning("abandoned admin operation ended")


def in_background() -> int:
    """How many abandoned operations are still running in this worker."""
    return len(_background)


async def settle(timeout: float = 60.0) -> None:
    """Wait (at most ``timeout``) until every abandoned operation of this worker has finished."""
    loop = asyncio.get_running_loop()
    pending = [t for t in _background if not t.done() and t.get_loop() is loop]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def run_later(coroutine: Awaitable[None]) -> None:
    """Run ``coroutine`` in the background (an audit record that must not hold up a 503), keeping a reference."""
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)
