"""``python -m bench.conversion_bench``: what converting an R4 searchset to a DSTU2/STU3 client's version costs.

A 100-entry R4 searchset of the demo provider's US Core-shaped data (vital signs with components, conditions,
allergies, medication requests, encounters, patients) is answered three ways, in-process, interleaved:

- passthrough: ``json.loads`` + ``json.dumps`` of the bytes (the floor of any step that parses the body; the
  proxy's passthrough path does not parse bodies at all, and conversion does not change that);
- R4 -> STU3 and R4 -> DSTU2: ``json.loads``, :func:`gateway.convert.to_client`, ``json.dumps``.

Prints medians (ms) and the difference to the passthrough; the target is at most 3 ms added.
"""

from __future__ import annotations

import json
import statistics
import time

from devtools.demo_provider import data, render
from gateway.convert import to_client

ROUNDS, NUMBER = 15, 20
TARGET_MS = 3.0


def searchset(size: int = 100) -> bytes:
    resources = render.render_all("R4", data.generate())
    order = ("Observation", "Condition", "AllergyIntolerance", "MedicationRequest", "Encounter", "Patient",
             "Coverage")
    picked = sorted((r for r in resources if r["resourceType"] in order),
                    key=lambda r: (len(r["id"]) % 7, r["id"]))[:size]
    base = "https://ehr.hospital.example/fhir/r4"
    return json.dumps({
        "resourceType": "Bundle", "type": "searchset", "total": len(picked),
        "link": [{"relation": "self", "url": f"{base}/Observation?patient=1"},
                 {"relation": "next", "url": f"{base}?_getpages=x&_getpagesoffset=100&_count=100"}],
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in picked]}, separators=(",", ":")).encode()


def passthrough(body: bytes) -> bytes:
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def converted(body: bytes, version: str) -> bytes:
    return json.dumps(to_client(json.loads(body), version), separators=(",", ":"), ensure_ascii=False).encode()


def timed(function, number: int = NUMBER) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(number):
        function()
    return (time.perf_counter() - started) / number * 1000


def main() -> None:
    body = searchset()
    cases = {"passthrough (loads + dumps)": lambda: passthrough(body),
             "R4 -> STU3": lambda: converted(body, "STU3"),
             "R4 -> DSTU2": lambda: converted(body, "DSTU2")}
    for case in cases.values():  # warm up: modules load on first use
        case()
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, case in cases.items():
            timings[name].append(timed(case))
    floor = statistics.median(timings["passthrough (loads + dumps)"])
    print(f"100-entry R4 searchset, {len(body) / 1024:.0f} KiB; median of {ROUNDS} interleaved rounds of {NUMBER}")
    for name, values in timings.items():
        median = statistics.median(values)
        added = median - floor
        verdict = "" if name.startswith("passthrough") else \
            f"   added {added:6.2f} ms ({'within' if added <= TARGET_MS else 'OVER'} the {TARGET_MS:.0f} ms target)"
        print(f"  {name:<28} {median:7.2f} ms{verdict}")


if __name__ == "__main__":
    main()
