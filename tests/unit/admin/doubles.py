"""Store doubles for failure injection around the in-memory twins (unit tests only)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.stores.errors import StoreUnavailable


class Failing:
    """Wraps a store; the named methods raise ``error`` (default StoreUnavailable) after ``after`` successful calls."""

    def __init__(self, inner: Any, *methods: str, after: int = 0, error: Exception | None = None) -> None:
        self._inner = inner
        self._methods = set(methods)
        self._remaining = after
        self._error = error
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._methods:
            return attr

        async def failing(*args: Any, **kwargs: Any) -> Any:
            if self._remaining > 0:
                self._remaining -= 1
                return await attr(*args, **kwargs)
            self.failures += 1
            raise self._error if self._error is not None else StoreUnavailable(f"{name} failed (injected)")
        return failing


class Yielding:
    """Wraps a store so every call yields to the event loop first: concurrent operations interleave."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        async def yielding(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            result = await attr(*args, **kwargs)
            await asyncio.sleep(0)
            return result
        return yielding
