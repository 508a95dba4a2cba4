"""What the local host adds to a small read, runtime vs old emulation: ``python -m devtools.funchost.bench``.

The function answers ``GET /fhir/Patient/1?_format=json`` with a fixed 2-byte body. Two hosts serve it:

- **runtime**: this tree's host, which hands every invocation to ``azure-functions-runtime-v1``
  (``RpcHttp`` in, ``InvocationResponse`` out);
- **emulation**: the host as it was before, which built ``func.HttpRequest`` and encoded the response
  itself. It is taken from the git history (the parent of the commit that removed
  ``devtools/funchost/invoke.py``) into a temporary directory and run from there, unchanged.

Figures, both as medians of ``--requests`` samples:

- in-process: each host's ASGI app called directly, minus a bare ASGI app sending the same response
  (the host's own cost: routing, keys, request building, the invocation, response conversion, access log);
- over sockets: sequential keep-alive requests to each host and to the bare app on the same uvicorn
  (uvloop + httptools), each in its own process, *interleaved* request by request so that the machine's
  load falls on all three alike; the added latency is host minus bare.

Prints the figures side by side and the difference; no assertion (speed is measured here, not in tests).
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

REPO = Path(__file__).resolve().parents[2]
REMOVED_FILE = "devtools/funchost/invoke.py"  # the emulation's request building and response encoding
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


def _runtime_host(root: Path):  # noqa: ANN202 - a FunctionHost
    from .app import FunctionHost, Keys
    from .discovery import discover, put_app_on_path
    from .server import load_functions
    from .worker import get_worker

    put_app_on_path(root)
    _, functions = discover(root, {})
    asyncio.run(load_functions(get_worker(), functions, root))
    return FunctionHost(functions, Keys(None, None))


def in_process(root: Path, count: int) -> tuple[float, float]:
    """Median ms of this tree's host app and of the bare app, called in-process, interleaved in blocks."""
    host = _runtime_host(root)
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO)  # noqa: SIM115 - the log is part of the cost
    logging.getLogger("azure").setLevel(logging.WARNING)  # as the host sets it (the runtime logs each call at INFO)
    loop = asyncio.new_event_loop()
    hosted: list[float] = []
    bare: list[float] = []
    try:
        loop.run_until_complete(_time_app(host, 500))
        loop.run_until_complete(_time_app(bare_app, 500))
        block = max(count // 10, 1)
        for _ in range(10):
            hosted += loop.run_until_complete(_time_app(host, block))
            bare += loop.run_until_complete(_time_app(bare_app, block))
    finally:
        loop.close()
    return statistics.median(hosted) * 1000, statistics.median(bare) * 1000


# The emulation's own in-process measurement, run by an interpreter whose devtools package is the old tree.
_OLD_IN_PROCESS = """
import json, sys
from pathlib import Path
from devtools.funchost.bench import in_process
hosted, bare = in_process(Path(sys.argv[1]), int(sys.argv[2]))
print(json.dumps([hosted, bare]))
"""


def previous_tree(destination: Path) -> str | None:
    """Extract the host as it was before the runtime into ``destination``; its commit, or None without git."""
    try:
        removed = subprocess.run(["git", "rev-list", "-1", "HEAD", "--", REMOVED_FILE], cwd=REPO, check=True,
                                 capture_output=True, text=True).stdout.strip()
        if not removed:
            return None
        before = f"{removed}^"
        archive = subprocess.run(["git", "archive", before, "devtools/__init__.py", "devtools/funchost"], cwd=REPO,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
        return subprocess.run(["git", "rev-parse", "--short", before], cwd=REPO, check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _connect(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _get(connection: http.client.HTTPConnection) -> float:
    started = time.perf_counter()
    connection.request("GET", "/fhir/Patient/1?_format=json", headers={"Accept": "application/fhir+json"})
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200 or body != b"ok":
        raise RuntimeError(f"unexpected answer {response.status} {body[:80]!r}")
    return elapsed


def over_sockets(servers: dict[str, tuple[list[str], Path]], count: int) -> dict[str, float]:
    """Median ms per server; one request to each in turn, ``count`` rounds after 500 of warm-up."""
    processes, connections = [], {}
    try:
        for name, (command, cwd) in servers.items():
            port = _free_port()
            process = subprocess.Popen([*command, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd)})
            processes.append(process)
            _wait(port, process)
            connections[name] = _connect(port)
        samples: dict[str, list[float]] = {name: [] for name in servers}
        for index in range(count + 500):
            for name, connection in connections.items():
                elapsed = _get(connection)
                if index >= 500:
                    samples[name].append(elapsed)
        return {name: statistics.median(values) * 1000 for name, values in samples.items()}
    finally:
        for connection in connections.values():
            connection.close()
        for process in processes:
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
    from azure_functions_runtime_v1.version import VERSION

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp) / "app"
        root.mkdir()
        make_app(root)
        old = Path(temp) / "before"
        old.mkdir()
        commit = previous_tree(old)
        print(f"small read: GET /fhir/Patient/1 -> 2 bytes; median of {args.requests}; "
              f"runtime = azure-functions-runtime-v1 {VERSION} on Python {sys.version.split()[0]}; "
              f"emulation = the host at {commit or '(not found: no git history)'}")
        hosted, bare = in_process(root, args.requests)
        rows = [("in-process ASGI call", "runtime", hosted - bare, hosted)]
        if commit:
            output = subprocess.run([sys.executable, "-c", _OLD_IN_PROCESS, str(root), str(args.requests)], cwd=old,
                                    env={**os.environ, "PYTHONPATH": str(old)}, check=True, capture_output=True,
                                    text=True).stdout
            old_hosted, old_bare = json.loads(output.strip().splitlines()[-1])
            rows.append(("in-process ASGI call", "emulation", old_hosted - old_bare, old_hosted))
        host_args = ["-m", "devtools.funchost", "--root", str(root), "--no-settings", "--port"]
        servers = {"bare": ([sys.executable, "-m", "devtools.funchost.bench", "--serve-bare"], REPO),
                   "runtime": ([sys.executable, *host_args], REPO)}
        if commit:
            servers["emulation"] = ([sys.executable, *host_args], old)
        medians = over_sockets(servers, args.requests)
        for name in ("runtime", "emulation"):
            if name in medians:
                rows.append(("HTTP keep-alive round trip", name, medians[name] - medians["bare"], medians[name]))
        print(f"bare uvicorn app round trip: {medians['bare']:.3f} ms")
        print(f"{'measure':<28} {'host':<10} {'added ms':>9} {'total ms':>9}")
        for measure, host, added, total in rows:
            print(f"{measure:<28} {host:<10} {added:>9.3f} {total:>9.3f}")
        for measure in ("in-process ASGI call", "HTTP keep-alive round trip"):
            found = {host: added for m, host, added, _ in rows if m == measure}
            if len(found) == 2:
                print(f"{measure}: the runtime adds {found['runtime'] - found['emulation']:+.3f} ms "
                      "to a small read compared with the emulation (budget: +0.200 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
