"""``python -m bench`` (``make bench``): every benchmark in bench/, one after another; each prints its figures.

    .venv/bin/python -m bench                    # all of them, in the order below
    .venv/bin/python -m bench load [ARGS...]     # just the load run, ARGS passed on (e.g. --quick)
    .venv/bin/python -m bench token_bench proxy_bench   # the named ones, with their defaults
    .venv/bin/python -m bench --list

Each benchmark runs as ``python -m bench.<name>`` in its own interpreter (each starts and stops
its own services), so one that fails does not stop the others; the exit status is non-zero when
any failed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 60

# name: what it measures (each module's own docstring has the details and its flags).
BENCHMARKS = {
    "host_bench": "local host: added latency of a small read, Functions runtime vs the old in-process emulation",
    "token_bench": "token service: ES256 vs RS256, in-process tokens/s, latency through the local host",
    "proxy_bench": "proxy overhead: direct vs through the gateway (read, 100-entry Bundle, 50 slow reads)",
    "hop_floor": "small read: direct vs a bare proxy hop vs a forwarding function on the local host vs the gateway",
    "proxy_stages": "a proxied small read inside the worker, stage by stage (checks, transport, access line)",
    "entry_bench": "the entry adapter's cost per request: the proxy handler alone vs the FHIR surface, in-process",
    "cold_start": "a fresh worker per function: import time and process start to first 200, beside the floor",
    "client_auth_timing": "token endpoint: known client's wrong secret vs unknown client id, side by side",
    "telemetry_bench": "telemetry's cost on the proxy's added latency: off vs exporting (default and full sampling)",
    "client_assertion_bench": "token endpoint: private_key_jwt (RS384, ES384; warm JWKS cache) vs secret-based",
    "provider_assertion_bench": "privateKeyJwt routes: assertion signing (memory, Key Vault emulator), reads",
    "response_policy": "provider answers made safe: link rewriting and header policy on a 100-entry Bundle",
    "conversion_bench": "FHIR version conversion of a 100-entry R4 searchset (STU3, DSTU2) beside a passthrough",
    "scope_check_bench": "SMART scope check per request (reads, searches, includes, chains, batch); table loads",
    "http_clients": "httpx vs aiohttp on the proxy's hot path",
    "table_stores": "Table Storage stores on Azurite: per-operation latency",
    "scale_bench": "store calls per operation at 1,000-50,000 clients: cold starts, unknown ids, forged kids",
    "load": "load run: mixed workload at 50 clients, provider ceiling, memory with 10,000 routes",
}


def run(name: str, args: list[str]) -> int:
    print(f"\n=== bench.{name}: {BENCHMARKS[name]} ===", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", f"bench.{name}", *args], cwd=ROOT)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # Ctrl-C: let the benchmark stop what it started (never SIGKILL it mid-cleanup, as subprocess.call would).
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(STOP_SECONDS)
        raise
    print(f"=== bench.{name}: exit {code} after {time.perf_counter() - started:.0f} s ===", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv and argv[0] == "--list":
        for name, what in BENCHMARKS.items():
            print(f"{name:<14} {what}")
        return 0
    names = [a for a in argv if not a.startswith("-")]
    unknown = [n for n in names if n not in BENCHMARKS]
    if argv and argv[0] not in BENCHMARKS:
        print(f"unknown benchmark {argv[0]!r}; choose from {', '.join(BENCHMARKS)} (--list)", file=sys.stderr)
        return 2
    if not argv:
        selected = [(name, []) for name in BENCHMARKS]
    elif len(names) == len(argv) and not unknown:
        selected = [(name, []) for name in names]  # several names, default flags
    else:
        selected = [(argv[0], argv[1:])]  # one benchmark with its own flags
    try:
        failed = [name for name, args in selected if run(name, args) != 0]
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    if len(selected) > 1:
        print(f"\nbenchmarks run: {', '.join(n for n, _ in selected)}; "
              f"{'failed: ' + ', '.join(failed) if failed else 'all exited 0'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
