"""What went wrong outside a function's own handling (``gateway.entry``); each surface renders it in its format."""

from __future__ import annotations

import enum


class Failure(enum.Enum):
    """A request that never reached its surface's own handling, or escaped it."""

    MISCONFIGURED = "misconfigured"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"

    @property
    def status(self) -> int:
        return 503 if self is Failure.UNAVAILABLE else 500
