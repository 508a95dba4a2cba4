"""Load run: the local host under a mixed workload, and its memory with many tenants.

Starts on loopback, and stops again (also on Ctrl-C / SIGTERM): Azurite (in memory) and the Key Vault
emulator, a few demo provider processes (``devtools.demo_provider``, each serving /stu3 and /r4), and
the local Functions host (``devtools.funchost``) serving the repository's function folders. Seeds one
client (allowed every tenant) and the tenant routes straight into the Table store (concurrently), then:

1. Provider ceiling: the FHIR data requests sent straight to the providers at the same concurrency.
2. Mixed load through the gateway (``bench/load_workload.py``): as the reference client does, a token
   request before every data request (Patient reads, searches, ``POST Patient/_search`` form bodies,
   6-entry batch Bundles), ``--tenants`` tenants spread over the providers and both FHIR versions,
   ``--concurrency`` clients, ``--requests`` requests. Prints latency percentiles per kind and overall,
   throughput, errors (any non-2xx or exception), the gateway's resident memory (psutil) before, peak
   and after, the CPU time each process used, and whether the provider or the gateway is the limit.
3. The same again with providers that take ``--realistic-latency-ms`` (50 ms) per answer, as a hospital's
   FHIR server does: direct ceiling, then through the gateway. With an instant provider (1-2) the gateway's
   own CPU is the limit on loopback; with a realistic one, the figures show whether the provider is.
4. Memory mode, on a fresh host: ``--routes-stored`` routes in the Table store, ``--tenants-in-use`` of them
   used (a token and a Patient read per tenant, several passes); prints resident memory after each pass.
   Target: under 250 MB and flat.

Finally the host's log is scanned for credentials (client secret, access tokens).

    .venv/bin/python -m bench.load                      # 10,000 requests at 50 clients, 20 tenants; 10,000 routes
    .venv/bin/python -m bench.load --quick              # a smaller version of both
    .venv/bin/python -m bench load --phase memory       # through bench/__main__.py (``make bench``)

Exit status 1 when a request failed or a credential reached the log. Figures only, no timing assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_clients import stop_server  # noqa: E402
from bench.load_workload import Credentials, LoadStats, MemorySampler, drive, mib, tenant_id  # noqa: E402

CLIENT_ID = "teams-patients-load"
VERSIONS = ("STU3", "R4")
SEED_CONCURRENCY = 64
MEMORY_TARGET = 250 * 1000 * 1000
PROVIDER_START_SECONDS = 30.0
SLOW_TENANTS = 1_000_000  # tenant numbers of the routes to the providers with a realistic latency


@dataclass
class Plan:
    requests: int = 10_000
    concurrency: int = 50
    tenants: int = 20
    providers: int = 2
    routes_stored: int = 10_000
    tenants_in_use: int = 3_000
    passes: int = 5
    provider_latency_ms: float = 0.0
    realistic_latency_ms: float = 50.0
    max_seconds: float = 600.0
    phase: str = "all"


def route_for(i: int, provider_urls: list[str]) -> tuple[str, str]:
    """(FHIR base URL, version) of tenant ``i``: spread over the providers, then over both versions."""
    version = VERSIONS[(i // len(provider_urls)) % len(VERSIONS)]
    return f"{provider_urls[i % len(provider_urls)]}/{version.lower()}", version


@dataclass
class Stack:
    """Everything the run starts; :meth:`close` stops all of it (idempotent)."""

    plan: Plan
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="load-bench-")))
    providers: list[tuple[subprocess.Popen[str], str]] = field(default_factory=list)
    slow_providers: list[tuple[subprocess.Popen[str], str]] = field(default_factory=list)
    azurite: object = None
    vault: object = None
    hosts: list[object] = field(default_factory=list)

    def start(self) -> None:
        from devtools.azurite import AzuriteProcess, free_port
        from tests.fixtures.keyvault import KeyVaultEmulator

        self.azurite = AzuriteProcess(free_port(), self.workdir / "azurite", in_memory=True)
        self.azurite.start()
        self.vault = KeyVaultEmulator(self.workdir / "keyvault")
        self.vault.start()
        for _ in range(self.plan.providers):
            self.providers.append(start_provider(self.plan.provider_latency_ms))
        if self.plan.realistic_latency_ms > 0 and self.plan.phase in ("all", "mixed"):
            for _ in range(self.plan.providers):
                self.slow_providers.append(start_provider(self.plan.realistic_latency_ms))

    @property
    def provider_urls(self) -> list[str]:
        return [url for _, url in self.providers]

    @property
    def slow_provider_urls(self) -> list[str]:
        return [url for _, url in self.slow_providers]

    def env(self) -> dict[str, str]:
        return {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": "http://localhost:7071",
                "TABLES_CONNECTION_STRING": self.azurite.connection_string, **self.vault.settings(),
                "TABLE_NAME_PREFIX": "load", "KEY_VAULT_SECRET_PREFIX": "load"}

    def start_host(self):  # noqa: ANN201 - tests.fixtures.funchost.LocalHost
        from tests.fixtures.funchost import LocalHost

        host = LocalHost(self.env())
        self.hosts.append(host)
        return host.start()

    def close_host(self, host: object) -> None:
        self.hosts.remove(host)
        host.close()

    def close(self) -> None:
        """Stop hosts, providers, the emulator and Azurite, each even if stopping another one failed."""
        steps = [host.close for host in self.hosts]
        steps += [lambda process=process: stop_server(process)
                  for process, _ in [*self.providers, *self.slow_providers]]
        steps += [self.vault.stop] if self.vault is not None else []
        steps += [self.azurite.stop] if self.azurite is not None else []
        self.hosts, self.providers, self.slow_providers = [], [], []
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - report and go on stopping the rest
                print(f"while stopping: {type(exc).__name__}: {exc}", file=sys.stderr)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_provider(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    """A demo provider process on a free loopback port; returns it and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.demo_provider", "--host", "127.0.0.1", "--port", "0", "--quiet",
         "--latency-ms", str(latency_ms)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    deadline = time.monotonic() + PROVIDER_START_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()  # the first line is the ready line; EOF if it died
        if line.startswith("demo-provider ready "):
            return process, line.split()[-1]
        if not line and process.poll() is not None:
            break
    stop_server(process)
    raise RuntimeError("the demo provider did not start")


