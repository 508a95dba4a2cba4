"""The outbound call: a one-method transport seam (after httpx's transports) and its errors.

Unit tests pass a :class:`MockTransport` wrapping a handler; the product and the
integration tests use :class:`AiohttpTransport` over real sockets. aiohttp was chosen
by measurement (``bench/http_clients.py``): its per-request overhead is several times
lower than httpx's on this hot path.

Its errors live in :mod:`gateway.outbound.errors` and are re-exported here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.config import Settings
from gateway.outbound.destinations import address_problem
from gateway.outbound.errors import (
    DestinationRefused,
    UpstreamError,
    UpstreamGarbage,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnreachable,
)

__all__ = [
    "AiohttpTransport", "DestinationRefused", "MockTransport", "Transport", "UpstreamError", "UpstreamGarbage",
    "UpstreamRequest", "UpstreamResponse", "UpstreamTimeout", "UpstreamTooLarge", "UpstreamUnreachable",
]


@dataclass
class UpstreamRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    private_network: bool = False
    max_response_bytes: int = 32 << 20
    retry_on_connection_failure: bool = False


@dataclass
class UpstreamResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str = ""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


class Transport(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


class MockTransport:
    """A transport calling ``handler(request)`` (sync or async) instead of the network."""

    def __init__(self, handler: Callable[[UpstreamRequest], UpstreamResponse | Awaitable[UpstreamResponse]]) -> None:
        self.handler = handler
        self.requests: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):
            result = await result
        if len(result.body) > request.max_response_bytes:
            raise UpstreamTooLarge("the provider's response is larger than the gateway accepts")
        return result

    async def aclose(self) -> None:
        return None


@functools.lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> Any:
    """aiohttp's (immutable) timeout for a route's connect and read bounds, made once per pair."""
    import aiohttp

    return aiohttp.ClientTimeout(total=connect + read, connect=connect, sock_read=read)


class AiohttpTransport:
    """Pooled aiohttp sessions (one per address policy), created lazily in the running loop."""

    def __init__(self, settings: Settings, *, resolver: Any = None) -> None:
        """``resolver``: an ``aiohttp.abc.AbstractResolver`` (tests map names to addresses); default DNS."""
        self._settings = settings
        self._resolver = resolver
        self._sessions: dict[bool, Any] = {}

    def _session(self, private_network: bool) -> Any:
        session = self._sessions.get(private_network)
        if session is None or session.closed:
            import aiohttp

            from gateway.outbound.guarded import GuardedConnector  # imports aiohttp: only once a call is made

            connector = GuardedConnector(
                lambda address: address_problem(address, self._settings, private_network),
                limit=512, limit_per_host=0, ttl_dns_cache=10, keepalive_timeout=30,
                **({"resolver": self._resolver} if self._resolver is not None else {}))
            session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True,
                skip_auto_headers=("Accept",), trust_env=False)
            # aiohttp silently repeats idempotent requests (PUT and DELETE too) that fail on a reused
            # connection; the proxy owns its retry policy (GET/HEAD once), so turn that off.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._sessions[private_network] = session
        return session

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        import aiohttp

        attempts = 2 if request.retry_on_connection_failure else 1
        for attempt in range(attempts):
            try:
                return await self._send_once(request)
            except aiohttp.ClientConnectionError as exc:  # refused, reset (also while writing), closed early
                if isinstance(exc, asyncio.TimeoutError):
                    raise UpstreamTimeout("the provider did not answer in time") from None
                if attempt + 1 < attempts:
                    continue
                raise UpstreamUnreachable("the provider could not be reached") from None
        raise AssertionError("unreachable")

    async def _send_once(self, request: UpstreamRequest) -> UpstreamResponse:
        import aiohttp
        from yarl import URL

        timeout = _timeout(request.connect_timeout, request.read_timeout)
        session = self._session(request.private_network)
        try:
            async with session.request(request.method, URL(request.url, encoded=True), headers=request.headers,
                                       data=request.body if request.body else None, timeout=timeout,
                                       allow_redirects=False) as response:
                declared = response.content_length
                if declared is not None and declared > request.max_response_bytes \
                        and not response.headers.get("Content-Encoding"):
                    raise UpstreamTooLarge("the provider's response is larger than the gateway accepts")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > request.max_response_bytes:
                        raise UpstreamTooLarge("the provider's response is larger than the gateway accepts")
                    chunks.append(chunk)
                return UpstreamResponse(status=response.status, headers=list(response.headers.items()),
                                        body=b"".join(chunks), reason=response.reason or "")
        except UpstreamError:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout("the provider did not answer in time") from None
        except aiohttp.ClientPayloadError:
            raise UpstreamGarbage("the provider's response body was truncated or could not be decoded") from None
        except aiohttp.ClientResponseError:
            raise UpstreamGarbage("the provider's answer was not valid HTTP") from None

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
