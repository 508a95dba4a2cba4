"""Per-request overhead of the local host: ``python -m devtools.funchost.bench [--requests N]``.

Two figures, both for a function that returns a fixed 2-byte response:

- in-process: the host's ASGI app (routing, key check, ``HttpRequest`` construction, response
  conversion, access log) against a bare ASGI app sending the same response, called directly;
- over sockets: sequential keep-alive requests to ``python -m devtools.funchost`` against the
  same bare app on the same uvicorn (uvloop + httptools), each in its own process.

Prints medians and the difference; no assertion (speed is measured here, not in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PING = '''import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(b"ok", mimetype="text/plain")
'''


def make_app(directory: Path) -> Path:
    (directory / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    for name, route in (("ping_fn", "fhir/{*path}"), ("meta_fn", "fhir/{document:regex(^metadata$)}"),
                        ("token_fn", "oauth2/{endpoint:regex(^(token|jwks)$)}")):
        (directory / name).mkdir()
        (directory / name / "__init__.py").write_text(PING)
        (directory / name / "function.json").write_text(json.dumps({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
             "methods": ["get", "post"], "route": route},
            {"type": "http", "direction": "out", "name": "$return"}]}))
    return directory


async def bare_app(scope, receive, send) -> None:  # noqa: ANN001 - ASGI
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _scope() -> dict:
    return {"type": "http", "method": "GET", "path": "/fhir/Patient/1", "raw_path": b"/fhir/Patient/1",
            "query_string": b"_format=json", "scheme": "http", "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 7071),
            "headers": [(b"host", b"localhost:7071"), (b"accept", b"application/fhir+json"),
                        (b"authorization", b"Bearer x"), (b"user-agent", b".NET FhirClient for FHIR 1.0.2")]}


async def _time_app(app, count: int) -> list[float]:  # noqa: ANN001 - ASGI
    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        return None

    samples = []
    for _ in range(count):
        scope = _scope()
        started = time.perf_counter()
        await app(scope, receive, send)
        samples.append(time.perf_counter() - started)
    return samples


def in_process(root: Path, count: int) -> tuple[float, float]:
    from .app import FunctionHost, Keys
    from .discovery import discover, install_app_package, load

    install_app_package(root)
    _, functions = discover(root, {})
    for function in functions:
        load(function, root)
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO)  # noqa: SIM115 - the log is part of the cost
    host = FunctionHost(functions, Keys(None, None))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_time_app(host, 500))
        loop.run_until_complete(_time_app(bare_app, 500))
        hosted = statistics.median(loop.run_until_complete(_time_app(host, count)))
        bare = statistics.median(loop.run_until_complete(_time_app(bare_app, count)))
    finally:
        loop.close()
    return hosted * 1000, bare * 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def over_sockets(command: list[str], port: int, count: int) -> float:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        _wait(port, process)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        samples = []
        for index in range(count + 500):
            started = time.perf_counter()
            connection.request("GET", "/fhir/Patient/1?_format=json", headers={"Accept": "application/fhir+json"})
            response = connection.getresponse()
            response.read()
            if index >= 500:
                samples.append(time.perf_counter() - started)
        connection.close()
        return statistics.median(samples) * 1000
    finally:
        process.terminate()
        process.wait(timeout=15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        import uvicorn

        uvicorn.run(bare_app, host="127.0.0.1", port=args.serve_bare, loop="uvloop", http="httptools",
                    lifespan="off", access_log=False, server_header=False, proxy_headers=False, log_level="warning")
        return 0
    with tempfile.TemporaryDirectory() as temp:
        root = make_app(Path(temp))
        hosted, bare = in_process(root, args.requests)
        print(f"in-process ASGI call, median of {args.requests}: host {hosted:.3f} ms, bare app {bare:.3f} ms, "
              f"host overhead {hosted - bare:.3f} ms")
        port = _free_port()
        host_ms = over_sockets([sys.executable, "-m", "devtools.funchost", "--root", str(root), "--port", str(port),
                                "--no-settings"], port, args.requests)
        port = _free_port()
        bare_ms = over_sockets([sys.executable, "-m", "devtools.funchost.bench", "--serve-bare", str(port)], port,
                               args.requests)
        print(f"HTTP keep-alive round trip, median of {args.requests}: host {host_ms:.3f} ms, "
              f"bare uvicorn app {bare_ms:.3f} ms, host overhead {host_ms - bare_ms:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
