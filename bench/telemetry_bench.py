"""Telemetry's cost on the proxy's added latency, with and without export, side by side in one run.

In one process, the proxy as the Functions worker runs it (``gateway.telemetry.serve`` around
``gateway.proxy.forward.proxy``, in-memory stores, the real aiohttp transport) calls the stand-in
provider (``bench.http_clients``, its own process). Interleaved, request by request:

- ``direct``: the provider without the gateway,
- ``off``: ``APPLICATIONINSIGHTS_CONNECTION_STRING`` unset, no OpenTelemetry at all,
- ``export``: the Azure Monitor distro configured as in Azure (``gateway.telemetry.setup``), exporting
  to a local ingestion stand-in (``tests.fixtures.ingestion``, its own process) in the distro's
  background threads.

Two runs, each in a fresh process: with the distro's default sampling (rate-limited, 5 traces/s: what
runs in Azure) and with every trace sampled (``always_on``: the worst case, each request's spans
converted and sent). Prints the added latency (through the gateway minus direct) of ``off`` and
``export`` and their difference, the telemetry overhead (target: < 0.2 ms median); then the one-off
cost of turning telemetry on in a fresh worker (import and configure, paid by its first request).

    .venv/bin/python -m bench.telemetry_bench [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

from bench.http_clients import start_server, stop_server
from tests.support.constants import BASE_URL as ADVERTISED
from tests.support.constants import TENANT

HEADERS = {"Accept": "application/fhir+json", "User-Agent": ".NET FhirClient for FHIR 1.0.2"}
CASES = [("small read", "Patient/1"), ("search", "Observation?patient=1&_count=10")]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _services(provider: str):  # noqa: ANN202
    """Memory services with one client, one route and a token (the transport is built on first use)."""
    from gateway.config import Settings
    from gateway.services import memory_services
    from gateway.stores.models import Client, Route

    settings = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": ADVERTISED})
    services = memory_services(settings)
    await services.clients.create(Client(client_id="bench", display_name="bench", allowed_tenants=("*",)))
    await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=f"{provider}/stu3", fhir_version="STU3"))
    token = (await services.token_issuer.issue(client_id="bench", tenant_id=TENANT)).access_token
    return services, token


async def _through(services, token: str, path: str) -> float:  # noqa: ANN001
    from gateway import telemetry
    from gateway.http import Headers, Request

    request = Request(method="GET", url=f"{ADVERTISED}/fhir/{path}",
                      headers=Headers({**HEADERS, "Authorization": f"Bearer {token}"}),
                      route_params={"path": path.split("?")[0]})
    started = time.perf_counter()
    response = await telemetry.serve(request, services.fhir_proxy.handle)
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"{path.split('?')[0]} answered {response.status}")
    return elapsed


async def _direct(session, url: str) -> float:  # noqa: ANN001
    started = time.perf_counter()
    async with session.get(url, headers=HEADERS) as response:
        await response.read()
    return time.perf_counter() - started


async def _measure(provider: str, connection_string: str, n: int) -> None:
    import aiohttp

    from gateway import telemetry
    from gateway.telemetry.setup import configure

    telemetry.use_recorder(None)
    off, off_token = await _services(provider)
    started = time.perf_counter()
    recorder = configure(connection_string)
    configured_ms = (time.perf_counter() - started) * 1000
    telemetry.use_recorder(recorder)
    on, on_token = await _services(provider)  # its transport is built (and traced) with telemetry on

    async with aiohttp.ClientSession() as session:
        for _ in range(200):  # warm connections, caches, keys and the exporter
            telemetry.use_recorder(None)
            await _through(off, off_token, "Patient/1")
            telemetry.use_recorder(recorder)
            await _through(on, on_token, "Patient/1")
        print(f"{n} sequential requests per case, interleaved; added = through the gateway - direct")
        print(f"{'case':<11} {'direct med':>10} {'off added':>10} {'export added':>12} {'overhead':>9} | "
              f"{'off p99':>8} {'export p99':>10} {'overhead':>9}")
        for label, path in CASES:
            direct, plain, exported = [], [], []
            for _ in range(n):
                direct.append(await _direct(session, f"{provider}/stu3/{path}"))
                telemetry.use_recorder(None)
                plain.append(await _through(off, off_token, path))
                telemetry.use_recorder(recorder)
                exported.append(await _through(on, on_token, path))
            dm = statistics.median(direct) * 1000
            om, em = statistics.median(plain) * 1000 - dm, statistics.median(exported) * 1000 - dm
            dp = _p99(direct) * 1000
            op, ep = _p99(plain) * 1000 - dp, _p99(exported) * 1000 - dp
            print(f"{label:<11} {dm:>8.3f}ms {om:>+8.3f}ms {em:>+10.3f}ms {em - om:>+7.3f}ms | "
                  f"{op:>+6.3f}ms {ep:>+8.3f}ms {ep - op:>+7.3f}ms")
    telemetry.use_recorder(None)
    await off.aclose()
    await on.aclose()
    await _hot_overhead(provider, recorder)
    print(f"configure in this process (distro already imported by nothing else): {configured_ms:.0f} ms")


async def _hot_overhead(provider: str, recorder, rounds: int = 30, per_round: int = 300) -> None:  # noqa: ANN001
    """Telemetry's own CPU on a small read, the figure this machine's load disturbs least: the proxy with a
    stand-in transport answering at once (no socket), off and on alternately, the smallest of the medians."""
    from gateway import telemetry
    from gateway.outbound.transport import UpstreamResponse

    body = b'{"resourceType":"Patient","id":"1"}'

    class Answering:
        async def send(self, request):  # noqa: ANN001, ANN202 - an UpstreamRequest, an UpstreamResponse
            return UpstreamResponse(status=200, body=body, headers=[("Content-Type", "application/fhir+json")])

        async def aclose(self) -> None:
            return None

    samples: dict[bool, list[float]] = {False: [], True: []}
    pairs = []
    for on in (False, True):
        telemetry.use_recorder(recorder if on else None)
        services, token = await _services(provider)
        services.use_transport(Answering())
        pairs.append((on, services, token))
    for _ in range(rounds):
        for on, services, token in pairs:
            telemetry.use_recorder(recorder if on else None)
            times = [await _through(services, token, "Patient/1") for _ in range(per_round)]
            samples[on].append(statistics.median(times))
    telemetry.use_recorder(None)
    for _, services, _ in pairs:
        await services.aclose()
    off_us, on_us = min(samples[False]) * 1e6, min(samples[True]) * 1e6
    print(f"in-process, provider answering at once (least disturbed medians): off {off_us:.1f} us, "
          f"on {on_us:.1f} us, telemetry's own work {on_us - off_us:+.1f} us per small read")


def _off_hooks_cost(n: int = 200_000) -> None:
    """What the hooks cost with telemetry off: the serve wrapper and a hook call, against none."""
    from gateway import telemetry
    from gateway.http import Headers, Request, Response

    telemetry.use_recorder(None)
    request = Request("GET", f"{ADVERTISED}/fhir/Patient/1", Headers())
    answer = Response(200)

    async def handler(_: Request) -> Response:
        return answer

    async def timed() -> tuple[float, float, float]:
        started = time.perf_counter()
        for _ in range(n):
            await handler(request)
        bare = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(n):
            await telemetry.serve(request, handler)
        wrapped = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(n):
            telemetry.cache_lookup("clients", True)
        hook = time.perf_counter() - started
        return bare, wrapped, hook

    bare, wrapped, hook = asyncio.run(timed())
    print(f"telemetry off, per request: serve wrapper {(wrapped - bare) / n * 1e6:.2f} us, "
          f"one hook call (cache lookup, outcome, lock-out) {hook / n * 1e6:.2f} us; a proxied read makes 4-5 of them")


def _cold_start_cost(connection_string: str) -> None:
    """Import + configure in a fresh interpreter, as a worker's first request with telemetry on pays it."""
    script = ("import time; t = time.perf_counter(); import gateway.azure_http; t1 = time.perf_counter(); "
              "from gateway import telemetry; r = telemetry.active_recorder(); t2 = time.perf_counter(); "
              "import sys; print(round((t1 - t) * 1000), round((t2 - t1) * 1000), r is not None, "
              "sum(m.startswith('opentelemetry') for m in sys.modules))")
    for label, extra in (("off", {"APPLICATIONINSIGHTS_CONNECTION_STRING": ""}),
                         ("on", {"APPLICATIONINSIGHTS_CONNECTION_STRING": connection_string})):
        env = {**os.environ, **extra}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        fields = out.stdout.split()
        if out.returncode != 0 or len(fields) != 4:
            print(f"cold start ({label}): failed: {out.stderr.strip()[-300:]}")
            continue
        print(f"cold start, telemetry {label:<3}: import gateway.azure_http {fields[0]} ms, first use of telemetry "
              f"{fields[1]} ms, active={fields[2]}, OpenTelemetry modules loaded: {fields[3]}")


