"""Token service benchmark: prints figures, asserts nothing.

1. Algorithm figures: ES256 vs RS256-2048 signing and verifying (pyjwt + cryptography), per token.
2. In-process: tokens per second on one core through ``gateway.oauth.endpoint.OAuthEndpoints.respond`` (form parsing,
   client authentication, scope, signing, JSON) with warm caches on the in-memory stores.
3. Through the local host: median and p99 latency of ``POST /oauth2/token`` over a keep-alive loopback
   socket to ``devtools.funchost`` serving token_fn, backed by real Azurite + the Key Vault emulator
   (warm caches: after the first request nothing touches a store); before and after: a second host
   serving the gateway as it was before the hot path was sped up (``bench.baseline``), interleaved
   request by request, medians side by side.

Run: ``.venv/bin/python -m bench.token_bench [--requests 2000] [--skip-host] [--before REV | --no-before]``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import Settings  # noqa: E402
from gateway.services import build_services, memory_services  # noqa: E402
from tests.support.constants import CLIENT_ID, TENANT  # noqa: E402
from tests.support.oauth import post_form, token_request  # noqa: E402
from tests.support.surfaces import respond  # noqa: E402
from tests.unit.oauth.helpers import add_client, add_route  # noqa: E402


def algorithms(rounds: int = 2000) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    claims = {"iss": "https://gw.example.org", "aud": "https://gw.example.org/fhir", "sub": CLIENT_ID,
              "client_id": CLIENT_ID, "scope": TENANT, "tid": TENANT, "iat": 1, "nbf": 1, "exp": 4102444800,
              "jti": "x" * 22}
    print("algorithm   sign (us)   verify (us)   sign+verify (us)")
    for name, key in (("ES256", ec.generate_private_key(ec.SECP256R1())),
                      ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))):
        start = time.perf_counter()
        for _ in range(rounds):
            token = jwt.encode(claims, key, algorithm=name, headers={"kid": "k", "typ": "at+jwt"})
        sign = (time.perf_counter() - start) / rounds * 1e6
        public = key.public_key()
        start = time.perf_counter()
        for _ in range(rounds):
            jwt.decode(token, public, algorithms=[name], audience=claims["aud"])
        verify = (time.perf_counter() - start) / rounds * 1e6
        print(f"{name:<10} {sign:9.1f}   {verify:11.1f}   {sign + verify:16.1f}   token {len(token)} bytes")


async def in_process(requests: int) -> None:
    services = memory_services(Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development"}))
    await add_route(services)
    secret = await add_client(services)
    request = token_request(post_form(CLIENT_ID, secret))
    for _ in range(200):  # warm every cache
        assert (await respond(request, services)).status == 200
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        await respond(request, services)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"in-process: {requests} tokens in {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU on one core "
          f"-> {requests / cpu:,.0f} tokens/s/core ({wall / requests * 1e6:.0f} us per token)")


def in_process_before(requests: int, before: str | None) -> None:
    """The in-process figure of the baseline's gateway (``bench.baseline``), in its own interpreter from its tree."""
    from bench.baseline import baseline_commit, baseline_tree

    commit = baseline_commit(before)
    root = baseline_tree(commit)
    try:
        print(f"before {commit}: ", end="", flush=True)
        code = f"import asyncio, bench.token_bench as b; asyncio.run(b.in_process({requests}))"
        subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("after (this tree): ", end="", flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(conn: http.client.HTTPConnection, host: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            conn.request("GET", "/fhir/metadata")
            conn.getresponse().read()
            return
        except OSError:
            conn.close()
            if time.monotonic() > deadline or (host is not None and host.poll() is not None):
                raise SystemExit("the local host did not start") from None
            time.sleep(0.2)


def _token_request(conn: http.client.HTTPConnection, body: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    conn.request("POST", "/oauth2/token", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise SystemExit(f"token request failed: {response.status} {payload[:200]!r}")
    json.loads(payload)
    return elapsed * 1000


def through_host(requests: int, before: str | None = None, compare: bool = True) -> None:
    """Latency through the local host; with ``compare``, this tree's host and the baseline's, interleaved."""
    from bench.baseline import BaselineHost, baseline_commit, baseline_tree
    from bench.http_clients import stop_server
    from devtools.azurite import AzuriteProcess
    from tests.fixtures.keyvault import KeyVaultEmulator

    with tempfile.TemporaryDirectory() as tmp:
        azurite = AzuriteProcess(free_port(), Path(tmp) / "azurite", in_memory=True)
        vault = KeyVaultEmulator(Path(tmp) / "keyvault")
        host = baseline = None
        baseline_root = None
        try:
            azurite.start()
            vault.start()
            port = free_port()
            env_settings = {
                "GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                "TABLES_CONNECTION_STRING": azurite.connection_string, **vault.settings(),
                "TABLE_NAME_PREFIX": "bench", "KEY_VAULT_SECRET_PREFIX": "bench",
            }
            settings = Settings.from_mapping(env_settings)

            async def seed() -> str:
                services = await build_services(settings, create_tables=True)
                try:
                    await services.admin_api.deployment.ensure()
                    await add_route(services)
                    return await add_client(services)
                finally:
                    await services.aclose()

            secret = asyncio.run(seed())
            env = {**os.environ, **env_settings, "FUNCTIONS_WORKER_RUNTIME": "python"}
            host = subprocess.Popen(
                [sys.executable, "-m", "devtools.funchost", "--root", str(ROOT), "--port", str(port),
                 "--no-settings"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            conns = {"this tree": http.client.HTTPConnection("127.0.0.1", port, timeout=10)}
            _wait_for(conns["this tree"], host)
            if compare:
                commit = baseline_commit(before)
                baseline_root = baseline_tree(commit)
                baseline = BaselineHost(baseline_root, env_settings).start()
                conns = {f"before {commit}": http.client.HTTPConnection("127.0.0.1", baseline.port, timeout=10),
                         "after (this tree)": conns["this tree"]}
                _wait_for(conns[f"before {commit}"], None)
            body = urlencode(post_form(CLIENT_ID, secret))
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            samples: dict[str, list[float]] = {label: [] for label in conns}
            for n in range(requests + 100):
                order = list(conns.items())
                for label, conn in order if n % 2 else reversed(order):  # neither host always goes first
                    elapsed = _token_request(conn, body, headers)
                    if n >= 100:  # the first 100 warm the caches
                        samples[label].append(elapsed)
            print(f"through the local host (Azurite + Key Vault emulator, warm caches, keep-alive, "
                  f"{len(conns)} host(s) interleaved): {requests} requests each")
            for label, values in samples.items():
                values.sort()
                p99 = values[int(len(values) * 0.99) - 1]
                print(f"  {label:<20} median {statistics.median(values):.3f} ms, p99 {p99:.2f} ms, "
                      f"max {values[-1]:.2f} ms")
            if len(samples) > 1:
                (before_label, old), (after_label, new) = samples.items()
                print(f"token request median through the local host: {statistics.median(old):.3f} ms "
                      f"({before_label}) -> {statistics.median(new):.3f} ms ({after_label})")
            for conn in conns.values():
                conn.close()
        finally:
            if host is not None:
                stop_server(host)
            if baseline is not None:
                baseline.close()
            if baseline_root is not None:
                shutil.rmtree(baseline_root, ignore_errors=True)
            vault.stop()
            azurite.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--skip-host", action="store_true")
    parser.add_argument("--before", metavar="REV", help="the baseline commit (default: bench.baseline's)")
    parser.add_argument("--no-before", action="store_true", help="through this tree's host only")
    args = parser.parse_args()
    algorithms()
    if not args.no_before:
        in_process_before(args.requests * 2, args.before)
    asyncio.run(in_process(args.requests * 2))
    if not args.skip_host:
        through_host(args.requests, args.before, compare=not args.no_before)


if __name__ == "__main__":
    main()
