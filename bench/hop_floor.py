"""Where a small read's added latency goes: the floor of the stack the gateway runs on, side by side in one run.

Four routes to the same stand-in provider (``bench.http_clients``, a subprocess), one request to each in turn
(the order rotating every round, so that the machine's load falls on all alike):

- **direct**: the client to the provider;
- **proxy hop**: a bare ASGI app on uvicorn (uvloop + httptools, the response in one write, as the local host
  serves) forwarding with one aiohttp session: the least a Python proxy adds on this machine;
- **Functions floor**: the local host (``devtools.funchost``, Microsoft's Python Functions runtime) serving one
  function that forwards with one aiohttp session and returns the body: what hosting on Functions adds
  before any gateway code runs;
- **gateway**: the local host serving ``fhir_proxy_fn`` on Azurite and the Key Vault emulator with a real
  token: every check, the link rewriting, the header policy and the access line.

Prints each route's median and the median it adds to the direct call, then the gateway's share above the
Functions floor: the part of the added latency the gateway's own code decides. No target is asserted here.
Four servers share the machine's CPUs in that run; ``--only floor`` (or ``hop``, ``gateway``) measures one
beside the direct call, as ``bench.proxy_bench`` measures the gateway.

    .venv/bin/python -m bench.hop_floor [--requests 2000] [--only hop|floor|gateway ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.baseline import REPO, START_SECONDS, BaselineHost
from bench.http_clients import stop_server
from bench.proxy_bench import HEADERS, _p99, _timed_get, seeded_stack

FORWARDING_FUNCTION = '''"""The least a function does to proxy a read: forward it with one aiohttp session."""
import os

import aiohttp
import azure.functions as func

_session = None


async def main(req: func.HttpRequest) -> func.HttpResponse:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession()
    url = os.environ["FLOOR_PROVIDER"] + "/stu3/" + req.route_params["path"]
    async with _session.get(url, headers={"Accept": req.headers.get("accept", "*/*")}) as upstream:
        body = await upstream.read()
        return func.HttpResponse(body, status_code=upstream.status,
                                 headers={"Content-Type": upstream.headers.get("Content-Type", "")})
'''


def forwarding_app(provider: str) -> Callable:
    """The bare proxy hop: an ASGI app forwarding ``GET /fhir/<path>`` to ``provider``/stu3/<path>."""
    session = None

    async def app(scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        nonlocal session
        if scope["type"] != "http":
            return
        import aiohttp

        await receive()
        if session is None:
            session = aiohttp.ClientSession()
        query = scope["query_string"].decode("latin-1")
        url = f"{provider}/stu3/{scope['path'][len('/fhir/'):]}" + (f"?{query}" if query else "")
        async with session.get(url, headers={"Accept": "application/fhir+json"}) as upstream:
            body = await upstream.read()
            headers = [(b"content-type", upstream.headers.get("Content-Type", "").encode("latin-1")),
                       (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    return app


def serve_bare(port: int, provider: str) -> None:
    import uvicorn

    from devtools.funchost.segments import OneWriteProtocol

    uvicorn.run(forwarding_app(provider), host="127.0.0.1", port=port, loop="uvloop", http=OneWriteProtocol,
                lifespan="off", access_log=False, server_header=False, proxy_headers=False, log_level="warning")


def make_floor_app(root: Path) -> Path:
    """A function app with one anonymous ``fhir/{*path}`` function that only forwards."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    folder = root / "forward_fn"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(FORWARDING_FUNCTION)
    (folder / "function.json").write_text(json.dumps({"bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "methods": ["get"],
         "route": "fhir/{*path}"},
        {"type": "http", "direction": "out", "name": "$return"}]}))
    return root


