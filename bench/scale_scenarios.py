"""The scale benchmark's scenarios, each run by one fresh worker (a new ``Services``: a cold worker) against the
counted stores of ``bench.scale_stack``; each returns its figures and the store calls it cost.

- ``cold_token`` / ``cold_read``: a cold worker's first token request (a known client) and first proxied read
  (a token another worker signed), timed from the building of the worker's services.
- ``steady``: calls per token and per read once warm, on a virtual clock (deterministic): a warm-up of
  ``WARM_SECONDS`` then ``STEADY_SECONDS`` at ``STEADY_RATE`` requests a second, tenants drawn from a Zipf law
  over the seeded routes (so route lifetimes expire as in production), clients from the legitimate set.
- ``unknown_ids``: a stream of token requests with random client ids (uuid-shaped, as an attacker would send),
  each from another address, beside a legitimate client's stream; the legitimate p95 and the worker's CPU.
- ``forged_kids``: a stream of access tokens signed by a stranger under a fresh, well-formed ``kid``.

Streams run on the real clock by default (``bench.scale_bench``: CPU and latency are real); the regression test
runs them on a virtual clock (``paced=False``), where counts are the same on any machine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.scale_stack import Counters, tenant_of
from gateway.config import Settings
from gateway.services import Services, build_services
from tests.support.fhir import request as fhir_request
from tests.support.oauth import post_form, token_request

WARM_SECONDS = 60.0
STEADY_SECONDS = 120.0
STEADY_RATE = 50.0
STEADY_WALL_SECONDS = 240.0
"""A steady run that takes longer than this on the real clock (each request waiting on a store) stops there."""
ZIPF_EXPONENT = 1.1
PATIENT = b'{"resourceType":"Patient","id":"1","name":[{"family":"Chalmers"}]}'


class VirtualClock:
    """A clock the scenario moves: wall time from the real start, monotonic from 1000."""

    def __init__(self) -> None:
        self._start = datetime.now(UTC)
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return 1000.0 + self._elapsed

    def advance(self, seconds: float) -> None:
        self._elapsed += seconds


class Answering:
    """The provider stand-in: every request answered at once with a small Patient (no socket)."""

    async def send(self, request: Any) -> Any:
        from gateway.outbound.transport import UpstreamResponse

        return UpstreamResponse(status=200, body=PATIENT,
                                headers=[("Content-Type", "application/fhir+json; charset=utf-8")])

    async def aclose(self) -> None:
        return None


async def worker(settings: dict[str, str], clock: Any = None) -> Services:
    """A fresh worker's services, as ``current_services`` builds them, with the provider stand-in."""
    services = await build_services(Settings.from_mapping(settings), clock)
    services.use_transport(Answering())
    return services


async def token(services: Services, client_id: str, secret: str, tenant: str, address: str = "198.51.100.7") -> int:
    return (await services.oauth_endpoints.respond(token_request(post_form(client_id, secret, scope=tenant),
                                                                 address=address))).status


async def read(services: Services, access_token: str) -> int:
    return (await services.fhir_proxy.handle(fhir_request("GET", "/Patient/1", access_token))).status


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# -- cold ---------------------------------------------------------------------------------------------------
async def cold_token(settings: dict[str, str], counters: Counters, client_id: str, secret: str) -> dict[str, Any]:
    counters.reset()
    started = time.perf_counter()
    services = await worker(settings)
    status = await token(services, client_id, secret, tenant_of(0))
    figures = {"status": status, "ms": _elapsed_ms(started), **counters.read()}
    await services.aclose()
    return figures


async def cold_read(settings: dict[str, str], counters: Counters, access_token: str) -> dict[str, Any]:
    counters.reset()
    started = time.perf_counter()
    services = await worker(settings)
    status = await read(services, access_token)
    figures = {"status": status, "ms": _elapsed_ms(started), **counters.read()}
    await services.aclose()
    return figures


async def issue(settings: dict[str, str], client_id: str, tenants: list[str]) -> dict[str, str]:
    """Access tokens for ``tenants`` signed by a worker of its own (``{tenant: token}``)."""

    services = await worker(settings)
    try:
        return {t: (await services.token_issuer.issue(client_id=client_id, tenant_id=t)).access_token
                for t in tenants}
    finally:
        await services.aclose()


# -- steady -------------------------------------------------------------------------------------------------
def zipf_tenants(routes: int, count: int, seed: int = 21) -> list[str]:
    generator = random.Random(seed)
    weights = [1 / (rank ** ZIPF_EXPONENT) for rank in range(1, routes + 1)]
    return [tenant_of(i) for i in generator.choices(range(routes), weights=weights, k=count)]


