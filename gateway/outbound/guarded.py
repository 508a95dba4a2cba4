"""An aiohttp connector that checks every resolved address before connecting.

The check runs at connect time, on the resolved address, so a DNS name that points, or
later re-points, at a refused address is refused too (the SSRF row of docs/security.md).

Overrides ``TCPConnector._resolve_host``, which aiohttp (pinned in requirements.txt) calls for
DNS names *and* IP literals alike, cached or not; ``tests/integration/test_proxy_destinations.py``
fails if an upgrade bypasses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from gateway.outbound.errors import DestinationRefused


class GuardedConnector(aiohttp.TCPConnector):
    def __init__(self, problem_of: Callable[[str], str | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._problem_of = problem_of

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> list[Any]:
        results = await super()._resolve_host(host, port, traces=traces)
        for result in results:
            problem = self._problem_of(result["host"])
            if problem is not None:
                # Refuse the whole name when any address is refused (mixed records: DNS rebinding).
                raise DestinationRefused(f"the provider's address is not allowed: {problem}")
        return results