def _start(command: list[str], cwd: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    import socket
    import time

    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{' '.join(command[:3])} did not start")


async def _measure(routes: dict[str, tuple[str, dict[str, str]]], rounds: int) -> dict[str, list[float]]:
    """``routes``: label -> (URL, headers); one request to each per round, the order rotating."""
    import aiohttp

    labels = list(routes)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    async with aiohttp.ClientSession() as session:
        for _ in range(200):  # warm every path: connections, caches, keys
            for url, headers in routes.values():
                await _timed_get(session, url, headers)
        for index in range(rounds):
            shift = index % len(labels)
            for label in labels[shift:] + labels[:shift]:
                url, headers = routes[label]
                samples[label].append(await _timed_get(session, url, headers))
    return samples


def report(samples: dict[str, list[float]]) -> None:
    direct = statistics.median(samples["direct"]) * 1000
    print(f"{'route':<62} {'median':>9} {'added':>9} {'p99':>9}")
    for label, values in samples.items():
        median = statistics.median(values) * 1000
        added = "" if label == "direct" else f"{median - direct:+8.3f}"
        print(f"{label:<62} {median:>7.3f}ms {added:>7}{'ms' if added else '  '} {_p99(values) * 1000:>7.3f}ms")
    medians = {label: statistics.median(values) * 1000 for label, values in samples.items()}
    if HOP in medians and FLOOR in medians:
        print(f"the Functions host and runtime above a bare proxy hop: {medians[FLOOR] - medians[HOP]:+.3f} ms")
    if FLOOR in medians and GATEWAY in medians:
        print(f"the gateway's share above the Functions floor (checks, rewriting, headers, access line, conversions): "
              f"{medians[GATEWAY] - medians[FLOOR]:+.3f} ms")


HOP = "proxy hop (uvicorn + one aiohttp session)"
FLOOR = "Functions floor (local host + runtime, a forwarding function)"
GATEWAY = "gateway (local host, fhir_proxy_fn)"
ROUTES = ("hop", "floor", "gateway")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="rounds (one request to each route per round)")
    parser.add_argument("--only", action="append", choices=ROUTES,
                        help="measure only this route beside the direct call (repeatable; default: all three). "
                             "One server at a time is how bench.proxy_bench measures the gateway")
    parser.add_argument("--serve-bare", nargs=2, metavar=("PORT", "PROVIDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(int(args.serve_bare[0]), args.serve_bare[1])
        return

    from devtools.azurite import free_port

    chosen = args.only or list(ROUTES)
    processes: list[subprocess.Popen[bytes]] = []
    gateway = None
    with seeded_stack("floor") as (provider, env, tokens), tempfile.TemporaryDirectory() as temp:
        try:
            routes = {"direct": (f"{provider}/stu3/Patient/1", HEADERS)}
            if "hop" in chosen:
                port = free_port()
                processes.append(_start([sys.executable, "-m", "bench.hop_floor", "--serve-bare", str(port),
                                         provider], REPO, {"PYTHONPATH": str(REPO)}, port))
                routes[HOP] = (f"http://127.0.0.1:{port}/fhir/Patient/1", HEADERS)
            if "floor" in chosen:
                port, root = free_port(), make_floor_app(Path(temp) / "floor")
                processes.append(_start([sys.executable, "-m", "devtools.funchost", "--root", str(root), "--port",
                                         str(port), "--no-settings"], root,
                                        {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "FLOOR_PROVIDER": provider,
                                         "FUNCTIONS_WORKER_RUNTIME": "python"}, port))
                routes[FLOOR] = (f"http://127.0.0.1:{port}/fhir/Patient/1", HEADERS)
            if "gateway" in chosen:
                gateway = BaselineHost(REPO, env).start()
                routes[GATEWAY] = (f"{gateway.base_url}/fhir/Patient/1",
                                   {**HEADERS, "Authorization": f"Bearer {tokens['azure'][1]}"})
            print(f"small read (GET Patient/1): median of {args.requests} rounds, one request to each route in turn")
            report(asyncio.run(_measure(routes, args.requests)))
        finally:
            for process in processes:
                stop_server(process)
            if gateway is not None:
                gateway.close()

if __name__ == "__main__":
    main()