async def steady(settings: dict[str, str], counters: Counters, legit: list[tuple[str, str]], routes: int,
                 kind: str, *, warm: float = WARM_SECONDS, seconds: float = STEADY_SECONDS,
                 rate: float = STEADY_RATE) -> dict[str, Any]:
    """Calls per request once warm (``kind``: ``token`` or ``read``), on a virtual clock: ``warm`` seconds, then
    ``seconds`` counted, ``rate`` requests a second."""

    clock = VirtualClock()
    services = await worker(settings, clock)
    step = 1 / rate
    total = int((warm + seconds) * rate)
    warm_requests = int(warm * rate)
    tenants = zipf_tenants(routes, total)
    chooser = random.Random(7)
    tokens: dict[str, str] = {}
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + STEADY_WALL_SECONDS
    done = 0
    for n, tenant in enumerate(tenants):
        if time.monotonic() > deadline:
            break
        done = n + 1
        if n == warm_requests:
            counters.reset()
        if kind == "token":
            client_id, secret = legit[min(int(chooser.paretovariate(1.2)) - 1, len(legit) - 1)]
            status = await token(services, client_id, secret, tenant)
        else:
            if tenant not in tokens:
                tokens[tenant] = (await services.token_issuer.issue(client_id=legit[0][0],
                                                           tenant_id=tenant)).access_token
            status = await read(services, tokens[tenant])
        if n >= warm_requests:
            statuses[status] = statuses.get(status, 0) + 1
        clock.advance(step)
        await asyncio.sleep(0)  # let background refreshes run, as between requests in production
    measured = done - warm_requests
    if measured <= 0:
        raise RuntimeError(f"the warm-up did not finish within {STEADY_WALL_SECONDS:.0f} s ({done} requests)")
    figures = {"requests": measured, "statuses": statuses, **counters.read()}
    await services.aclose()
    return figures


# -- streams ------------------------------------------------------------------------------------------------
async def _stream(services: Services, clock: Any, rate: float, seconds: float, paced: bool,
                  attack: Callable[[int], Awaitable[int]], legit: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    """``attack(n)`` and ``legit()`` each ``rate`` times a second for ``seconds``: statuses, legit latencies, CPU."""
    attack_statuses: dict[int, int] = {}
    latencies: list[float] = []
    legit_statuses: dict[int, int] = {}

    async def one_attack(n: int) -> None:
        status = await attack(n)
        attack_statuses[status] = attack_statuses.get(status, 0) + 1

    async def one_legit() -> None:
        started = time.perf_counter()
        status = await legit()
        latencies.append(_elapsed_ms(started))
        legit_statuses[status] = legit_statuses.get(status, 0) + 1

    count = int(rate * seconds)
    cpu, wall = time.process_time(), time.perf_counter()
    tasks = []
    for n in range(count):
        tasks += [asyncio.ensure_future(one_attack(n)), asyncio.ensure_future(one_legit())]
        if paced:
            await asyncio.sleep(max(0.0, wall + (n + 1) / rate - time.perf_counter()))
        else:
            await asyncio.gather(*tasks[-2:])
            clock.advance(1 / rate)
    await asyncio.gather(*tasks)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    latencies.sort()
    return {"attacks": count, "attack_statuses": attack_statuses, "legit_statuses": legit_statuses,
            "legit_p50_ms": statistics.median(latencies), "legit_p95_ms": latencies[int(len(latencies) * 0.95) - 1],
            "cpu_percent": 100 * cpu / wall if paced else None, "wall_s": wall}


async def unknown_ids(settings: dict[str, str], counters: Counters, legit: tuple[str, str], *, rate: float = 10,
                      seconds: float = 20, paced: bool = True, addresses_seed: int = 3) -> dict[str, Any]:
    """Random client ids (``rate`` a second, each from a new address) beside a known client's tokens."""
    from gateway.credentials import new_secret

    clock = None if paced else VirtualClock()
    services = await worker(settings, clock)
    client_id, secret = legit
    assert await token(services, client_id, secret, tenant_of(0)) == 200  # warm: the legitimate client
    counters.reset()
    addresses = random.Random(addresses_seed)
    figures = await _stream(
        services, clock, rate, seconds, paced,
        attack=lambda n: token(services, str(uuid.uuid4()), new_secret()[1],
                               tenant_of(0), address=f"10.{addresses.randrange(256)}.{addresses.randrange(256)}.9"),
        legit=lambda: token(services, client_id, secret, tenant_of(0)))
    figures.update(counters.read())
    await services.aclose()
    return figures


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forged_token(genuine: str, kid: str) -> str:
    """``genuine``'s claims under a header naming ``kid``, signed by a stranger's P-256 key (a JWS that
    looks like the gateway's until its key is looked up)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    claims = genuine.split(".")[1]
    header = _b64(json.dumps({"alg": "ES256", "kid": kid, "typ": "at+jwt"}, separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode()
    r, s = decode_dss_signature(ec.generate_private_key(ec.SECP256R1()).sign(signing_input,
                                                                              ec.ECDSA(hashes.SHA256())))
    return f"{header}.{claims}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def fresh_kid(now: datetime) -> str:
    """A ``kid`` of the gateway's shape, newer than any key it holds: what defeats a shape check."""
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(8)}"


async def forged_kids(settings: dict[str, str], counters: Counters, genuine: str, *, rate: float = 5,
                      seconds: float = 20, paced: bool = True) -> dict[str, Any]:
    """Tokens under fresh unknown kids (``rate`` a second) beside reads with a genuine token."""
    clock = VirtualClock() if not paced else None
    services = await worker(settings, clock)
    assert await read(services, genuine) == 200  # warm: the key set, the client, the route
    counters.reset()
    figures = await _stream(services, clock, rate, seconds, paced,
                            attack=lambda n: read(services, forged_token(genuine, fresh_kid(services.clock.now()))),
                            legit=lambda: read(services, genuine))
    figures.update(counters.read())
    await services.aclose()
    return figures
