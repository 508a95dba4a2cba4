"""The entry adapter's cost per request (``gateway.entry``), in-process, side by side in one run.

The same small read is answered by the proxy handler called directly (``gateway.proxy.forward.proxy`` with
the services in hand) and by the FHIR surface as the function folder calls it (``gateway.surfaces.fhir.handle``:
settings, this worker's services, the surface), rounds interleaved, on in-memory stores with a stand-in
provider that answers at once. The difference is what the adapter adds once a worker is warm.

    .venv/bin/python -m bench.entry_bench [--requests 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BASE = "http://localhost:7071"


async def measure(requests: int, rounds: int) -> dict[str, float]:
    import gateway.entry
    import gateway.services
    from gateway.config import Settings
    from gateway.http import Headers, Request, Response
    from gateway.outbound.transport import UpstreamRequest, UpstreamResponse
    from gateway.stores.models import Client, Route
    from gateway.surfaces.fhir import handle

    class Answering:
        async def send(self, request: UpstreamRequest) -> UpstreamResponse:
            return UpstreamResponse(status=200, body=b'{"resourceType":"Patient","id":"1"}',
                                    headers=[("Content-Type", "application/fhir+json; charset=utf-8")])

        async def aclose(self) -> None:
            return None

    settings = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": BASE})
    services = gateway.services.memory_services(settings, transport=Answering())
    gateway.services._worker[id(asyncio.get_running_loop())] = services  # this worker's, as if built
    gateway.entry.current_settings = lambda: settings  # as read from the environment once
    await services.clients.create(Client(client_id="bench", display_name="bench", allowed_tenants=("*",)))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url="http://127.0.0.1:9/stu3",
                                       fhir_version="STU3"))
    token = (await services.token_issuer.issue(client_id="bench", tenant_id=TENANT)).access_token
    request = Request("GET", f"{BASE}/fhir/Patient/1", headers=Headers({"Authorization": f"Bearer {token}"}),
                      route_params={"path": "Patient/1"})
    cases: dict[str, Callable[[], Awaitable[Response]]] = {
        "proxy handler": lambda: services.fhir_proxy.handle(request),
        "through the entry adapter": lambda: handle(request),
    }
    medians: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, call in cases.items():
            for _ in range(200):
                if (await call()).status != 200:
                    raise RuntimeError(f"{name} did not answer 200")
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                await call()
                samples.append(time.perf_counter() - started)
            medians[name].append(statistics.median(samples))
    await services.aclose()
    return {name: min(values) * 1e6 for name, values in medians.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.requests, args.rounds))
    for name, micros in figures.items():
        print(f"small read, {name:28}: {micros:6.1f} us median (least disturbed of {args.rounds} rounds)")
    added = figures["through the entry adapter"] - figures["proxy handler"]
    print(f"the entry adapter adds {added:+.1f} us per request on a warm worker")


if __name__ == "__main__":
    main()
