"""Closing per-worker resources whatever their kind (sync ``close()`` or async ``aclose()``/``close()``)."""

from __future__ import annotations

import inspect
from typing import Any


async def close_resource(resource: Any) -> None:
    """Call ``aclose()`` or ``close()`` on ``resource`` if it has one, awaiting it when it is async."""
    closer = getattr(resource, "aclose", None) or getattr(resource, "close", None)
    if closer is None:
        return
    result = closer()
    if inspect.isawaitable(result):
        await result
