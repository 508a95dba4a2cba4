"""Fetching and caching a client's JWKS from its ``jwksUrl`` (SMART App Launch 2.x Backend
Services, "Registering a client": the client may register "a URL to a JWK Set"; RFC 7517 §5).

The URL is attacker-influenced (an administrator types it, a client hosts it), so it is
fetched under the rules of provider URLs (``gateway.outbound.destinations``):

- :func:`validate_jwks_url` (admin input, and before every fetch): https only in production;
  in development http only to loopback; no credentials, query or fragment; no IP literal in a
  refused range. The connection goes through ``gateway.outbound.guarded.GuardedConnector``,
  which checks every *resolved* address (private, loopback outside development, link-local,
  cloud metadata: refused), so a name re-pointed at an internal address is refused too.
- one GET, no redirects (a redirect is a failure), no cookies, no proxy from the environment;
  the whole exchange within ``timeout_seconds`` and the body (decoded) at most ``max_bytes``.
- the set must be a public-keys-only JWKS (``gateway.oauth.jwks``, read leniently).

Caching, per client (RFC 9111 §4.2.1 freshness): ``Cache-Control: max-age`` (less ``Age``),
else ``Expires`` minus ``Date``, else :data:`DEFAULT_TTL_SECONDS`; clamped to
[:data:`MIN_TTL_SECONDS`, :data:`MAX_TTL_SECONDS`] (a day at most; ``no-store`` or
``max-age=0`` still keep the set a minute, so no client can make every token request a fetch).
An assertion naming a ``kid`` the cached set lacks refetches it (the client rotated its keys),
at most once per :data:`UNKNOWN_KID_REFETCH_SECONDS` per client. A failed fetch is not retried
for :data:`FAILURE_RETRY_SECONDS`; meanwhile (and up to ``stale_if_error_seconds`` past its
freshness) the last good set keeps serving. Concurrent misses for one client share one fetch
(single flight, as ``gateway.caching``).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from gateway.caching import SingleFlight
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.oauth.client_assertion import KeysUnavailable
from gateway.oauth.jwks import ClientKeys, JwksError, PublicKey, parse_public_jwks
from gateway.outbound.destinations import address_problem, validate_provider_url

logger = logging.getLogger("gateway.oauth.jwks_fetcher")

DEFAULT_TTL_SECONDS = 900.0
"""Freshness of a set served without caching headers."""
MIN_TTL_SECONDS = 60.0
MAX_TTL_SECONDS = 86_400.0
UNKNOWN_KID_REFETCH_SECONDS = 60.0
FAILURE_RETRY_SECONDS = 10.0
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_BYTES = 64 * 1024
ACCEPT = "application/jwk-set+json, application/json;q=0.9"


def validate_jwks_url(url: str, settings: Settings) -> list[str]:
    """Problems with a client's JWKS URL (empty when acceptable); messages never repeat the URL."""
    problems = [p.replace("the provider URL", "the JWKS URL").replace(
        " unless the route is marked as a private-network provider", "")
        for p in validate_provider_url(url, settings, private_network=False)]
    if problems:
        return problems
    parts = urlsplit(url)
    if parts.scheme == "http" and not _is_loopback_host(parts.hostname or ""):
        problems.append("the JWKS URL must use https (http only to loopback in development)")
    return problems