def host_pid(host: object) -> int:
    """The local host's process id (``tests.fixtures.funchost.LocalHost``)."""
    process = host._process  # noqa: SLF001 - the fixture keeps its Popen private
    assert process is not None, "the host is not running"
    return process.pid


async def seed(env: dict[str, str], routes: int, provider_urls: list[str],
               slow: tuple[int, list[str]] = (0, [])) -> tuple[Credentials, float]:
    """The load client (one secret, every tenant allowed) and tenant routes, written concurrently: ``routes``
    to ``provider_urls`` (tenants 0...), and ``slow[0]`` to ``slow[1]`` (tenants SLOW_TENANTS...)."""
    from gateway.config import Settings
    from gateway.services import build_services
    from gateway.stores.models import Route
    from tests.unit.oauth.helpers import add_client

    services = await build_services(Settings.from_mapping(env), create_tables=True)
    try:
        await services.admin_api.deployment.ensure()
        secret = await add_client(services, CLIENT_ID, tenants=("*",))
        gate = asyncio.Semaphore(SEED_CONCURRENCY)

        async def create(i: int) -> None:
            base, version = route_for(i % SLOW_TENANTS, slow[1] if i >= SLOW_TENANTS else provider_urls)
            async with gate:
                await services.routes.create(Route(tenant_id=tenant_id(i), fhir_base_url=base, fhir_version=version,
                                                   display_name=f"load tenant {i}"))

        started = time.perf_counter()
        await asyncio.gather(*(create(i) for i in [*range(routes), *range(SLOW_TENANTS, SLOW_TENANTS + slow[0])]))
        return Credentials(CLIENT_ID, secret), time.perf_counter() - started
    finally:
        await services.aclose()


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    import psutil

    totals = {}
    for name, group in pids.items():
        total = 0.0
        for pid in group:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        totals[name] = total
    return totals


