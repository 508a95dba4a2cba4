"""``python -m bench.conversion_bench``: what converting an R4 searchset to a DSTU2/STU3 client's version costs.

Two 100-entry R4 searchsets of the demo provider's US Core-shaped data, exactly as its R4 base serves it:

- ``client reads``: what the reference client reads of a patient (its batch: Patient, Encounters, Observations,
  MedicationRequests, AllergyIntolerances, Conditions, Coverage), patient after patient;
- ``vital signs``: one page of ``Observation?category=vital-signs`` (blood pressure panels with components).

Each is answered three ways, in-process, interleaved round by round:

- passthrough: ``json.loads`` + ``json.dumps`` of the bytes (the floor of any step that parses the body; the
  proxy's passthrough path does not parse bodies at all, and conversion does not change that);
- R4 -> STU3 and R4 -> DSTU2: ``json.loads``, :func:`gateway.convert.to_client`, ``json.dumps``.

Prints medians (ms) of wall-clock time and of the process's CPU time (less disturbed when other processes share
the machine), the difference to the passthrough and the ratio; the target is at most 3 ms added.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from devtools.demo_provider.catalog import catalog_for
from gateway.convert import to_client

ROUNDS, NUMBER = 40, 5
TARGET_MS = 3.0
BASE = "https://ehr.hospital.example/fhir/r4"
# The reference client's batch, in its order (patients-app-interface.md §1.3), and Coverage.
CLIENT_READS = ("Patient", "Encounter", "Observation", "MedicationRequest", "AllergyIntolerance", "Condition",
                "Coverage")


def client_reads(size: int = 100) -> list[bytes]:
    catalog = catalog_for("R4")
    bodies = [entry.body for patient in catalog.by_type["Patient"] for kind in CLIENT_READS
              for entry in catalog.by_patient.get((kind, patient.id), ())]
    return bodies[:size]


def vital_signs(size: int = 100) -> list[bytes]:
    observations = catalog_for("R4").by_type["Observation"]
    return [entry.body for entry in observations if b'"code":"vital-signs"' in entry.body][:size]


def searchset(bodies: list[bytes], query: str = "Observation?patient=1") -> bytes:
    resources = [json.loads(body) for body in bodies]
    return json.dumps({
        "resourceType": "Bundle", "type": "searchset", "total": len(resources),
        "link": [{"relation": "self", "url": f"{BASE}/{query}"},
                 {"relation": "next", "url": f"{BASE}?_getpages=x&_getpagesoffset=100&_count=100"}],
        "entry": [{"fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in resources]}, separators=(",", ":"), ensure_ascii=False).encode()


def passthrough(body: bytes) -> bytes:
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def converted(body: bytes, version: str) -> bytes:
    return json.dumps(to_client(json.loads(body), version), separators=(",", ":"), ensure_ascii=False).encode()


def timed(function: Callable[[], object], number: int = NUMBER) -> tuple[float, float]:
    """Per-call ms of ``number`` calls: (wall clock, CPU time of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(number):
        function()
    return (time.perf_counter() - wall) / number * 1000, (time.process_time() - cpu) / number * 1000


def measure(body: bytes) -> dict[str, list[tuple[float, float]]]:
    """Per-call ms of each case, ``ROUNDS`` rounds of ``NUMBER`` calls, the cases interleaved in every round."""
    cases: dict[str, Callable[[], object]] = {
        "passthrough (loads + dumps)": lambda: passthrough(body),
        "R4 -> STU3": lambda: converted(body, "STU3"),
        "R4 -> DSTU2": lambda: converted(body, "DSTU2"),
    }
    for case in cases.values():  # warm up: modules load and plans are made on first use
        case()
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, case in cases.items():
            timings[name].append(timed(case))
    return timings


def report(title: str, body: bytes, timings: dict[str, list[tuple[float, float]]]) -> None:
    wall = {name: statistics.median(w for w, _ in values) for name, values in timings.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in timings.items()}
    floor = "passthrough (loads + dumps)"
    print(f"{title}: 100-entry R4 searchset, {len(body) / 1024:.0f} KiB; medians of {ROUNDS} interleaved rounds "
          f"of {NUMBER} (wall | CPU)")
    for name in timings:
        line = f"  {name:<28} {wall[name]:6.2f} | {cpu[name]:5.2f} ms"
        if name != floor:
            added = wall[name] - wall[floor]
            line += (f"   added {added:5.2f} | {cpu[name] - cpu[floor]:5.2f} ms, x{wall[name] / wall[floor]:4.2f}"
                     f" ({'within' if added <= TARGET_MS else 'OVER'} the {TARGET_MS:.0f} ms target)")
        print(line)


def main() -> None:
    for title, bodies, query in (("client reads", client_reads(), "Patient?_id=demo-patient-1"),
                                 ("vital signs", vital_signs(), "Observation?category=vital-signs")):
        body = searchset(bodies, query)
        report(title, body, measure(body))


if __name__ == "__main__":
    main()
