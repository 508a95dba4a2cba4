"""The scale benchmark's scenarios at 2,000 clients and 2,000 routes, asserting store calls per operation (not
times): each count is the design's, exact where the design fixes it, and none grows with the number of clients.

The stores are real (Azurite behind the counting proxy, the Key Vault emulator counting its calls), seeded in the
shape the admin API writes (``bench.scale_stack``). Streams run on a virtual clock, so the counts are the same on
any machine. Key Vault's auth challenge is left out: the SDK sends one per process and vault, whichever worker
comes first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import scale_scenarios as scenarios
from bench.scale_stack import LEGIT_CLIENTS, ScaleStack, tenant_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = ROUTES = 2000
POLL_SECONDS = 10  # gateway.directory: the change log is polled every 10 s with the default cache lifetimes


@pytest.fixture(scope="module")
def stack() -> Iterator[ScaleStack]:
    import asyncio

    with tempfile.TemporaryDirectory(prefix="scale-counts-") as workdir:
        seeded = ScaleStack(Path(workdir), "counts").start()
        try:
            asyncio.run(seeded.seed_routes(ROUTES))
            asyncio.run(seeded.seed_clients(CLIENTS))
            yield seeded
        finally:
            seeded.stop()


@pytest.fixture(scope="module")
def token(stack: ScaleStack) -> str:
    import asyncio

    return asyncio.run(scenarios.issue(stack.settings(), stack.seeded.legit[0][0], [tenant_of(0)]))[tenant_of(0)]


def vault_calls(figures: dict) -> dict[str, int]:
    return {k: v for k, v in figures["vault"].items() if k != "challenge"}


def table_calls(figures: dict) -> dict[str, int]:
    return {k: v for k, v in figures["table"].items() if k not in ("transactions", "entities_read")}


async def test_a_cold_workers_first_token_reads_a_handful_of_things_by_name(stack):
    figures = await scenarios.cold_token(stack.settings(), stack.counters(), *stack.seeded.legit[0])
    assert figures["status"] == 200
    # the signing key index and the active key; the client id key (its versions, then the one version); the
    # client's secret verifier
    assert vault_calls(figures) == {"secrets.get": 4, "secrets.versions": 1}
    assert table_calls(figures) == {"clients.get": 1, "routes.get": 1}  # the client's record, the tenant's route
    assert figures["table"]["entities_read"] == 2


async def test_a_cold_workers_first_read_reads_the_keys_client_and_route(stack, token):
    figures = await scenarios.cold_read(stack.settings(), stack.counters(), token)
    assert figures["status"] == 200
    assert vault_calls(figures) == {"secrets.get": 2}  # the index and the key that signed the token
    assert table_calls(figures) == {"clients.get": 1, "routes.get": 1}


@pytest.mark.parametrize("kind", ["token", "read"])
async def test_steady_requests_read_only_records_never_seen_and_the_change_log(stack, kind):
    warm, seconds, rate = 60, 60, 20
    figures = await scenarios.steady(stack.settings(), stack.counters(), stack.seeded.legit, ROUTES, kind,
                                     warm=warm, seconds=seconds, rate=rate)
    assert figures["statuses"] == {200: seconds * rate}
    drawn = scenarios.zipf_tenants(ROUTES, (warm + seconds) * rate)
    first_seen = len(set(drawn[warm * rate:]) - set(drawn[:warm * rate]))
    # no record is read twice: routes never seen before, and one query of the change log per poll
    assert table_calls(figures) == {"routes.get": first_seen, "clients.query": seconds // POLL_SECONDS}
    if kind == "token":  # a secret's verifier is read again once per CLIENT_CACHE_SECONDS at most
        assert set(vault_calls(figures)) == {"secrets.get"} and vault_calls(figures)["secrets.get"] <= LEGIT_CLIENTS
    else:
        assert vault_calls(figures) == {}


async def test_a_stream_of_unknown_client_ids_reads_no_listing_and_counts_by_address(stack):
    rate, seconds = 10, 20
    figures = await scenarios.unknown_ids(stack.settings(), stack.counters(), stack.seeded.legit[0], rate=rate,
                                          seconds=seconds, paced=False)
    attacks = rate * seconds
    assert figures["attack_statuses"] == {401: attacks} and figures["legit_statuses"] == {200: attacks}
    calls = table_calls(figures)
    # each failure: its address's row read and written (a new address each time: inserted), none per client id
    assert calls.pop("authfailures.get") == attacks and calls.pop("authfailures.insert") == attacks
    # ids not of the issued shape and not in the legacy index: a few single reads a second (5, refilled)
    assert calls.pop("clients.get") <= 5 + 5 * seconds
    # the legacy index once, the change log twice, and the purges housekeeping started in the background
    assert calls == {"clients.query": 1 + seconds // POLL_SECONDS + 1, "authfailures.query": 1, "replay.query": 1}
    assert figures["table"]["entities_read"] <= attacks
    assert vault_calls(figures) == {}


async def test_a_stream_of_forged_kids_costs_one_key_refresh(stack, token):
    figures = await scenarios.forged_kids(stack.settings(), stack.counters(), token, rate=5, seconds=20,
                                          paced=False)
    assert figures["attack_statuses"] == {401: 100} and figures["legit_statuses"] == {200: 100}
    assert vault_calls(figures) == {"secrets.get": 2}  # one refresh in the minute: the index and the key
    assert table_calls(figures) == {"clients.query": 20 // POLL_SECONDS}


async def test_a_cold_worker_gets_its_first_token_from_a_vault_throttled_to_its_fleet_share(stack):
    counters = stack.counters()
    counters.rate_limit(200, 10)
    try:
        figures = await scenarios.cold_token(stack.settings(), counters, *stack.seeded.legit[1])
    finally:
        counters.rate_limit(None)
    assert figures["status"] == 200 and "throttled" not in figures["vault"]


async def _costs(stack: ScaleStack, token: str, run: int) -> dict[str, tuple[int, int, int]]:
    """Per scenario: (Key Vault calls, Table transactions, Table entities read); ``run`` picks the attackers'
    addresses (new ones each run)."""
    settings, counters, legit = stack.settings(), stack.counters(), stack.seeded.legit
    runs = {
        "cold token": await scenarios.cold_token(settings, counters, *legit[2]),
        "cold read": await scenarios.cold_read(settings, counters, token),
        "unknown ids": await scenarios.unknown_ids(settings, counters, legit[0], rate=10, seconds=10, paced=False,
                                                    addresses_seed=100 + run),
        "forged kids": await scenarios.forged_kids(settings, counters, token, rate=5, seconds=10, paced=False),
        **{f"steady {kind}": await scenarios.steady(settings, counters, legit, ROUTES, kind, warm=20, seconds=20,
                                                    rate=10)
           for kind in ("token", "read")},
    }
    return {name: (sum(vault_calls(figures).values()), figures["table"]["transactions"],
                   figures["table"]["entities_read"]) for name, figures in runs.items()}


async def test_no_count_grows_when_the_clients_double(stack, token):
    """The same scenarios before and after the number of clients doubles: every store count stays the same."""
    before = await _costs(stack, token, 1)
    await stack.seed_clients(2 * CLIENTS)
    after = await _costs(stack, token, 2)
    # Calls exactly; entities read within a few (housekeeping's purges read what earlier scenarios left expired),
    # where anything that grew with the clients would read thousands more.
    assert {name: cost[:2] for name, cost in after.items()} == {name: cost[:2] for name, cost in before.items()}
    assert all(after[name][2] <= before[name][2] + 5 for name in before), (before, after)
