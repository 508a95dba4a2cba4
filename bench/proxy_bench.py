"""Proxy overhead, side by side in one run (docs/proxy.md, "Performance").

Starts, on loopback: the stand-in provider (bench.http_clients, a subprocess), Azurite and the
Key Vault emulator (routes, clients and signing keys as in Azure), and the local Functions host
(devtools.funchost) serving the repository's function folders. Then, interleaving the two so
both see the same machine state, it measures a direct call to the provider and the same call
through the gateway, and prints the added median and p99:

- a small read (``GET Patient/1``),
- a 100-entry search Bundle (``GET Observation?patient=1&_count=100``; every URL rewritten),
- the wall time of 50 concurrent reads against a provider that takes 100 ms;
- the version bridge: the same read and Bundle from an R4 route, by an STU3 client (``/fhir/STU3``, converted
  both ways) beside an R4 client (``/fhir/R4``, a passthrough), through this tree's host and in-process.

The same is measured for the proxy handler called in-process (no host, in-memory stores), to
separate the gateway's own cost from the local host's.

Before and after: the same is measured through a second local host serving the gateway as it was
before the hot path was sped up (``bench.baseline``: a commit's tree from the git history), interleaved
request by request with this tree's host, and the added medians are printed side by side. First, the
handler's own work on a small read and on the Bundle (a stand-in transport answering at once, so no socket and no host),
for the baseline's gateway and this tree's, each in its own interpreter: the figure the machine's load
disturbs least.

Targets: small read +1 ms median / +3 ms p99 (then under 0.6 ms median); Bundle +3 ms; 50 slow reads
well under 0.5 s.

    .venv/bin/python -m bench.proxy_bench [--requests 1000] [--before REV | --no-before] [--handler-cost [--bundle]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script (the baseline's handler cost): the tree on PYTHONPATH comes first
    sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or str(Path(__file__).parents[1]))

from bench.http_clients import search_bundle, start_server, stop_server  # noqa: E402

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SLOW_TENANT = "0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f"
BRIDGED_TENANT = "5b8e1f0c-7d2a-4e3b-9c4d-2f6a8b0c1d3e"
ADVERTISED = "http://localhost:7071"
HEADERS = {"Accept": "application/fhir+json", "User-Agent": ".NET FhirClient for FHIR 1.0.2"}


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _seed(settings, provider_origin: str):  # noqa: ANN001
    from gateway.services import build_services, memory_services
    from gateway.stores.models import Client, Route

    tokens = {}
    azure = await build_services(settings, create_tables=True)
    for name, services in (("azure", azure), ("memory", memory_services(settings))):
        await services.admin_api.deployment.ensure()
        await services.clients.create(Client(client_id="bench", display_name="bench", allowed_tenants=("*",)))
        await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=f"{provider_origin}/stu3",
                                           fhir_version="STU3"))
        await services.routes.create(Route(tenant_id=SLOW_TENANT, fhir_base_url=f"{provider_origin}/slow",
                                           fhir_version="STU3"))
        await services.routes.create(Route(tenant_id=BRIDGED_TENANT, fhir_base_url=f"{provider_origin}/r4",
                                           fhir_version="R4"))
        issue = services.token_issuer.issue
        tokens[name] = (services, (await issue(client_id="bench", tenant_id=TENANT)).access_token,
                        (await issue(client_id="bench", tenant_id=SLOW_TENANT)).access_token,
                        (await issue(client_id="bench", tenant_id=BRIDGED_TENANT)).access_token)
    azure_services = tokens["azure"][0]
    await azure_services.aclose()
    return tokens


@contextmanager
def seeded_stack(prefix: str) -> Iterator[tuple[str, dict[str, str], dict]]:
    """The stand-in provider, Azurite and the Key Vault emulator on loopback, seeded by :func:`_seed`.

    Yields the provider's URL, the gateway's settings (for a local host) and the tokens; stops them all after.
    """
    from devtools.azurite import AzuriteProcess, free_port
    from gateway.config import Settings
    from tests.fixtures.keyvault import KeyVaultEmulator

    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    provider_process, (port,) = start_server("bench.http_clients", "--serve", "0")
    provider = f"http://127.0.0.1:{port}"
    azurite = AzuriteProcess(free_port(), workdir / "azurite", in_memory=True)
    vault = KeyVaultEmulator(workdir / "keyvault")
    try:
        azurite.start()
        vault.start()
        env = {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": ADVERTISED,
               "TABLES_CONNECTION_STRING": azurite.connection_string, **vault.settings(),
               "TABLE_NAME_PREFIX": prefix, "KEY_VAULT_SECRET_PREFIX": prefix}
        yield provider, env, asyncio.run(_seed(Settings.from_mapping(env), provider))
    finally:
        vault.stop()
        azurite.stop()
        stop_server(provider_process)
        shutil.rmtree(workdir, ignore_errors=True)


async def _timed_get(session, url: str, headers: dict[str, str]) -> float:  # noqa: ANN001
    started = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url.split('?')[0]} answered {response.status}")
    return time.perf_counter() - started


async def _in_process(services, token: str, path: str) -> float:  # noqa: ANN001
    from gateway.http import Headers, Request

    request = Request(method="GET", url=f"{ADVERTISED}/fhir/{path}",
                      headers=Headers({**HEADERS, "Authorization": f"Bearer {token}"}),
                      route_params={"path": path.split("?")[0]})
    started = time.perf_counter()
    response = await services.fhir_proxy.handle(request)
    if response.status != 200:
        raise RuntimeError(f"in-process {path.split('?')[0]} answered {response.status}")
    return time.perf_counter() - started


async def _measure(provider: str, gateways: dict[str, str], tokens, n: int) -> None:  # noqa: ANN001
    """``gateways``: label -> base URL of a local host (this tree's, and the baseline's when compared)."""
    import aiohttp

    token, slow_token = tokens["azure"][1:3]
    memory, mem_token, mem_slow_token = tokens["memory"][:3]
    auth = {**HEADERS, "Authorization": f"Bearer {token}"}
    cases = [("small read", "Patient/1"), ("100-entry Bundle", "Observation?patient=1&_count=100")]
    async with aiohttp.ClientSession() as session:
        for _ in range(50):  # warm every path: connections, caches, keys
            for gateway in gateways.values():
                await _timed_get(session, f"{gateway}/fhir/Patient/1", auth)
            await _in_process(memory, mem_token, "Patient/1")
        print(f"{n} sequential requests per case, interleaved; added = through - direct")
        print(f"{'case':<18} {'route':<28} {'direct med':>10} {'through med':>11} {'added med':>10} "
              f"{'direct p99':>10} {'through p99':>11} {'added p99':>10}")
        added: dict[tuple[str, str], float] = {}
        for label, path in cases:
            direct: list[float] = []
            through: dict[str, list[float]] = {route: [] for route in [*gateways, "in-process"]}
            for i in range(n):
                direct.append(await _timed_get(session, f"{provider}/stu3/{path}", HEADERS))
                order = list(gateways.items())
                for route, gateway in order if i % 2 else reversed(order):  # neither host always goes first
                    through[route].append(await _timed_get(session, f"{gateway}/fhir/{path}", auth))
                through["in-process"].append(await _in_process(memory, mem_token, path))
            for route, samples in through.items():
                dm, tm = statistics.median(direct) * 1000, statistics.median(samples) * 1000
                dp, tp = _p99(direct) * 1000, _p99(samples) * 1000
                added[label, route] = tm - dm
                print(f"{label:<18} {route:<28} {dm:>8.3f}ms {tm:>9.3f}ms {tm - dm:>+8.3f}ms "
                      f"{dp:>8.3f}ms {tp:>9.3f}ms {tp - dp:>+8.3f}ms")
        if len(gateways) > 1:
            before, after = list(gateways)
            for label, _ in cases:
                print(f"{label}: added median through the local host {added[label, before]:.3f} ms ({before}) -> "
                      f"{added[label, after]:.3f} ms ({after})")

        slow_auth = {**HEADERS, "Authorization": f"Bearer {slow_token}"}
        runs = [("direct", lambda: _timed_get(session, f"{provider}/slow/Patient/1", HEADERS))]
        for route, gateway in gateways.items():
            await _timed_get(session, f"{gateway}/fhir/Patient/1", slow_auth)
            runs.append((route, lambda gateway=gateway: _timed_get(session, f"{gateway}/fhir/Patient/1", slow_auth)))
        runs.append(("in-process", lambda: _in_process(memory, mem_slow_token, "Patient/1")))
        for route, run in runs:
            started = time.perf_counter()
            await asyncio.gather(*(run() for _ in range(50)))
            wall = time.perf_counter() - started
            print(f"50 concurrent reads, provider takes 100 ms, {route:<28}: wall {wall:.3f} s")
    await memory.aclose()


def _handler_and_issuer(services, transport):  # noqa: ANN001, ANN202 - whichever tree's gateway is imported
    """The proxy handler and the token issuer of ``services``, the provider stand-in installed; a baseline tree
    (``compare_handler_cost`` runs this script on it) may predate the narrow wiring."""
    if hasattr(services, "fhir_proxy"):
        services.use_transport(transport)
        return services.fhir_proxy.handle, services.token_issuer.issue
    from gateway.proxy.forward import proxy  # type: ignore[attr-defined]
    from gateway.tokens.access_tokens import issue_access_token  # type: ignore[attr-defined]

    if hasattr(services, "use_transport"):
        services.use_transport(transport)
    else:  # a baseline tree from before the per-worker parts were typed attributes
        from gateway.proxy.forward import install_transport  # type: ignore[attr-defined]

        install_transport(services, transport)
    return (lambda request: proxy(request, services),
            lambda **claims: issue_access_token(services, **claims))


async def handler_cost(rounds: int = 7, per_round: int = 1000, *, bundle: bool = False) -> float:
    """The proxy handler's own work on a small read (``bundle``: on the 100-entry searchset, every URL rewritten
    and its ``next`` link signed), in microseconds: a stand-in transport answers at once (no socket), in-memory
    stores, warm caches; the smallest of ``rounds`` medians (the least disturbed)."""
    from gateway.config import Settings
    from gateway.http import Headers, Request
    try:
        from gateway.outbound.transport import UpstreamResponse
    except ImportError:  # a baseline tree from before the outbound package
        from gateway.proxy.transport import UpstreamResponse  # type: ignore[no-redef]
    from gateway.services import memory_services
    from gateway.stores.models import Client, Route

    provider_base = "http://127.0.0.1:9/stu3"
    body = b'{"resourceType":"Patient","id":"1","meta":{"versionId":"1"},"name":[{"family":"Chalmers"}]}'
    path = "Patient/1"
    if bundle:
        body, path = search_bundle(provider_base), "Observation?patient=1&_count=100"

    class Answering:
        async def send(self, request):  # noqa: ANN001, ANN202 - an UpstreamRequest, an UpstreamResponse
            return UpstreamResponse(status=200, body=body, headers=[
                ("Content-Type", "application/fhir+json; charset=utf-8"), ("ETag", 'W/"1"'),
                ("Connection", "keep-alive")])

        async def aclose(self) -> None:
            return None

    services = memory_services(Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development",
                                                      "PUBLIC_BASE_URL": ADVERTISED}))
    proxy, issue = _handler_and_issuer(services, Answering())
    await services.clients.create(Client(client_id="bench", display_name="bench", allowed_tenants=("*",)))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=provider_base, fhir_version="STU3"))
    token = (await issue(client_id="bench", tenant_id=TENANT)).access_token
    request = Request(method="GET", url=f"{ADVERTISED}/fhir/{path}", route_params={"path": path.split("?")[0]},
                      headers=Headers({**HEADERS, "Authorization": f"Bearer {token}",
                                       "X-Forwarded-For": "10.0.0.1:50000"}))
    for _ in range(500):
        if (await proxy(request)).status != 200:
            raise RuntimeError("the handler did not answer 200")
    medians = []
    for _ in range(rounds):
        samples = []
        for _ in range(per_round):
            started = time.perf_counter()
            await proxy(request)
            samples.append(time.perf_counter() - started)
        medians.append(statistics.median(samples))
    await services.aclose()
    return min(medians) * 1e6


def compare_handler_cost(before: str | None) -> None:
    """:func:`handler_cost` of the baseline's gateway and of this tree's, each in its own interpreter, twice; for
    the small read and for the 100-entry Bundle."""
    import subprocess

    from bench.baseline import REPO, baseline_commit, baseline_tree

    commit = baseline_commit(before)
    root = baseline_tree(commit)
    script = str(Path(__file__).resolve())
    try:
        for case, flags in (("a small read", []), ("the 100-entry Bundle", ["--bundle"])):
            figures: dict[str, list[float]] = {f"before {commit}": [], "after (this tree)": []}
            for _ in range(2):
                for label, tree in zip(figures, (root, REPO), strict=True):
                    out = subprocess.run([sys.executable, script, "--handler-cost", *flags], cwd=tree, check=True,
                                         text=True, env={**os.environ, "PYTHONPATH": str(tree)},
                                         capture_output=True).stdout
                    figures[label].append(float(out.split()[-1]))
            (before_label, old), (after_label, new) = figures.items()
            print(f"handler's own work on {case} (in-process, provider answering at once, least disturbed "
                  f"median): {min(old):.1f} us ({before_label}) -> {min(new):.1f} us ({after_label})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _measure_bridged(provider: str, gateway: str, tokens, n: int) -> None:  # noqa: ANN001
    """The version bridge through ``gateway`` (this tree's host) and in-process: an STU3 client on an R4 route
    (``/fhir/STU3/...``, converted both ways) beside an R4 client on the same route (``/fhir/R4/...``, a
    passthrough), interleaved request by request; added = through - direct to the provider's R4 base."""
    import aiohttp

    token, memory, mem_token = tokens["azure"][3], tokens["memory"][0], tokens["memory"][3]
    auth = {**HEADERS, "Authorization": f"Bearer {token}"}
    routes = {"R4 base (passthrough)": "R4", "STU3 base (bridged)": "STU3"}
    cases = [("small read", "Patient/1"), ("100-entry Bundle", "Observation?patient=1&_count=100")]
    async with aiohttp.ClientSession() as session:
        for _ in range(50):
            for segment in routes.values():
                await _timed_get(session, f"{gateway}/fhir/{segment}/Patient/1", auth)
                await _in_process(memory, mem_token, f"{segment}/Patient/1")
        print(f"version bridge, {n} sequential requests per case, interleaved; R4 route, added = through - direct")
        for label, path in cases:
            direct: list[float] = []
            through: dict[str, list[float]] = {f"{where}, {route}": [] for where in ("funchost", "in-process")
                                               for route in routes}
            for i in range(n):
                direct.append(await _timed_get(session, f"{provider}/r4/{path}", HEADERS))
                order = list(routes.items())
                for route, segment in order if i % 2 else reversed(order):
                    through[f"funchost, {route}"].append(
                        await _timed_get(session, f"{gateway}/fhir/{segment}/{path}", auth))
                    through[f"in-process, {route}"].append(await _in_process(memory, mem_token, f"{segment}/{path}"))
            dm = statistics.median(direct) * 1000
            added = {route: statistics.median(samples) * 1000 - dm for route, samples in through.items()}
            for route, samples in through.items():
                print(f"{label:<18} {route:<36} added median {added[route]:>+7.3f} ms, p99 "
                      f"{(_p99(samples) - _p99(direct)) * 1000:>+7.3f} ms")
            for where in ("funchost", "in-process"):
                passthrough, bridged = (added[f"{where}, {route}"] for route in routes)
                print(f"{label}: the bridge adds {bridged - passthrough:+.3f} ms median ({where}) over the "
                      "R4 passthrough")
    await memory.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--before", metavar="REV", help="the baseline commit (default: bench.baseline's)")
    parser.add_argument("--no-before", action="store_true", help="measure this tree only")
    parser.add_argument("--handler-cost", action="store_true", help="print only the handler's own cost (us)")
    parser.add_argument("--bundle", action="store_true", help="with --handler-cost: on the 100-entry Bundle")
    args = parser.parse_args()
    if args.handler_cost:
        print(f"handler cost {asyncio.run(handler_cost(bundle=args.bundle)):.1f}")
        return
    if not args.no_before:
        compare_handler_cost(args.before)

    from bench.baseline import REPO, BaselineHost, baseline_commit, baseline_tree

    host = baseline = None
    baseline_root = None
    with seeded_stack("bench") as (provider, env, tokens):
        try:
            host = BaselineHost(REPO, env).start()  # launched as the baseline's is (same logging), for a fair pair
            gateways = {"funchost": host.base_url}
            if not args.no_before:
                commit = baseline_commit(args.before)
                baseline_root = baseline_tree(commit)
                baseline = BaselineHost(baseline_root, env).start()
                gateways = {f"funchost before {commit}": baseline.base_url, "funchost after (this tree)": host.base_url}
            asyncio.run(_measure(provider, gateways, tokens, args.requests))
            asyncio.run(_measure_bridged(provider, host.base_url, tokens, args.requests))
        finally:
            if host is not None:
                host.close()
            if baseline is not None:
                baseline.close()
            if baseline_root is not None:
                shutil.rmtree(baseline_root, ignore_errors=True)

if __name__ == "__main__":
    main()