def progress(label: str):  # noqa: ANN201
    def report(n: int) -> None:
        print(f"    {label}: {n} requests sent", flush=True)
    return report


async def provider_ceiling(plan: Plan, urls: list[str], title: str) -> LoadStats:
    bases = [route_for(i, urls)[0] for i in range(max(plan.tenants, 1))]
    data_requests = max(plan.requests // 2, 1)
    await drive(requests=min(200, data_requests), concurrency=plan.concurrency, tenants=(), provider_bases=bases)
    stats = await drive(requests=data_requests, concurrency=plan.concurrency, tenants=(), provider_bases=bases,
                        max_seconds=plan.max_seconds, on_progress=progress("direct"))
    print(stats.table(f"\n{title}: {data_requests} FHIR requests straight to {len(urls)} "
                      f"demo provider process(es), {plan.concurrency} concurrent clients"), flush=True)
    return stats


async def mixed_load(plan: Plan, stack: Stack, credentials: Credentials, ceiling: LoadStats | None, *,
                     title: str, slow: bool = False) -> LoadStats:
    tenants = [tenant_id(i + (SLOW_TENANTS if slow else 0)) for i in range(plan.tenants)]
    providers = stack.slow_providers if slow else stack.providers
    host = stack.start_host()
    pid = host_pid(host)
    # Warm-up: the first token and request of every tenant (routes, keys, verifier, connections).
    warm = await drive(requests=2 * len(tenants), concurrency=min(plan.concurrency, len(tenants)), tenants=tenants,
                       gateway_url=host.base_url, credentials=credentials)
    sampler = MemorySampler(pid)
    before = sampler.rss()
    fds_before = sampler.open_files()
    pids = {"gateway host": [pid], "providers": [p.pid for p, _ in providers], "load driver": [os.getpid()],
            "azurite": [stack.azurite.process.pid] if stack.azurite.process else [],
            "key vault emulator": [stack.vault._process.pid] if stack.vault._process else []}  # noqa: SLF001
    cpu_before = cpu_seconds(pids)
    async with sampler:
        stats = await drive(requests=plan.requests, concurrency=plan.concurrency, tenants=tenants,
                            gateway_url=host.base_url, credentials=credentials, max_seconds=plan.max_seconds,
                            on_progress=progress("gateway"))
    after = sampler.samples[-1]
    cpu_after = cpu_seconds(pids)
    await asyncio.sleep(1.0)  # the driver's connections are closed; let the host see it
    fds_after = sampler.open_files()
    print(stats.table(f"\n{title}: {plan.requests} requests (token before every FHIR "
                      f"request), {plan.concurrency} concurrent clients, {len(tenants)} tenants over "
                      f"{len(providers)} provider process(es) x {len(VERSIONS)} FHIR versions"))
    if warm.error_count:
        print(f"  warm-up errors: {warm.error_count}")
        stats.errors["token"] += warm.error_count
    print(f"  gateway resident memory: before {mib(before)}, peak {mib(sampler.peak)}, after {mib(after)} "
          f"(growth {mib(after - before)})")
    print(f"  gateway open file descriptors (sockets included): {fds_before} before, {fds_after} after "
          f"(its pooled keep-alive connections to the providers stay open)")
    step = max(1, len(sampler.samples) // 10)
    print(f"  resident memory every {step * sampler.interval:.1f} s: "
          + " ".join(f"{x / (1 << 20):.0f}" for x in sampler.samples[::step]) + " MiB")
    wall = stats.wall_seconds or 1.0
    print("  CPU used during the run: " + ", ".join(
        f"{name} {cpu_after[name] - cpu_before[name]:.1f} s ({(cpu_after[name] - cpu_before[name]) / wall:.0%} "
        f"of a core)" for name in pids) + f"; machine: {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} (other work on the machine competes too)")
    if ceiling is not None and ceiling.throughput > 0:
        ratio = stats.data_throughput() / ceiling.throughput
        host_core = (cpu_after["gateway host"] - cpu_before["gateway host"]) / wall
        if ratio >= 0.8:
            verdict = "limited by the provider stand-in"
        elif host_core >= 0.75:
            verdict = ("limited by the gateway: its one local host process (one event loop) keeps a core busy; "
                       "each FHIR request also costs a token and an outbound call, more work than the provider's")
        else:
            verdict = "limited by the shared machine (driver, gateway and providers compete for the cores)"
        print(f"  FHIR requests forwarded {stats.data_throughput():,.0f}/s (plus {len(stats.latencies['token'])} "
              f"tokens) vs the provider's own ceiling {ceiling.throughput:,.0f}/s at the same concurrency: "
              f"{ratio:.0%} -> {verdict}")
    scan_host_log(host, credentials, f"{title.split()[0]} mixed load")
    stack.close_host(host)
    return stats


async def memory_mode(plan: Plan, stack: Stack, credentials: Credentials) -> tuple[LoadStats, list[int]]:
    in_use = [tenant_id(i) for i in range(min(plan.tenants_in_use, plan.routes_stored))]
    host = stack.start_host()
    sampler = MemorySampler(host_pid(host))
    await drive(requests=2, concurrency=1, tenants=in_use[:1], gateway_url=host.base_url, credentials=credentials)
    start = sampler.rss()
    print(f"\n[4] memory mode: {plan.routes_stored} routes stored, {len(in_use)} tenants in use (a token and a "
          f"Patient read per tenant per pass), {plan.concurrency} concurrent clients, fresh host")
    print(f"  resident memory after the first request: {mib(start)}", flush=True)
    total = LoadStats()
    after_pass = []
    async with sampler:
        for n in range(1, plan.passes + 1):
            stats = await drive(requests=2 * len(in_use), concurrency=plan.concurrency, tenants=in_use,
                                gateway_url=host.base_url, credentials=credentials, mix=("read",),
                                max_seconds=plan.max_seconds)
            after_pass.append(sampler.rss())
            for kind, values in stats.latencies.items():
                total.latencies[kind].extend(values)
                total.errors[kind] += stats.errors[kind]
            total.error_samples.extend(stats.error_samples[:2])
            total.wall_seconds += stats.wall_seconds
            print(f"  pass {n}: {stats.total} requests, {stats.error_count} errors, {stats.throughput:,.0f} req/s; "
                  f"resident memory {mib(after_pass[-1])}", flush=True)
    print(total.table("  all passes:"))
    growth = after_pass[-1] - after_pass[0]
    flat = growth <= max(16 << 20, after_pass[0] * 0.05)
    print(f"  resident memory: start {mib(start)}, peak {mib(sampler.peak)}, end {mib(after_pass[-1])}; "
          f"growth from pass 1 to pass {plan.passes}: {mib(growth)} -> "
          f"{'flat' if flat else 'NOT flat'}, {'under' if sampler.peak < MEMORY_TARGET else 'OVER'} the 250 MB target")
    scan_host_log(host, credentials, "memory mode")
    stack.close_host(host)
    return total, after_pass


def scan_host_log(host: object, credentials: Credentials, label: str) -> None:
    from tests.fixtures.leaks import findings_in, register_sensitive

    register_sensitive(credentials.secret)
    found = findings_in(host.output())
    if found:
        LEAKS.extend(f"{label}: {f}" for f in found)
        print(f"  CREDENTIALS IN THE HOST LOG ({label}): {', '.join(sorted(set(found)))}")
    else:
        print(f"  host log ({label}): no client secret or access token in it")


LEAKS: list[str] = []


async def run(plan: Plan, stack: Stack) -> int:
    routes = max(plan.tenants, plan.routes_stored if plan.phase in ("all", "memory") else 0)
    slow = (plan.tenants if stack.slow_providers else 0, stack.slow_provider_urls)
    credentials, seconds = await seed(stack.env(), routes, stack.provider_urls, slow)
    routes += slow[0]
    print(f"seeded {routes} routes straight into the Table store in {seconds:.1f} s "
          f"({routes / max(seconds, 1e-9):,.0f}/s, {SEED_CONCURRENCY} concurrent writes)", flush=True)
    errors = 0
    if plan.phase in ("all", "mixed"):
        latency = f", {plan.provider_latency_ms:g} ms added" if plan.provider_latency_ms else ""
        ceiling = await provider_ceiling(plan, stack.provider_urls, f"[1] provider ceiling{latency}")
        errors += ceiling.error_count + (await mixed_load(
            plan, stack, credentials, ceiling, title=f"[2] mixed load through the local host{latency}")).error_count
        if stack.slow_providers:
            latency = f"providers answering in {plan.realistic_latency_ms:g} ms as a hospital's would"
            ceiling = await provider_ceiling(plan, stack.slow_provider_urls, f"[3a] provider ceiling, {latency}")
            errors += ceiling.error_count + (await mixed_load(
                plan, stack, credentials, ceiling, title=f"[3b] mixed load through the local host, {latency}",
                slow=True)).error_count
    if plan.phase in ("all", "memory") and plan.routes_stored > 0 and plan.tenants_in_use > 0:
        errors += (await memory_mode(plan, stack, credentials))[0].error_count
    print(f"\nload run: {errors} errors, {len(LEAKS)} credential findings in the logs")
    return 1 if errors or LEAKS else 0


def parse_args(argv: list[str] | None = None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="requests of the mixed load (default 10000; quick 1000)")
    parser.add_argument("--concurrency", type=int, help="concurrent clients (default 50; quick 20)")
    parser.add_argument("--tenants", type=int, help="tenants of the mixed load (default 20; quick 4)")
    parser.add_argument("--providers", type=int, help="demo provider processes (default 2)")
    parser.add_argument("--routes-stored", type=int, help="routes stored for the memory mode (default 10000; "
                                                          "quick 500; 0 skips it)")
    parser.add_argument("--tenants-in-use", type=int, help="tenants used in the memory mode (default 3000; quick 200)")
    parser.add_argument("--passes", type=int, help="passes over the tenants in use (default 5; quick 2)")
    parser.add_argument("--provider-latency-ms", type=float, default=0.0,
                        help="latency the demo providers of phases 1-2 add to every answer (default 0)")
    parser.add_argument("--realistic-latency-ms", type=float, default=50.0,
                        help="latency of the providers of phases 3a-3b (default 50; 0 skips them)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="time limit of each load loop (default 600)")
    parser.add_argument("--phase", choices=("all", "mixed", "memory"), default="all")
    parser.add_argument("--quick", action="store_true", help="a short run of every phase")
    args = parser.parse_args(argv)
    base = Plan(requests=1000, concurrency=20, tenants=4, routes_stored=500, tenants_in_use=200, passes=2) \
        if args.quick else Plan()
    plan = Plan(**{name: getattr(args, name) if getattr(args, name) is not None else getattr(base, name)
                   for name in ("requests", "concurrency", "tenants", "providers", "routes_stored", "tenants_in_use",
                                "passes", "provider_latency_ms", "realistic_latency_ms", "max_seconds", "phase")})
    for name in ("requests", "concurrency", "tenants", "providers", "passes"):
        if getattr(plan, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(plan.routes_stored, plan.tenants_in_use, plan.provider_latency_ms, plan.realistic_latency_ms) < 0 \
            or plan.max_seconds <= 0:
        parser.error("--routes-stored, --tenants-in-use and latencies must not be negative, --max-seconds positive")
    if plan.requests > 1_000_000 or plan.concurrency > 1000 or plan.routes_stored > 200_000:
        parser.error("keep the run bounded: at most 1,000,000 requests, 1000 clients, 200,000 routes")
    return plan


def main(argv: list[str] | None = None) -> int:
    plan = parse_args(argv)

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    stack = Stack(plan)
    try:
        print(f"starting Azurite, the Key Vault emulator and {plan.providers} demo provider(s) ...", flush=True)
        stack.start()
        return asyncio.run(run(plan, stack))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the load run started", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short: stop everything first.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
