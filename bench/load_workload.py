"""The load run's workload and driver: shared by ``bench/load.py`` and ``tests/load``.

The workload is shaped like the reference client's traffic (the Teams Patients app):
before every data request it asks for a
token with its customer's tenant as ``scope``, then sends one of

- ``read``         ``GET Patient/<id>``
- ``search``       ``GET Observation|Condition|Encounter|AllergyIntolerance|MedicationRequest?patient=...``
- ``post_search``  ``POST Patient/_search`` with a form body (``given=ruth&family=black``, ``birthdate=...``)
- ``batch``        ``POST <base>`` with a 6-entry batch Bundle

with the .NET FhirClient's headers. :func:`drive` runs ``concurrency`` virtual clients over one
aiohttp session until ``requests`` requests have been sent (or ``max_seconds`` have passed: every
loop is bounded in count and time) and returns a :class:`LoadStats`; any non-2xx answer or exception
is an error. :func:`drive` with ``gateway=False`` sends the same data requests straight to the
provider bases (no tokens): the provider's own ceiling at the same concurrency.

Nothing here prints or keeps a token, a secret or a response body of a successful request.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode

import aiohttp

from tests.support.constants import FORM

DOTNET_HEADERS = {
    "User-Agent": ".NET FhirClient for FHIR 1.0.2",
    "Accept": "application/json+fhir;charset=utf-8",
    "Prefer": "return=representation",
}
BUNDLE_TYPE = "application/json+fhir;charset=utf-8"
PATIENTS = ("demo-patient-1", "demo-patient-2", "demo-patient-3", "demo-patient-7", "demo-patient-12")
# The data requests of one "visit" of the app, cycled by every virtual client (reads and searches dominate).
DATA_MIX = ("read", "search", "post_search", "search", "batch", "read", "search", "post_search")
KINDS = ("token", "read", "search", "post_search", "batch")
PER_REQUEST_TIMEOUT = 60.0
MAX_ERROR_SAMPLES = 8


def tenant_id(i: int) -> str:
    """The load run's i-th tenant GUID (canonical lowercase)."""
    return f"{i:08x}-10ad-4000-8000-{i:012x}"


def _searches(patient: str) -> tuple[str, ...]:
    return (f"Observation?patient={patient}&_sort=-date&category=vital-signs",
            f"Condition?patient={patient}&_count=10",
            f"Encounter?patient={patient}&_sort:desc=date&_count=1",
            f"AllergyIntolerance?patient={patient}",
            f"MedicationRequest?patient={patient}&_count=10")


POST_SEARCH_BODIES = ("given=ruth&family=black", "birthdate=1951-08-23", "_id=demo-patient-1", "birthdate=1957",
                      "family=chau", "given=hugh&_count=10")


def batch_bundle(patient: str) -> bytes:
    urls = (f"Patient/{patient}", f"Encounter?patient={patient}&_sort:desc=date&_count=1",
            f"Observation?patient={patient}&category=vital-signs", f"MedicationRequest?patient={patient}&_count=10",
            f"AllergyIntolerance?patient={patient}", f"Condition?patient={patient}&_count=10")
    return json.dumps({"resourceType": "Bundle", "type": "batch",
                       "entry": [{"request": {"method": "GET", "url": url}} for url in urls]}).encode()


BATCHES = {patient: batch_bundle(patient) for patient in PATIENTS}


@dataclass(frozen=True)
class DataRequest:
    kind: str
    method: str
    path: str  # relative to the FHIR base: "" for the batch
    body: bytes | None = None
    content_type: str | None = None


def data_request(kind: str, n: int) -> DataRequest:
    """The ``n``-th request of ``kind`` (deterministic, varied)."""
    patient = PATIENTS[n % len(PATIENTS)]
    if kind == "read":
        return DataRequest(kind, "GET", f"Patient/{patient}")
    if kind == "search":
        searches = _searches(patient)
        return DataRequest(kind, "GET", searches[n % len(searches)])
    if kind == "post_search":
        return DataRequest(kind, "POST", "Patient/_search", POST_SEARCH_BODIES[n % len(POST_SEARCH_BODIES)].encode(),
                           FORM)
    if kind == "batch":
        return DataRequest(kind, "POST", "", BATCHES[patient], BUNDLE_TYPE)
    raise ValueError(f"unknown kind {kind!r}")


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


