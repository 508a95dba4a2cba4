"""What the emulator counts, and the request rate it allows (as Key Vault's service limits do).

Every request is counted under the operation it names (``secrets.get``, ``secrets.list``, ``keys.sign``...),
the auth challenges it answers (``challenge``) and the requests it refuses for the rate (``throttled``), so a
benchmark or a test can say exactly how many Key Vault calls an operation of the gateway cost.

An optional rate limit answers as Key Vault does past its limit
(https://learn.microsoft.com/azure/key-vault/general/service-limits, "Key Vault throttling guidance"):
``429`` with ``Retry-After`` (seconds) and the error code ``Throttled``, for the calls over ``calls`` in any
``seconds``-long sliding window. Challenges and refused calls do not count toward the limit.

Both are driven over HTTP under ``/_emulator/`` (not a Key Vault path, never challenged): ``GET`` and
``DELETE /_emulator/counts`` read and reset the counts, ``PUT /_emulator/rate-limit`` with
``{"calls": 200, "seconds": 10}`` sets the limit and ``DELETE`` lifts it. A limit can also be set at start
(``--rate-limit 200/10``).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

CONTROL_PREFIX = "/_emulator/"
JSON_TYPE = "application/json; charset=utf-8"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RateLimit:
    """At most ``calls`` calls in any ``seconds``-long window."""

    calls: int
    seconds: float
    _times: deque[float] = field(default_factory=deque)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"200/10"``: 200 calls per 10 s."""
        calls, _, seconds = text.partition("/")
        limit = cls(int(calls), float(seconds or "10"))
        if limit.calls < 1 or limit.seconds <= 0:
            raise ValueError("a rate limit is a positive number of calls per a positive number of seconds")
        return limit

    def retry_after(self, now: float) -> int | None:
        """None when a call may go now (and it is counted); else the whole seconds to wait."""
        while self._times and self._times[0] <= now - self.seconds:
            self._times.popleft()
        if len(self._times) < self.calls:
            self._times.append(now)
            return None
        return max(1, math.ceil(self._times[0] + self.seconds - now))


def operation(request: web.Request) -> str:
    """The Key Vault operation a request names: ``<collection>.<verb>`` (``secrets.get``, ``keys.sign``...)."""
    parts = [p for p in request.path.split("/") if p]
    collection = parts[0] if parts else "root"
    method = request.method
    if method == "GET":
        verb = "list" if len(parts) == 1 else ("versions" if parts[-1] == "versions" else "get")
    elif method == "POST":
        verb = parts[-1] if len(parts) > 2 else "post"
    else:
        verb = {"PUT": "set", "PATCH": "update", "DELETE": "delete"}.get(method, method.lower())
    return f"{collection}.{verb}"


@dataclass
class Meter:
    """The counts and the optional rate limit of one emulator."""

    limit: RateLimit | None = None
    counts: Counter[str] = field(default_factory=Counter)
    clock: Callable[[], float] = time.monotonic

    def throttled(self) -> web.Response | None:
        """Key Vault's 429 when the limit is reached, else None (the call is counted toward the limit)."""
        if self.limit is None:
            return None
        wait = self.limit.retry_after(self.clock())
        if wait is None:
            return None
        self.counts["throttled"] += 1
        body = {"error": {"code": "Throttled",
                          "message": f"Request was not processed because too many requests were received. "
                                     f"Try again in {wait} seconds."}}
        return web.Response(status=429, body=json.dumps(body).encode(),
                            headers={"Content-Type": JSON_TYPE, "Retry-After": str(wait)})

    async def control(self, request: web.Request) -> web.Response:
        """The ``/_emulator/`` endpoints: counts (GET, DELETE) and rate limit (PUT, DELETE)."""
        what = request.path[len(CONTROL_PREFIX):].strip("/")
        if what == "counts" and request.method in ("GET", "DELETE"):
            body = dict(self.counts)
            if request.method == "DELETE":
                self.counts.clear()
            return web.json_response(body)
        if what == "rate-limit" and request.method == "PUT":
            raw = await request.json()
            self.limit = RateLimit(int(raw["calls"]), float(raw.get("seconds", 10)))
            return web.json_response({"calls": self.limit.calls, "seconds": self.limit.seconds})
        if what == "rate-limit" and request.method == "DELETE":
            self.limit = None
            return web.json_response({})
        return web.json_response({"error": "unknown control request"}, status=404)


METER_KEY = web.AppKey("meter", Meter)


@web.middleware
async def metered(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Control requests first; then the rate limit for authenticated calls, and a count for every call."""
    meter = request.app[METER_KEY]
    if request.path.startswith(CONTROL_PREFIX):
        return await meter.control(request)
    if not request.headers.get("Authorization"):
        meter.counts["challenge"] += 1  # answered 401 by the protocol layer; no transaction
        return await handler(request)
    refused = meter.throttled()
    if refused is not None:
        return refused
    meter.counts[operation(request)] += 1
    return await handler(request)
