"""Table Storage stores benchmark on a real Azurite: prints figures, asserts nothing.

1. Azurite: start (until the port answers) and graceful stop times.
2. Cold start: importing ``gateway.stores.tables`` (azure-data-tables) in a fresh interpreter, and
   ``open_table_storage`` + ``ensure_tables`` on existing tables.
3. Per operation (median and p99 over loopback, one TableServiceClient, keep-alive): route get (hit and
   miss), create, replace with ``if_match`` (read + conditional write), list page of 100, audit append,
   audit query of a one-hour window (page of 100).

Run: ``.venv/bin/python -m bench.table_stores [--rounds 500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.azurite import AzuriteProcess, free_port  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.stores.models import AuditRecord, Route  # noqa: E402


def figure(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {name:<38} median {statistics.median(ordered) * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms"
          f"   (n={len(ordered)})")


async def timed(rounds: int, action: Callable[[int], Awaitable[object]]) -> list[float]:
    samples = []
    for i in range(rounds):
        start = time.perf_counter()
        await action(i)
        samples.append(time.perf_counter() - start)
    return samples


def tenant(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


async def operations(connection_string: str, rounds: int) -> None:
    from gateway.stores.tables import open_table_storage

    settings = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development",
                                      "TABLES_CONNECTION_STRING": connection_string, "TABLE_NAME_PREFIX": "bench"})
    tables = open_table_storage(settings)
    await tables.ensure_tables()
    await tables.aclose()

    start = time.perf_counter()
    tables = open_table_storage(settings)
    await tables.ensure_tables()
    print(f"  open_table_storage + ensure_tables (tables exist): {(time.perf_counter() - start) * 1000:.1f} ms")
    try:
        routes, audit = tables.routes, tables.audit
        created = await timed(rounds, lambda i: routes.create(
            Route(tenant_id=tenant(i), fhir_base_url="https://fhir.example.org/r4", fhir_version="R4")))
        figure("route create", created)
        figure("route get (hit)", await timed(rounds, lambda i: routes.get(tenant(i))))
        figure("route get (miss)", await timed(rounds, lambda i: routes.get(tenant(10**6 + i))))

        async def replace(i: int) -> None:
            current = await routes.get(tenant(i))
            await routes.replace(current, if_match=current.etag)

        figure("route get + replace(if_match)", await timed(rounds, replace))
        figure("route list (page of 100)", await timed(max(rounds // 10, 10), lambda i: routes.list(page_size=100)))
        base = datetime(2026, 6, 1, tzinfo=UTC)
        figure("audit append", await timed(rounds, lambda i: audit.append(AuditRecord(
            "route.update", "route", tenant(i), "bench", base + timedelta(seconds=i * 7)))))
        figure("audit query 1 h window (page 100)", await timed(max(rounds // 10, 10), lambda i: audit.query(
            since=base + timedelta(minutes=10), until=base + timedelta(minutes=70), page_size=100)))
    finally:
        await tables.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args(argv)

    code = "import time; t = time.perf_counter(); import gateway.stores.tables; print(time.perf_counter() - t)"
    imports = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout) for _ in range(3)]
    print(f"cold import of gateway.stores.tables: median {statistics.median(imports) * 1000:.0f} ms (3 fresh runs)")

    with tempfile.TemporaryDirectory() as data:
        azurite = AzuriteProcess(free_port(), Path(data))
        start = time.perf_counter()
        azurite.start()
        print(f"Azurite start (until the port answers): {(time.perf_counter() - start) * 1000:.0f} ms")
        try:
            print(f"operations on Azurite {azurite.table_endpoint}:")
            asyncio.run(operations(azurite.connection_string, args.rounds))
        finally:
            start = time.perf_counter()
            azurite.stop()
            print(f"Azurite graceful stop (data saved): {(time.perf_counter() - start) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