@dataclass
class LoadStats:
    """Latencies (seconds) per kind, error counts and samples, and the wall time of the run."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    error_samples: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    stopped_by_time: bool = False

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return self.total / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def data_throughput(self) -> float:
        data = sum(len(v) for k, v in self.latencies.items() if k != "token")
        return data / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def record(self, kind: str, seconds: float, status: int | None, detail: str = "") -> None:
        self.latencies[kind].append(seconds)
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        if status is None or not 200 <= status < 300:
            self.errors[kind] += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append(f"{kind}: {status if status is not None else 'exception'} {detail}"[:300])

    def table(self, title: str) -> str:
        """Per-kind and overall count, errors and latency percentiles (ms), then the throughput."""
        lines = [title, f"  {'kind':<12} {'count':>7} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
                        f"{'max ms':>8}"]
        rows = [(k, v) for k, v in self.latencies.items() if v]
        rows.append(("overall", [x for v in self.latencies.values() for x in v]))
        for kind, values in rows:
            ordered = sorted(values)
            errors = self.error_count if kind == "overall" else self.errors[kind]
            lines.append(f"  {kind:<12} {len(ordered):>7} {errors:>6} "
                         + " ".join(f"{percentile(ordered, q) * 1000:>8.1f}" for q in (0.5, 0.9, 0.99, 1.0)))
        lines.append(f"  {self.total} requests in {self.wall_seconds:.1f} s: {self.throughput:,.0f} req/s overall, "
                     f"{self.data_throughput():,.0f} FHIR req/s; errors {self.error_count}"
                     + (" (stopped by the time limit)" if self.stopped_by_time else ""))
        if self.statuses:
            lines.append("  statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items())))
        lines.extend(f"  error sample: {sample}" for sample in self.error_samples)
        return "\n".join(lines)


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


async def _send(session: aiohttp.ClientSession, stats: LoadStats, kind: str, method: str, url: str,
                headers: dict[str, str], body: bytes | None) -> bytes | None:
    """One timed request; returns the body of a 2xx answer, records an error otherwise."""
    started = time.perf_counter()
    try:
        async with session.request(method, url, headers=headers, data=body) as response:
            payload = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        stats.record(kind, time.perf_counter() - started, None, type(exc).__name__)
        return None
    elapsed = time.perf_counter() - started
    if 200 <= status < 300:
        stats.record(kind, elapsed, status)
        return payload
    # Error bodies are OAuth errors or OperationOutcomes: no credential, safe to sample.
    stats.record(kind, elapsed, status, payload[:160].decode("utf-8", "replace").replace("\n", " "))
    return None


async def drive(*, requests: int, concurrency: int, tenants: Sequence[str], gateway_url: str | None = None,
                credentials: Credentials | None = None, provider_bases: Sequence[str] = (),
                max_seconds: float = 600.0, mix: Sequence[str] = DATA_MIX,
                on_progress: Callable[[int], None] | None = None) -> LoadStats:
    """Send ``requests`` requests with ``concurrency`` virtual clients; bounded by ``max_seconds``.

    Through the gateway (``gateway_url`` and ``credentials``): each client visit is a token request for
    the tenant (client_secret_post and client_secret_basic alternate), then one data request with that
    token. Direct (``provider_bases``, one per tenant slot): the data requests only. ``mix``: the cycle of
    data request kinds.
    """
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be positive")
    through_gateway = gateway_url is not None
    if through_gateway and (credentials is None or not tenants):
        raise ValueError("the gateway run needs credentials and tenants")
    if not through_gateway and not provider_bases:
        raise ValueError("the direct run needs provider bases")
    stats = LoadStats()
    visits = itertools.count()
    deadline = time.monotonic() + max_seconds
    timeout = aiohttp.ClientTimeout(total=PER_REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0, force_close=False)

    cost = 2 if through_gateway else 1  # a visit through the gateway is a token request and a data request
    visits_allowed = math.ceil(requests / cost)

    def next_visit() -> int | None:
        if time.monotonic() > deadline:
            stats.stopped_by_time = True
            return None
        visit = next(visits)
        if on_progress is not None and visit and (visit * cost) % 1000 == 0:
            on_progress(visit * cost)
        return visit if visit < visits_allowed else None

    async def client(session: aiohttp.ClientSession) -> None:
        while (visit := next_visit()) is not None:
            turn = visit + visit // max(len(tenants), 1)  # every tenant sees every kind and both auth methods
            kind = mix[turn % len(mix)]
            item = data_request(kind, visit // len(mix))
            headers = dict(DOTNET_HEADERS)
            if item.content_type:
                headers["Content-Type"] = item.content_type
            if through_gateway:
                assert credentials is not None and gateway_url is not None
                tenant = tenants[visit % len(tenants)]
                form = {"grant_type": "client_credentials", "scope": tenant}
                token_headers = {"Content-Type": FORM, "Accept": "application/json"}
                if turn % 2:
                    token_headers["Authorization"] = _basic(credentials.client_id, credentials.secret)
                else:
                    form.update(client_id=credentials.client_id, client_secret=credentials.secret)
                payload = await _send(session, stats, "token", "POST", f"{gateway_url}/oauth2/token", token_headers,
                                      urlencode(form).encode())
                if payload is None:
                    continue
                headers["Authorization"] = f"Bearer {json.loads(payload)['access_token']}"
                url = f"{gateway_url}/fhir/{item.path}" if item.path else f"{gateway_url}/fhir"
            else:
                base = provider_bases[visit % len(provider_bases)]
                url = f"{base}/{item.path}" if item.path else base
            await _send(session, stats, kind, item.method, url, headers, item.body)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                     auto_decompress=True) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    stats.wall_seconds = time.perf_counter() - started
    return stats


class MemorySampler:
    """Samples a process's resident memory (psutil) every ``interval`` seconds while running."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    def rss(self) -> int:
        value = self.process.memory_info().rss
        self.samples.append(value)
        return value

    async def _run(self) -> None:
        while True:
            self.rss()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> MemorySampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.rss()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def open_files(self) -> int:
        """File descriptors the process holds (sockets included): a leak of sessions or connections shows here."""
        return self.process.num_fds()


def mib(value: float) -> str:
    return f"{value / (1 << 20):.1f} MiB"
