"""Proxy overhead, side by side in one run (docs/proxy.md, "Performance").

Starts, on loopback: the stand-in provider (bench.http_clients, a subprocess), Azurite and the
Key Vault emulator (routes, clients and signing keys as in Azure), and the local Functions host
(devtools.funchost) serving the repository's function folders. Then, interleaving the two so
both see the same machine state, it measures a direct call to the provider and the same call
through the gateway, and prints the added median and p99:

- a small read (``GET Patient/1``),
- a 100-entry search Bundle (``GET Observation?patient=1&_count=100``; every URL rewritten),
- the wall time of 50 concurrent reads against a provider that takes 100 ms.

The same is measured for the proxy handler called in-process (no host, in-memory stores), to
separate the gateway's own cost from the local host's.

Targets: small read +1 ms median / +3 ms p99; Bundle +3 ms; 50 slow reads well under 0.5 s.

    .venv/bin/python -m bench.proxy_bench [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.http_clients import start_server, stop_server

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SLOW_TENANT = "0d4f9a3c-1b2e-4c5d-8e7f-9a0b1c2d3e4f"
ADVERTISED = "http://localhost:7071"
HEADERS = {"Accept": "application/fhir+json", "User-Agent": ".NET FhirClient for FHIR 1.0.2"}


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _seed(settings, provider_origin: str):  # noqa: ANN001
    from gateway.services import build_services, memory_services
    from gateway.stores.models import Client, Route
    from gateway.tokens.access_tokens import issue_access_token

    tokens = {}
    for name, services in (("azure", await build_services(settings)), ("memory", memory_services(settings))):
        await services.clients.create(Client(client_id="bench", display_name="bench", allowed_tenants=("*",)))
        await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=f"{provider_origin}/stu3",
                                           fhir_version="STU3"))
        await services.routes.create(Route(tenant_id=SLOW_TENANT, fhir_base_url=f"{provider_origin}/slow",
                                           fhir_version="STU3"))
        tokens[name] = (services,
                        (await issue_access_token(services, client_id="bench", tenant_id=TENANT)).access_token,
                        (await issue_access_token(services, client_id="bench", tenant_id=SLOW_TENANT)).access_token)
    azure_services = tokens["azure"][0]
    await azure_services.aclose()
    return tokens


async def _timed_get(session, url: str, headers: dict[str, str]) -> float:  # noqa: ANN001
    started = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url.split('?')[0]} answered {response.status}")
    return time.perf_counter() - started


async def _in_process(services, token: str, path: str) -> float:  # noqa: ANN001
    from gateway.http import Headers, Request
    from gateway.proxy.forward import proxy

    request = Request(method="GET", url=f"{ADVERTISED}/fhir/{path}",
                      headers=Headers({**HEADERS, "Authorization": f"Bearer {token}"}),
                      route_params={"path": path.split("?")[0]})
    started = time.perf_counter()
    response = await proxy(request, services)
    if response.status != 200:
        raise RuntimeError(f"in-process {path.split('?')[0]} answered {response.status}")
    return time.perf_counter() - started


async def _measure(provider: str, gateway: str, tokens, n: int) -> None:  # noqa: ANN001
    import aiohttp

    _, token, slow_token = tokens["azure"]
    memory, mem_token, mem_slow_token = tokens["memory"]
    auth = {**HEADERS, "Authorization": f"Bearer {token}"}
    cases = [("small read", "Patient/1"), ("100-entry Bundle", "Observation?patient=1&_count=100")]
    async with aiohttp.ClientSession() as session:
        for _ in range(50):  # warm every path: connections, caches, keys
            await _timed_get(session, f"{gateway}/fhir/Patient/1", auth)
            await _in_process(memory, mem_token, "Patient/1")
        print(f"{n} sequential requests per case, interleaved; added = through - direct")
        print(f"{'case':<18} {'route':<12} {'direct med':>10} {'through med':>11} {'added med':>10} "
              f"{'direct p99':>10} {'through p99':>11} {'added p99':>10}")
        for label, path in cases:
            direct, host, local = [], [], []
            for _ in range(n):
                direct.append(await _timed_get(session, f"{provider}/stu3/{path}", HEADERS))
                host.append(await _timed_get(session, f"{gateway}/fhir/{path}", auth))
                local.append(await _in_process(memory, mem_token, path))
            for route, through in (("funchost", host), ("in-process", local)):
                dm, tm = statistics.median(direct) * 1000, statistics.median(through) * 1000
                dp, tp = _p99(direct) * 1000, _p99(through) * 1000
                print(f"{label:<18} {route:<12} {dm:>8.3f}ms {tm:>9.3f}ms {tm - dm:>+8.3f}ms "
                      f"{dp:>8.3f}ms {tp:>9.3f}ms {tp - dp:>+8.3f}ms")

        slow_auth = {**HEADERS, "Authorization": f"Bearer {slow_token}"}
        await _timed_get(session, f"{gateway}/fhir/Patient/1", slow_auth)
        for route, run in (
                ("direct", lambda: _timed_get(session, f"{provider}/slow/Patient/1", HEADERS)),
                ("funchost", lambda: _timed_get(session, f"{gateway}/fhir/Patient/1", slow_auth)),
                ("in-process", lambda: _in_process(memory, mem_slow_token, "Patient/1"))):
            started = time.perf_counter()
            await asyncio.gather(*(run() for _ in range(50)))
            wall = time.perf_counter() - started
            print(f"50 concurrent reads, provider takes 100 ms, {route:<10}: wall {wall:.3f} s")
    await memory.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()

    from devtools.azurite import AzuriteProcess, free_port
    from gateway.config import Settings
    from tests.fixtures.funchost import LocalHost
    from tests.fixtures.keyvault import KeyVaultEmulator

    workdir = Path(tempfile.mkdtemp(prefix="proxy-bench-"))
    provider_process, (port,) = start_server("bench.http_clients", "--serve", "0")
    provider = f"http://127.0.0.1:{port}"
    azurite = AzuriteProcess(free_port(), workdir / "azurite", in_memory=True)
    vault = KeyVaultEmulator(workdir / "keyvault")
    host = None
    try:
        azurite.start()
        vault.start()
        env = {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": ADVERTISED,
               "TABLES_CONNECTION_STRING": azurite.connection_string, **vault.settings(),
               "TABLE_NAME_PREFIX": "bench", "KEY_VAULT_SECRET_PREFIX": "bench"}
        tokens = asyncio.run(_seed(Settings.from_mapping(env), provider))
        host = LocalHost(env).start()
        asyncio.run(_measure(provider, host.base_url, tokens, args.requests))
    finally:
        if host is not None:
            host.close()
        vault.stop()
        azurite.stop()
        stop_server(provider_process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
