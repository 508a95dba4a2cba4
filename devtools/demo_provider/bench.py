"""Figures for the demo provider: in-process routing + handler time, loopback round trips (prints only).

``python -m devtools.demo_provider.bench [-n 2000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from devtools.demo_provider.app import create_app, fhir_protocol
from devtools.demo_provider.server import running_provider

PID = "demo-patient-1"
BATCH = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
    {"request": {"method": "GET", "url": url}} for url in (
        f"Patient/{PID}", f"Encounter?patient={PID}", f"Observation?patient={PID}", f"MedicationRequest?patient={PID}",
        f"AllergyIntolerance?patient={PID}", f"Condition?patient={PID}")]})


def report(name: str, samples: list[float]) -> None:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:<58} median {statistics.median(samples) * 1000:7.3f} ms   p99 {p99 * 1000:7.3f} ms")


async def timed(n: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(min(50, n)):
        await call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def handle(request: web.Request) -> web.StreamResponse:
    """One request in-process: the router's match, then the FHIR middleware and the route's handler."""
    match_info = await request.app.router.resolve(request)
    match_info.add_app(request.app)
    request._match_info = match_info  # what aiohttp's server does before the middlewares
    return await fhir_protocol(request, match_info.handler)


async def main(n: int) -> None:
    app = create_app("http://127.0.0.1:8081")
    read = make_mocked_request("GET", f"/stu3/Patient/{PID}", app=app)
    search = make_mocked_request("GET", f"/stu3/Observation?patient={PID}&_sort=-date&category=vital-signs&_count=10",
                                 app=app)
    report("in-process handler: read Patient", await timed(n, lambda: handle(read)))
    report("in-process handler: Observation search (_count=10)", await timed(n, lambda: handle(search)))
    async with running_provider() as provider, aiohttp.ClientSession() as http:
        base = provider.fhir_base("STU3")

        async def get(url: str) -> None:
            async with http.get(url) as response:
                await response.read()

        async def post(url: str, body: str, content_type: str) -> None:
            async with http.post(url, data=body, headers={"Content-Type": content_type}) as response:
                await response.read()

        report("loopback round trip (aiohttp client): read Patient",
               await timed(n, lambda: get(f"{base}/Patient/{PID}")))
        report("loopback round trip: Observation search (_count=10)",
               await timed(n, lambda: get(f"{base}/Observation?patient={PID}&_sort=-date&_count=10")))
        report("loopback round trip: POST Patient/_search given=ruth",
               await timed(n, lambda: post(f"{base}/Patient/_search", "given=ruth",
                                           "application/x-www-form-urlencoded")))
        report("loopback round trip: 6-entry batch",
               await timed(max(n // 4, 1), lambda: post(base, BATCH, "application/fhir+json")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="requests per figure")
    asyncio.run(main(parser.parse_args().n))
