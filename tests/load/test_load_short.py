"""The load run, short: the reference client's mixed traffic through the local host.

1,000 requests from 20 concurrent clients (a token before every FHIR request; Patient reads, searches,
``POST Patient/_search`` form bodies and 6-entry batch Bundles) for 4 tenants on the demo provider
(STU3 and R4), with routes and the client in Azurite and the verifier and signing keys in the Key Vault
emulator. A correctness check, not a timing one: every request succeeds, and the host's resident memory
does not grow beyond a generous bound. Then the memory mode, small: many routes stored, hundreds of distinct
tenants in use. The full run with figures is ``python -m bench load``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.load import host_pid
from bench.load_workload import KINDS, Credentials, MemorySampler, drive, mib, tenant_id
from gateway.config import Settings
from gateway.services import Services
from gateway.stores.models import Route
from tests.fixtures.leaks import register_sensitive
from tests.unit.oauth.helpers import add_client

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REQUESTS = 1000
CONCURRENCY = 20
TENANTS = 4
# Generous: the run keeps at most a few hundred tokens and four routes; a leak per request would
# show as tens of megabytes, allocator noise as a few.
MEMORY_GROWTH_BOUND = 48 << 20


async def test_short_load_run_has_no_errors_and_memory_stays_bounded(
        azure_settings: Settings, azure_services: Services, azurite, keyvault, funchost, demo_provider):
    tenants = [tenant_id(i) for i in range(TENANTS)]
    for i, tenant in enumerate(tenants):
        version = ("STU3", "R4")[i % 2]
        await azure_services.routes.create(Route(
            tenant_id=tenant, fhir_base_url=demo_provider.base(f"/{version.lower()}"), fhir_version=version,
            display_name=f"load tenant {i}"))
    secret = await add_client(azure_services, "teams-patients-load", tenants=tuple(tenants))
    register_sensitive(secret)
    credentials = Credentials("teams-patients-load", secret)
    host = funchost({"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": "http://localhost:7071",
                     **azurite.settings(), **keyvault.settings(), "TABLE_NAME_PREFIX": azure_settings.table_name_prefix,
                     "KEY_VAULT_SECRET_PREFIX": azure_settings.key_vault_secret_prefix})

    warm = await drive(requests=2 * TENANTS, concurrency=TENANTS, tenants=tenants, gateway_url=host.base_url,
                       credentials=credentials, max_seconds=60)
    assert warm.error_count == 0, warm.table("warm-up")
    sampler = MemorySampler(host_pid(host))
    before = sampler.rss()
    files_before = sampler.open_files()
    async with sampler:
        stats = await drive(requests=REQUESTS, concurrency=CONCURRENCY, tenants=tenants, gateway_url=host.base_url,
                            credentials=credentials, max_seconds=90)

    report = stats.table(f"short load run ({REQUESTS} requests, {CONCURRENCY} clients, {TENANTS} tenants)")
    assert not stats.stopped_by_time, report
    assert stats.total == REQUESTS, report
    assert stats.error_count == 0, report
    assert set(stats.statuses) == {200}, report
    assert all(stats.latencies[kind] for kind in KINDS), report  # every kind of request was exercised
    assert len(stats.latencies["token"]) == REQUESTS // 2, report
    growth = sampler.samples[-1] - before
    assert growth < MEMORY_GROWTH_BOUND, f"resident memory grew {mib(growth)} (from {mib(before)})\n{report}"
    # No leaked sessions or sockets: once the clients' connections are closed, at most the pooled keep-alive
    # connections to the provider (about one per client) remain; a leak per request would be hundreds.
    bound = files_before + 2 * CONCURRENCY
    deadline = time.monotonic() + 10
    while (files_after := sampler.open_files()) > bound and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert files_after <= bound, f"the host holds {files_after} file descriptors, {files_before} before the run"


ROUTES_STORED = 1000
TENANTS_IN_USE = 300
MEMORY_TARGET = 250 * 1000 * 1000


async def test_many_tenants_are_served_within_the_memory_target(
        azure_settings: Settings, azure_services: Services, azurite, keyvault, funchost, demo_provider):
    """The memory mode, small: 1,000 routes stored, 300 distinct tenants each get a token and a Patient read,
    twice; every request succeeds and the host stays under 250 MB without growing between the passes."""
    gate = asyncio.Semaphore(32)

    async def store(i: int) -> None:
        version = ("STU3", "R4")[i % 2]
        async with gate:
            await azure_services.routes.create(Route(
                tenant_id=tenant_id(i), fhir_base_url=demo_provider.base(f"/{version.lower()}"), fhir_version=version))

    await asyncio.gather(*(store(i) for i in range(ROUTES_STORED)))
    secret = await add_client(azure_services, "teams-patients-load", tenants=("*",))
    register_sensitive(secret)
    credentials = Credentials("teams-patients-load", secret)
    host = funchost({"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": "http://localhost:7071",
                     **azurite.settings(), **keyvault.settings(), "TABLE_NAME_PREFIX": azure_settings.table_name_prefix,
                     "KEY_VAULT_SECRET_PREFIX": azure_settings.key_vault_secret_prefix})
    in_use = [tenant_id(i) for i in range(0, ROUTES_STORED, ROUTES_STORED // TENANTS_IN_USE)][:TENANTS_IN_USE]
    sampler = MemorySampler(host_pid(host))
    after_pass = []
    async with sampler:
        for n in (1, 2):
            stats = await drive(requests=2 * len(in_use), concurrency=CONCURRENCY, tenants=in_use,
                                gateway_url=host.base_url, credentials=credentials, mix=("read",), max_seconds=90)
            report = stats.table(f"pass {n} over {len(in_use)} tenants")
            assert stats.error_count == 0 and not stats.stopped_by_time, report
            assert len(stats.latencies["token"]) == len(stats.latencies["read"]) == len(in_use), report
            after_pass.append(sampler.rss())
    assert sampler.peak < MEMORY_TARGET, f"peak resident memory {mib(sampler.peak)}"
    assert after_pass[1] - after_pass[0] < MEMORY_GROWTH_BOUND, [mib(x) for x in after_pass]