def _is_loopback_host(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(value: str) -> float | None:
    try:
        number = int(value.strip().strip('"'))
    except ValueError:
        return None
    return float(number) if number >= 0 else None


def _http_date(value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def freshness_seconds(headers: Mapping[str, str], *, now: datetime | None = None,
                      default: float = DEFAULT_TTL_SECONDS) -> float:
    """How long a fetched set stays fresh (RFC 9111 §4.2.1), clamped to a minute .. a day.

    ``no-store``/``no-cache`` count as 0 and an invalid ``max-age`` or ``Expires`` as already
    stale (§4.2.1, §5.3): the minimum then applies. ``now`` (for ``Expires`` without ``Date``).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    lifetime: float | None = None
    for directive in (d.strip().lower() for d in lowered.get("cache-control", "").split(",")):
        name, _, value = directive.partition("=")
        name = name.strip()
        if name in ("no-store", "no-cache"):
            lifetime = 0.0
            break
        if name == "max-age":
            lifetime = _seconds(value)
            if lifetime is None:
                lifetime = 0.0
    if lifetime is not None:
        lifetime -= _seconds(lowered.get("age", "")) or 0.0
    elif "expires" in lowered:
        expires = _http_date(lowered["expires"])
        date = _http_date(lowered.get("date", "")) or now or datetime.now(UTC)
        lifetime = 0.0 if expires is None else (expires - date).total_seconds()
    else:
        lifetime = default
    return min(max(lifetime, MIN_TTL_SECONDS), MAX_TTL_SECONDS)


@dataclass
class _Entry:
    url: str
    keys: ClientKeys
    fetched_at: float  # monotonic
    fresh_for: float


@dataclass
class _Client:
    entry: _Entry | None = None
    last_fetch: float = float("-inf")
    failed_at: float = float("-inf")
    failed_url: str | None = None

    def failed_recently(self, url: str, now: float) -> bool:
        return self.failed_url == url and now - self.failed_at < FAILURE_RETRY_SECONDS


class JwksFetcher:
    """Per-worker fetcher and cache of clients' JWKS (``keys``, ``key``, ``key_source``)."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, resolver: Any = None,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, max_bytes: int = DEFAULT_MAX_BYTES,
                 default_ttl_seconds: float = DEFAULT_TTL_SECONDS, stale_if_error_seconds: float = 3600.0,
                 max_clients: int = 10_000) -> None:
        """``resolver``: an ``aiohttp.abc.AbstractResolver`` (tests map names to addresses); default DNS."""
        self._settings = settings
        self._clock = clock or SystemClock()
        self._resolver = resolver
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes
        self._default_ttl = default_ttl_seconds
        self._stale_if_error = stale_if_error_seconds
        self._max_clients = max_clients
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._flights: SingleFlight[tuple[str, str], ClientKeys] = SingleFlight()
        self._session: Any = None
        self.fetches = 0  # how many fetches were started (for tests and benchmarks)

    # -- public API -----------------------------------------------------------------------------------------

    async def keys(self, client_id: str, url: str) -> ClientKeys:
        """The client's keys: cached while fresh, else fetched; KeysUnavailable when none can be had."""
        state = self._state(client_id)
        now = self._clock.monotonic()
        entry = state.entry if state.entry is not None and state.entry.url == url else None
        if entry is not None and now - entry.fetched_at < entry.fresh_for:
            return entry.keys
        if state.failed_recently(url, now):
            return self._stale_or_raise(entry, now)
        return await self._fetch_shared(client_id, url, entry)

    async def key(self, client_id: str, url: str, kid: str) -> PublicKey | None:
        """The client's key ``kid``; an unknown kid refetches the set at most once a minute per client."""
        keys = await self.keys(client_id, url)
        found = keys.get(kid)
        if found is not None:
            return found
        state = self._state(client_id)
        now = self._clock.monotonic()
        if now - state.last_fetch < UNKNOWN_KID_REFETCH_SECONDS or state.failed_recently(url, now):
            return None
        entry = state.entry if state.entry is not None and state.entry.url == url else None
        return (await self._fetch_shared(client_id, url, entry)).get(kid)

    def key_source(self, client_id: str, url: str) -> FetchedKeys:
        """A ``gateway.oauth.client_assertion.KeySource`` for this client's JWKS URL."""
        return FetchedKeys(self, client_id, url)

    def invalidate(self, client_id: str) -> None:
        """Forget the client's cached set (its JWKS URL was changed or removed)."""
        self._clients.pop(client_id, None)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- internals ------------------------------------------------------------------------------------------

    def _state(self, client_id: str) -> _Client:
        state = self._clients.get(client_id)
        if state is None:
            state = self._clients[client_id] = _Client()
            while len(self._clients) > self._max_clients:
                self._clients.popitem(last=False)
        self._clients.move_to_end(client_id)
        return state

    def _stale_or_raise(self, entry: _Entry | None, now: float, problem: KeysUnavailable | None = None) -> ClientKeys:
        if entry is not None and now - entry.fetched_at < entry.fresh_for + self._stale_if_error:
            return entry.keys
        raise problem or KeysUnavailable("the client's JWKS could not be fetched moments ago; retry later")

    async def _fetch_shared(self, client_id: str, url: str, entry: _Entry | None) -> ClientKeys:
        return await self._flights.run((client_id, url), lambda: self._refresh(client_id, url, entry))

    async def _refresh(self, client_id: str, url: str, entry: _Entry | None) -> ClientKeys:
        state = self._state(client_id)
        started = self._clock.monotonic()
        state.last_fetch = started
        self.fetches += 1
        try:
            keys, fresh_for = await self._fetch(url)
        except KeysUnavailable as problem:
            state.failed_at, state.failed_url = self._clock.monotonic(), url
            logger.warning("jwks: fetch failed client=%s: %s", client_id, problem)
            return self._stale_or_raise(entry, state.failed_at, problem)
        state.failed_at, state.failed_url = float("-inf"), None
        state.entry = _Entry(url=url, keys=keys, fetched_at=started, fresh_for=fresh_for)
        return keys

    def _session_for(self) -> Any:
        if self._session is None or self._session.closed:
            import aiohttp

            from gateway.outbound.guarded import GuardedConnector

            connector = GuardedConnector(lambda address: address_problem(address, self._settings, False),
                                         limit=64, ttl_dns_cache=10,
                                         **({"resolver": self._resolver} if self._resolver is not None else {}))
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  trust_env=False, auto_decompress=True)
        return self._session

    async def _fetch(self, url: str) -> tuple[ClientKeys, float]:
        """One GET of ``url``: the keys and their freshness; KeysUnavailable saying why not (no URL in it)."""
        import aiohttp

        from gateway.outbound.transport import DestinationRefused

        if validate_jwks_url(url, self._settings):
            raise KeysUnavailable("the JWKS URL is not allowed")
        session = self._session_for()
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with asyncio.timeout(self._timeout):
                async with session.get(url, headers={"Accept": ACCEPT}, allow_redirects=False,
                                       timeout=timeout) as response:
                    if response.status != 200:
                        raise KeysUnavailable(f"the JWKS URL answered {response.status}")
                    declared = response.content_length
                    if declared is not None and declared > self._max_bytes \
                            and not response.headers.get("Content-Encoding"):
                        raise KeysUnavailable("the JWKS is larger than the gateway accepts")
                    body = bytearray()
                    async for chunk in response.content.iter_any():
                        body.extend(chunk)
                        if len(body) > self._max_bytes:
                            raise KeysUnavailable("the JWKS is larger than the gateway accepts")
                    headers = dict(response.headers)
        except KeysUnavailable:
            raise
        except DestinationRefused:
            raise KeysUnavailable("the JWKS URL's address is not allowed") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise KeysUnavailable("the JWKS URL did not answer in time") from None
        except (aiohttp.ClientError, OSError, ValueError):
            raise KeysUnavailable("the JWKS URL could not be fetched") from None
        try:
            keys = parse_public_jwks(bytes(body), strict=False)
        except JwksError as error:
            raise KeysUnavailable(f"the JWKS is not acceptable: {error}") from None
        return keys, freshness_seconds(headers, now=self._clock.now(), default=self._default_ttl)


class FetchedKeys:
    """``KeySource`` of a client whose keys are at a JWKS URL."""

    def __init__(self, fetcher: JwksFetcher, client_id: str, url: str) -> None:
        self._fetcher = fetcher
        self._client_id = client_id
        self._url = url

    async def key(self, kid: str) -> PublicKey | None:
        return await self._fetcher.key(self._client_id, self._url, kid)
