"""``python -m bench.cold_start [--rounds 5]``: a fresh worker's cold start, function by function, beside the
Functions floor (a function that imports only ``azure.functions``).

Two figures per function, each the median of ``--rounds`` fresh processes:

- **import**: the function module's import in a fresh interpreter that has already imported what the Functions
  runtime loads before any function (``azure.functions``, ``azure_functions_runtime_v1``), and that figure
  above the floor's;
- **first 200**: process start → the first 200 answer, through the local host (``devtools.funchost``:
  Microsoft's Python Functions runtime) serving that one function on Azurite and the Key Vault emulator,
  the way the other benchmarks start it. The client polls from the moment the process is started, so the
  figure holds the interpreter's start, the host's and the runtime's start, the function's load, and the
  first request: the worker's stores opened (``build_services``: no store call, the Key Vault clients made)
  and what that request reads. Printed in two parts: until the host accepts connections (the function
  loaded), and the request.

The requests: metadata ``GET /fhir/metadata``; token ``POST /oauth2/token`` (client_secret_post; the first
token reads the client id index, the client, its verifier in Key Vault, the route, and the signing keys: their
index and the active key); a proxied read ``GET /fhir/Patient/1`` with a token minted beforehand (the
signing keys, the client and the route read, a stand-in provider answering); admin ``GET /manage/routes``
(function key; a Table query). The hosts are interleaved round by round, each starting cold; Azurite and the
emulator stay up (warm, as Azure's are). Python's bytecode of the gateway is cached (``PYTHONPYCACHEPREFIX``
in a temporary directory, warmed by one start of each host first): the figures are those of a deployment
whose modules are compiled.

Targets on this machine (printed beside the figures, never asserted): every function's import at most 60 ms
above the floor's; the first token and the first proxied read each within 400 ms of process start.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.baseline import REPO
from bench.http_clients import stop_server
from bench.proxy_bench import HEADERS, TENANT, seeded_stack

IMPORT_TARGET_MS = 60.0
FIRST_ANSWER_TARGET_MS = 400.0
FUNCTION_KEY = "cold-start-bench-function-key"
FLOOR_FUNCTION = '''"""The Functions floor: a function that imports only azure.functions."""
import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(b"ok", mimetype="text/plain")
'''
FLOOR_BINDINGS = {"bindings": [
    {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "methods": ["get"],
     "route": "floor"},
    {"type": "http", "direction": "out", "name": "$return"}]}


@dataclass(frozen=True)
class Case:
    """One function: its folder, and the request its first answer is timed with."""

    label: str
    folder: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


def cases(token: str, secret_form: dict[str, str]) -> list[Case]:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return [
        Case("floor", "floor_fn", "GET", "/floor", {}),
        Case("metadata", "fhir_metadata_fn", "GET", "/fhir/metadata", {"Accept": "application/fhir+json"}),
        Case("token", "token_fn", "POST", "/oauth2/token", form, urlencode(secret_form).encode()),
        Case("proxied read", "fhir_proxy_fn", "GET", "/fhir/Patient/1",
             {**HEADERS, "Authorization": f"Bearer {token}"}),
        Case("admin", "admin_fn", "GET", "/manage/routes", {"x-functions-key": FUNCTION_KEY}),
    ]


def app_of(case: Case, root: Path) -> Path:
    """A function app serving ``case``'s function alone (the repository's folder linked in)."""
    app = root / case.folder
    app.mkdir()
    (app / "host.json").write_text((REPO / "host.json").read_text())
    if case.folder == "floor_fn":
        (app / "floor_fn").mkdir()
        (app / "floor_fn" / "__init__.py").write_text(FLOOR_FUNCTION)
        (app / "floor_fn" / "function.json").write_text(json.dumps(FLOOR_BINDINGS))
    else:
        (app / case.folder).symlink_to(REPO / case.folder, target_is_directory=True)
    return app


def child_env(env: dict[str, str], pycache: Path) -> dict[str, str]:
    out = {**os.environ, **env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "FUNCTIONS_WORKER_RUNTIME": "python",
           "LOCAL_FUNCTION_KEY": FUNCTION_KEY, "PYTHONPYCACHEPREFIX": str(pycache)}
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def import_ms(case: Case, app: Path, env: dict[str, str]) -> float:
    """The function module's import in a fresh interpreter, after the runtime's own modules."""
    code = ("import time, importlib, azure.functions, azure_functions_runtime_v1\n"
            f"t = time.perf_counter(); importlib.import_module({case.folder!r})\n"
            "print((time.perf_counter() - t) * 1000)")
    out = subprocess.run([sys.executable, "-c", code], cwd=app, env={**env, "PYTHONPATH": f"{REPO}{os.pathsep}{app}"},
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def first_answer_ms(case: Case, app: Path, env: dict[str, str]) -> tuple[float, float]:
    """(process start → the host accepts connections, process start → the first 200), in ms."""
    from devtools.azurite import free_port

    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.funchost", "--root", str(app), "--port", str(port), "--no-settings"],
        cwd=app, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    listening = None
    try:
        while time.perf_counter() - started < 60:
            if process.poll() is not None:
                raise SystemExit(f"the host serving {case.folder} exited with {process.returncode}")
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            except OSError:
                time.sleep(0.002)
                continue
            listening = listening or time.perf_counter()
            sock.settimeout(30)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.sock = sock
            connection.request(case.method, case.path, body=case.body or None, headers=case.headers)
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            if response.status != 200:
                raise SystemExit(f"{case.label}: the first answer is {response.status}: {payload[:200]!r}")
            return (listening - started) * 1000, (time.perf_counter() - started) * 1000
        raise SystemExit(f"the host serving {case.folder} did not answer within 60 s")
    finally:
        stop_server(process)


async def _seed_client(settings) -> dict[str, str]:  # noqa: ANN001
    """A client with a secret, allowed every tenant (the token request's credentials)."""
    from gateway.services import build_services
    from tests.unit.oauth.helpers import add_client

    services = await build_services(settings)
    try:
        secret = await add_client(services, "cold-start-bench", tenants=("*",))
    finally:
        await services.aclose()
    return {"grant_type": "client_credentials", "client_id": "cold-start-bench", "client_secret": secret,
            "scope": TENANT}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per function and figure")
    args = parser.parse_args()
    from gateway.config import Settings

    with seeded_stack("cold") as (_provider, env, tokens), tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        form = asyncio.run(_seed_client(Settings.from_mapping(env)))
        selected = cases(tokens["azure"][1], form)
        apps = {case.label: app_of(case, root) for case in selected}
        child = child_env(env, root / "pycache")
        for case in selected:  # compile the bytecode, warm the file cache: not measured
            first_answer_ms(case, apps[case.label], child)
        imports: dict[str, list[float]] = {case.label: [] for case in selected}
        answers: dict[str, list[tuple[float, float]]] = {case.label: [] for case in selected}
        for _ in range(args.rounds):
            for case in selected:
                imports[case.label].append(import_ms(case, apps[case.label], child))
                answers[case.label].append(first_answer_ms(case, apps[case.label], child))
        report(selected, imports, answers, args.rounds)
        shutil.rmtree(root / "pycache", ignore_errors=True)


def report(selected: list[Case], imports: dict[str, list[float]], answers: dict[str, list[tuple[float, float]]],
           rounds: int) -> None:
    floor_import = statistics.median(imports["floor"])
    floor_first = statistics.median(total for _, total in answers["floor"])
    print(f"cold start of a fresh worker per function, medians of {rounds} fresh processes (ms); targets: import "
          f"<= {IMPORT_TARGET_MS:.0f} above the floor, first token and first proxied read <= "
          f"{FIRST_ANSWER_TARGET_MS:.0f}")
    print(f"{'function':<14} {'import':>8} {'above floor':>12} {'host up':>9} {'first 200':>10} "
          f"{'request':>8} {'above floor':>12}")
    for case in selected:
        imported = statistics.median(imports[case.label])
        up = statistics.median(listening for listening, _ in answers[case.label])
        first = statistics.median(total for _, total in answers[case.label])
        request = statistics.median(total - listening for listening, total in answers[case.label])
        mark = ""
        if case.label != "floor" and imported - floor_import > IMPORT_TARGET_MS:
            mark += "  import over target"
        if case.label in ("token", "proxied read") and first > FIRST_ANSWER_TARGET_MS:
            mark += "  first 200 over target"
        print(f"{case.label:<14} {imported:8.1f} {imported - floor_import:+12.1f} {up:9.0f} {first:10.0f} "
              f"{request:8.0f} {first - floor_first:+12.0f}{mark}")


if __name__ == "__main__":
    main()
