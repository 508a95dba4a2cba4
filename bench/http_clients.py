"""httpx.AsyncClient vs aiohttp.ClientSession on the proxy's hot path, side by side in one run.

A stand-in FHIR server (aiohttp, in a subprocess, TCP_NODELAY) serves a small Patient;
each client makes N sequential keep-alive GETs; the script prints the medians and the ratio.
This is the measurement behind the proxy's choice of aiohttp (gateway/outbound/transport.py).

    .venv/bin/python -m bench.http_clients [--requests 2000]
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
from typing import Any

PATIENT = json.dumps({"resourceType": "Patient", "id": "1", "name": [{"family": "Chau", "given": ["Hugh"]}],
                      "gender": "male", "birthDate": "1957-06-05"}).encode()


def search_bundle(base: str) -> bytes:
    """A 100-entry searchset whose links, full URLs and references are all on ``base`` (as a server writes them)."""
    return json.dumps({
        "resourceType": "Bundle", "type": "searchset", "total": 100,
        "link": [{"relation": "self", "url": f"{base}/Observation?patient=1&_count=100"},
                 {"relation": "next", "url": f"{base}?_getpages=x&_getpagesoffset=100"}],
        "entry": [{"fullUrl": f"{base}/Observation/{i}", "resource": {
            "resourceType": "Observation", "id": str(i), "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": f"{base}/Patient/1"}, "effectiveDateTime": "2020-01-01T00:00:00Z",
            "valueQuantity": {"value": 60 + i % 40, "unit": "/min", "system": "http://unitsofmeasure.org",
                              "code": "/min"}}, "search": {"mode": "match"}} for i in range(100)],
    }).encode()


def serve(port: int) -> None:
    """Run the stand-in server (used by both benchmarks): small reads, a 100-entry Bundle, slow reads.

    With ``port`` 0 the system picks the port; the Bundle is written once it is known, so that its URLs are
    on the server's own base (and the gateway rewrites every one of them, as with a real server).
    """
    from aiohttp import web

    bundle = b""
    media = "application/fhir+json;charset=UTF-8"

    async def small(request: web.Request) -> web.Response:
        return web.Response(body=PATIENT, content_type=None, headers={"Content-Type": media})

    async def search(request: web.Request) -> web.Response:
        return web.Response(body=bundle, headers={"Content-Type": media})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.1)
        return web.Response(body=PATIENT, headers={"Content-Type": media})

    app = web.Application()
    app.router.add_get("/stu3/Patient/{id}", small)
    app.router.add_get("/stu3/Observation", search)
    app.router.add_get("/slow/Patient/{id}", slow)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        nonlocal bundle
        bundle = search_bundle(f"http://127.0.0.1:{bound}/stu3")
        print(f"ready {bound}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_server(module: str, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start ``python -m module args`` and wait for its ``ready ...`` line."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if not line or line[0] != "ready":
        process.kill()
        raise RuntimeError(f"{module} did not start")
    return process, line[1:]


def stop_server(process: subprocess.Popen[Any]) -> None:
    """Stop a process the benchmarks started: SIGTERM (it stops what it started), SIGKILL after 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stdout is not None:
        process.stdout.close()


async def _aiohttp(url: str, n: int) -> list[float]:
    import aiohttp

    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            times.append(time.perf_counter() - started)
    return times


async def _httpx(url: str, n: int) -> list[float]:
    import httpx

    times = []
    async with httpx.AsyncClient() as client:
        for _ in range(n):
            started = time.perf_counter()
            response = await client.get(url)
            response.read()
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    process, (port,) = start_server("bench.http_clients", "--serve", "0")
    try:
        url = f"http://127.0.0.1:{port}/stu3/Patient/1"
        asyncio.run(_aiohttp(url, 200))  # warm up the server
        httpx_times = asyncio.run(_httpx(url, args.requests))
        aiohttp_times = asyncio.run(_aiohttp(url, args.requests))
    finally:
        stop_server(process)
    h, a = statistics.median(httpx_times) * 1000, statistics.median(aiohttp_times) * 1000
    print(f"{args.requests} sequential keep-alive GETs of a small FHIR resource (stand-in server in a subprocess)")
    print(f"  httpx.AsyncClient     median {h:.3f} ms")
    print(f"  aiohttp.ClientSession median {a:.3f} ms")
    print(f"  ratio httpx/aiohttp   {h / a:.2f}x")


if __name__ == "__main__":
    main()