def _run(provider: str, connection_string: str, sampler: str, n: int) -> None:
    """One measuring run in this (fresh) process."""
    os.environ["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"
    if sampler == "always_on":
        os.environ["OTEL_TRACES_SAMPLER"] = "always_on"
    else:
        os.environ.pop("OTEL_TRACES_SAMPLER", None)
    asyncio.run(_measure(provider, connection_string, n))
    from opentelemetry import metrics, trace

    for provider_object in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        provider_object.shutdown()  # type: ignore[attr-defined]  # flush what is left while the stand-in listens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--ingest", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", nargs=3, metavar=("PROVIDER", "CONNECTION", "SAMPLER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest:  # the ingestion stand-in, in its own process
        from tests.fixtures.ingestion import IngestionStandIn

        stand_in = IngestionStandIn().start()
        print("ready", stand_in.port, stand_in.instrumentation_key, flush=True)
        try:
            while sys.stdin.readline():
                print(json.dumps({"items": len(stand_in.envelopes)}), flush=True)
        finally:
            stand_in.stop()
        return
    if args.run:
        _run(*args.run[:2], args.run[2], args.requests)
        return

    provider_process, (port,) = start_server("bench.http_clients", "--serve", "0")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    ingest = subprocess.Popen([sys.executable, "-m", "bench.telemetry_bench", "--ingest"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert ingest.stdout is not None and ingest.stdin is not None
        _, ingest_port, key = ingest.stdout.readline().split()
        connection_string = f"InstrumentationKey={key};IngestionEndpoint=http://127.0.0.1:{ingest_port}/"
        for sampler, label in (("default", "the distro's default sampling (5 traces/s), as in Azure"),
                               ("always_on", "every trace sampled and exported (worst case)")):
            print(f"\n-- export with {label}", flush=True)
            subprocess.run([sys.executable, "-m", "bench.telemetry_bench", "--requests", str(args.requests),
                            "--run", f"http://127.0.0.1:{port}", connection_string, sampler], env=env, check=True)
            ingest.stdin.write("count\n")
            ingest.stdin.flush()
            print(f"telemetry items received so far by the ingestion stand-in: "
                  f"{json.loads(ingest.stdout.readline())['items']}")
        print()
        _off_hooks_cost()
        _cold_start_cost(connection_string)
    finally:
        if ingest.stdin is not None:
            ingest.stdin.close()
        stop_server(ingest)  # type: ignore[arg-type]
        stop_server(provider_process)


if __name__ == "__main__":
    main()
