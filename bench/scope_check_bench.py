"""``python -m bench.scope_check_bench``: what the SMART scope check costs per proxied request, in-process.

Prints, for the reference client's requests and US Core searches with includes and chains, the median time of
``check_scopes`` (microseconds, 20 rounds of 200 calls each), and the one-time cost of loading each version's
search parameter table (a fresh interpreter per version: what the first search after a cold start pays).
``--baseline REV`` also times the scope check of another git revision on the requests it understands, in the
same run, side by side (it is loaded from ``git show REV:gateway/proxy/scope_check.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from gateway.proxy.access import parse_batch
from gateway.proxy.paths import check_path
from gateway.proxy.scope_check import check_scopes
from gateway.scopes import SmartScopes

ROOT = Path(__file__).resolve().parents[1]
GW = "http://localhost:7071/fhir"
BATCH = (b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/id1"}},'
         b'{"request":{"method":"GET","url":"Encounter?patient=id1"}},{"request":{"method":"GET","url":'
         b'"Observation?patient=id1"}},{"request":{"method":"GET","url":"MedicationRequest?patient=id1"}},'
         b'{"request":{"method":"GET","url":"AllergyIntolerance?patient=id1"}},{"request":{"method":"GET","url":'
         b'"Condition?patient=id1"}}]}')
REQUESTS = [
    ("read", "GET", "Patient/49", b"", ""),
    ("vital signs", "GET", "Observation?patient=SMART-1288992&_sort:desc=date&category=vital-signs", b"", ""),
    ("POST _search", "POST", "Patient/_search", b"given=hugh&family=chau", "application/x-www-form-urlencoded"),
    ("batch of 6", "POST", "", BATCH, "application/fhir+json"),
    ("include", "GET", "MedicationRequest?patient=1&_include=MedicationRequest:medication", b"", ""),
    ("chain", "GET", "Observation?patient.identifier=1234567", b"", ""),
]
SCOPES = SmartScopes.parse("system/*.rs")


def median_us(call: Callable[[], object], rounds: int = 20, calls: int = 200) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def baseline_module(revision: str) -> ModuleType:
    source = subprocess.run(["git", "show", f"{revision}:gateway/proxy/scope_check.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_scope_check.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_scope_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def call_of(check: Callable[..., None], method: str, url: str, body: bytes, content_type: str,
            **extra: str) -> Callable[[], None]:
    path, _, query = url.partition("?")
    checked = check_path(path)
    batch = parse_batch(body, content_type, GW) if method == "POST" and checked.is_base else None
    return lambda: check(SCOPES, method, checked, query, body=body, content_type=content_type, batch=batch, **extra)


def table_load_ms(version: str) -> float:
    code = ("import time; from gateway.fhir.search_parameters import definition; t = time.perf_counter(); "
            f"definition({version!r}, 'Patient', 'name'); print((time.perf_counter() - t) * 1000)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return float(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scope_check_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="a git revision whose scope check to time beside this one")
    args = parser.parse_args(argv)
    baseline = baseline_module(args.baseline) if args.baseline else None
    print("check_scopes per request, median of 20 x 200 calls (microseconds)")
    print(f"{'request':<14} {'this tree':>10}" + (f" {args.baseline:>12} {'ratio':>6}" if baseline else ""))
    for name, method, url, body, content_type in REQUESTS:
        now = median_us(call_of(check_scopes, method, url, body, content_type, fhir_version="R4"))
        line = f"{name:<14} {now:>10.1f}"
        if baseline is not None:
            before = median_us(call_of(baseline.check_scopes, method, url, body, content_type))
            line += f" {before:>12.1f} {now / before:>6.2f}"
        print(line)
    print("\nfirst lookup in a fresh interpreter (loads the version's table), milliseconds")
    for version in ("DSTU2", "STU3", "R4"):
        print(f"{version:<6} {statistics.median(table_load_ms(version) for _ in range(5)):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
