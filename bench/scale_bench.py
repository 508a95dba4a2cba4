"""Scale benchmark: store calls per operation at 1,000 to 50,000 clients and 10,000 routes; prints figures.

Counts every Table Storage call (a counting proxy in front of Azurite: ``devtools.azurite_meter``) and every
Key Vault call (the emulator's own counts: ``devtools.keyvault_emulator.meter``) per operation, and prints for
each number of clients:

- a cold worker's first token request (a known client) and first proxied read: latency, calls;
- steady calls per token and per read (warm worker, virtual clock, tenants drawn from a Zipf law);
- a stream of unknown client ids (10 a second for 20 s, each from a new address) beside a legitimate client:
  calls, entities read, the worker's CPU and the legitimate p95;
- a stream of access tokens under forged, well-formed ``kid`` s (5 a second for 20 s): calls, CPU;
- Key Vault throttled to 200 calls per 10 s (one worker's share of a 20-worker fleet at Key Vault's 4,000 per
  10 s): a cold worker's first token.

Clients and routes are seeded in the shape the admin API writes them (``bench.scale_stack``); each scenario runs
in a fresh interpreter (``bench.scale_scenarios``), a cold worker. Counts are exact and the same on any machine;
``tests/load/test_scale_counts.py`` asserts them at 2,000 clients.

Run: ``.venv/bin/python -m bench.scale_bench [--sizes 1000,10000,50000] [--routes 10000] [--stream-seconds 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale_stack import Counters, ScaleStack, tenant_of  # noqa: E402

THROTTLED_CALLS = 200
THROTTLED_SECONDS = 10.0
WORKER_SECONDS = 600


# -- workers (fresh interpreters) ----------------------------------------------------------------------------
def run_worker(scenario: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run ``scenario`` in a fresh interpreter (a cold worker); its figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(arguments, handle)
    try:
        done = subprocess.run([sys.executable, "-m", "bench.scale_bench", "--worker", scenario, handle.name],
                              cwd=ROOT, capture_output=True, text=True, check=False, timeout=WORKER_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"  (worker {scenario} did not finish within {WORKER_SECONDS} s)", flush=True)
        return {"error": f"did not finish within {WORKER_SECONDS} s"}
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line[:1].isalpha() and ":" in line]
        last = ([line for line in lines if "Error" in line.split(":")[0]] or lines or ["(no output)"])[-1]
        print(f"  (worker {scenario} failed: {last[:300]})", flush=True)
        return {"error": last[:300]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def worker_main(scenario: str, path: str) -> None:
    from bench import scale_scenarios as s

    arguments = json.loads(Path(path).read_text())
    settings, counters = arguments.pop("settings"), Counters(**arguments.pop("counters"))
    legit = [tuple(pair) for pair in arguments.pop("legit")]
    runs = {
        "cold_token": lambda: s.cold_token(settings, counters, *legit[0]),
        "cold_read": lambda: s.cold_read(settings, counters, arguments["token"]),
        "steady_token": lambda: s.steady(settings, counters, legit, arguments["routes"], "token"),
        "steady_read": lambda: s.steady(settings, counters, legit, arguments["routes"], "read"),
        "unknown_ids": lambda: s.unknown_ids(settings, counters, legit[0], seconds=arguments["seconds"]),
        "forged_kids": lambda: s.forged_kids(settings, counters, arguments["token"], seconds=arguments["seconds"]),
        "issue": lambda: s.issue(settings, legit[0][0], [tenant_of(0)]),
    }
    print(json.dumps(asyncio.run(runs[scenario]())))


# -- printing -------------------------------------------------------------------------------------------------
def _calls(counts: dict[str, int], exclude: tuple[str, ...] = ()) -> str:
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k not in exclude and v)
    return detail or "none"


def describe(figures: dict[str, Any], per: int | None = None) -> str:
    table, vault = figures["table"], figures["vault"]
    tx, entities = table.get("transactions", 0), table.get("entities_read", 0)
    kv = sum(v for k, v in vault.items())
    if per:
        return (f"Table {tx / per:.4f} calls, {entities / per:.4f} entities; Key Vault {kv / per:.4f} calls "
                f"per request ({per} requests: Table {tx} [{_calls(table, ('transactions', 'entities_read'))}], "
                f"Key Vault {kv} [{_calls(vault)}])")
    return (f"Key Vault {kv} calls [{_calls(vault)}]; Table {tx} calls, {entities} entities read "
            f"[{_calls(table, ('transactions', 'entities_read'))}]")


def print_size(clients: int, routes: int, results: dict[str, dict[str, Any]]) -> None:
    print(f"\n--- {clients:,} clients, {routes:,} routes ---", flush=True)
    for key, r in results.items():
        if "error" in r:
            print(f"  {key:<44} failed: {r['error']}")
    results = {k: r for k, r in results.items() if "error" not in r}
    for label, key in (("cold worker, first token", "cold_token"), ("cold worker, first read", "cold_read"),
                       (f"Key Vault at {THROTTLED_CALLS}/{THROTTLED_SECONDS:.0f} s, cold first token",
                        "throttled")):
        if key in results:
            r = results[key]
            print(f"  {label:<44} {r['status']} in {r['ms']:7.0f} ms; {describe(r)}")
    for label, key in (("steady, per token", "steady_token"), ("steady, per read", "steady_read")):
        if key in results:
            print(f"  {label:<44} {describe(results[key], results[key]['requests'])}")
    for label, key in (("unknown client ids", "unknown_ids"), ("forged kids", "forged_kids")):
        if key in results:
            r = results[key]
            rate = r["attacks"] / r["wall_s"]
            print(f"  {label:<44} {r['attacks']} in {r['wall_s']:.0f} s ({rate:.0f}/s): {describe(r)}; "
                  f"worker CPU {r['cpu_percent']:.0f}%; legitimate p50 {r['legit_p50_ms']:.1f} ms, "
                  f"p95 {r['legit_p95_ms']:.1f} ms; answers {r['attack_statuses']}, legit {r['legit_statuses']}")


# -- the run --------------------------------------------------------------------------------------------------
def prime(stack: ScaleStack, arguments: dict[str, Any]) -> str | None:
    """A token another worker signed (None when no worker could sign one: a few tries)."""
    for _ in range(3):
        issued = run_worker("issue", arguments)
        if tenant_of(0) in issued:
            return str(issued[tenant_of(0)])
    return None


def measure(stack: ScaleStack, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    counters = stack.counters()
    arguments: dict[str, Any] = {"settings": stack.settings(), "counters": counters.__dict__,
                                 "legit": stack.seeded.legit, "routes": stack.seeded.routes,
                                 "seconds": args.stream_seconds}
    arguments["token"] = prime(stack, arguments)
    signed = arguments["token"] is not None
    unsigned = {"error": "no worker could sign a token to read with"}
    results = {"cold_token": run_worker("cold_token", arguments),
               "cold_read": run_worker("cold_read", arguments) if signed else unsigned}
    if not args.skip_steady:
        results |= {name: run_worker(name, arguments) for name in ("steady_token", "steady_read")}
    if not args.skip_streams:
        results["unknown_ids"] = run_worker("unknown_ids", arguments)
        results["forged_kids"] = run_worker("forged_kids", arguments) if signed else unsigned
    counters.rate_limit(THROTTLED_CALLS, THROTTLED_SECONDS)
    try:
        results["throttled"] = run_worker("cold_token", arguments)
    finally:
        counters.rate_limit(None)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="numbers of clients, ascending")
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--stream-seconds", type=float, default=20.0)
    parser.add_argument("--skip-streams", action="store_true")
    parser.add_argument("--skip-steady", action="store_true")
    parser.add_argument("--legacy-ids", action="store_true",
                        help="clients with the version-4 UUIDs of earlier versions (indexed by the ensure step), "
                             "as a deployment that upgraded has them")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    parser.add_argument("--worker", nargs=2, metavar=("SCENARIO", "ARGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(*args.worker)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    everything: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as workdir:
        stack = ScaleStack(Path(workdir), legacy_ids=args.legacy_ids).start()
        try:
            asyncio.run(stack.seed_routes(args.routes))
            for size in sizes:
                asyncio.run(stack.seed_clients(size))
                everything[size] = measure(stack, args)
                print_size(size, args.routes, everything[size])
        finally:
            stack.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
