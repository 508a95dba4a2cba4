"""Brute force against the token endpoint's limits: concurrent bursts, attempts spread over instances,
store outages, and the time an unknown client id costs. In process, on the in-memory stores (a shared
failure counter store stands for Table Storage); the same limits across two real hosts sharing Azurite
are in ``test_host.py``."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.clock import FakeClock
from gateway.oauth import authentication
from gateway.services import Services, memory_services
from gateway.stores.memory import MemoryFailureCounterStore, MemorySecretStore
from tests.fixtures.common import make_settings
from tests.support.constants import CLIENT_ID
from tests.support.oauth import post_form, token_request
from tests.support.surfaces import respond
from tests.unit.oauth.helpers import add_client, add_route

LIMIT = 10


class SlowSecrets(MemorySecretStore):
    """Key Vault answering slowly: a cold cache keeps every concurrent request waiting on it."""

    async def get(self, name: str, version: str | None = None):
        await asyncio.sleep(0.05)
        return await super().get(name, version)


@pytest.fixture
def verifier_checks(monkeypatch) -> list[str]:
    """Every secret the authenticator compares with a verifier (the attacker's real gain)."""
    checked: list[str] = []
    real = authentication.check_verifier

    def counting(verifier: str, presented: str) -> bool:
        checked.append(presented)
        return real(verifier, presented)

    monkeypatch.setattr(authentication, "check_verifier", counting)
    return checked


def wrong(secret: str, n: int) -> str:
    return secret[:-6] + f"{n:06d}"  # the real secret id, a wrong random part


async def test_a_concurrent_burst_against_a_cold_cache_checks_at_most_the_limit(verifier_checks):
    clock = FakeClock()
    services = memory_services(make_settings(AUTH_FAILURE_LIMIT=str(LIMIT)), clock)
    services.secrets = SlowSecrets(clock)
    await services.signing_key_admin.ensure()
    await add_route(services)
    secret = await add_client(services)
    responses = await asyncio.gather(*(respond(token_request(post_form(CLIENT_ID, wrong(secret, n))), services)
                                       for n in range(50)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [401] * LIMIT + [429] * 40
    assert len(verifier_checks) <= LIMIT
    # The honest client, on another address, is unaffected by the burst.
    honest = await respond(token_request(post_form(CLIENT_ID, secret), address="198.51.100.9"), services)
    assert honest.status == 200


async def test_an_honest_burst_is_never_refused(verifier_checks):
    clock = FakeClock()
    services = memory_services(make_settings(AUTH_FAILURE_LIMIT="3"), clock)
    services.secrets = SlowSecrets(clock)
    await services.signing_key_admin.ensure()
    await add_route(services)
    secret = await add_client(services)
    responses = await asyncio.gather(*(respond(token_request(post_form(CLIENT_ID, secret)), services)
                                       for _ in range(20)))
    assert [r.status for r in responses] == [200] * 20  # the attempts over the limit waited, none was refused


def instance(shared: MemoryFailureCounterStore, clock: FakeClock, **settings: str) -> Services:
    services = memory_services(make_settings(AUTH_FAILURE_LIMIT="3", **settings), clock)
    services.failure_counters = shared
    return services


async def two_instances(clock: FakeClock, **settings: str) -> tuple[list[Services], str]:
    shared = MemoryFailureCounterStore()
    first, second = instance(shared, clock, **settings), instance(shared, clock, **settings)
    second.clients, second.routes, second.secrets = first.clients, first.routes, first.secrets  # one set of stores
    await add_route(first)
    return [first, second], await add_client(first)


async def test_failures_spread_over_instances_are_limited_in_total(verifier_checks):
    clock = FakeClock()
    instances, secret = await two_instances(clock)
    statuses = []
    for n in range(8):
        response = await respond(token_request(post_form(CLIENT_ID, wrong(secret, n))), instances[n % 2])
        statuses.append(response.status)
    assert statuses == [401, 401, 401, 429, 429, 429, 429, 429]
    # One instance learned of the lock-out from the shared counters: it refuses unchecked from then on.
    assert len(verifier_checks) == 4
    for services in instances:  # even the right secret, from the attacker's address, on either instance
        assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 429
        other = token_request(post_form(CLIENT_ID, secret), address="198.51.100.9")
        assert (await respond(other, services)).status == 200
    clock.advance(60)
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), instances[1])).status == 200


async def test_shared_counters_down_fall_back_to_per_worker_limits_and_never_refuse_the_honest_client():
    clock = FakeClock()
    instances, secret = await two_instances(clock)
    instances[0].failure_counters.available = False
    for services in instances:
        assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
    statuses = [(await respond(token_request(post_form(CLIENT_ID, wrong(secret, n))), instances[0])).status
                for n in range(4)]
    assert statuses == [401, 401, 401, 429]  # this worker's own limit still holds
    assert (await respond(token_request(post_form(CLIENT_ID, secret), address="198.51.100.9"),
                          instances[0])).status == 200


async def test_a_successful_authentication_never_touches_the_shared_counters():
    clock = FakeClock()
    instances, secret = await two_instances(clock)
    instances[0].failure_counters.available = False  # any call would raise
    calls = []
    real = MemoryFailureCounterStore.record_failure

    async def spy(self, *args, **kwargs):
        calls.append(args)
        return await real(self, *args, **kwargs)

    MemoryFailureCounterStore.record_failure = spy
    try:
        for _ in range(5):
            assert (await respond(token_request(post_form(CLIENT_ID, secret)), instances[1])).status == 200
    finally:
        MemoryFailureCounterStore.record_failure = real
    assert calls == []


class CountingClients:
    """Wraps a client store and counts its reads (``get`` and ``list``, each a Table Storage request)."""

    def __init__(self, inner) -> None:
        self.inner, self.reads = inner, 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def get(self, client_id: str):
        self.reads += 1
        return await self.inner.get(client_id)

    async def list(self, **kwargs):
        self.reads += 1
        return await self.inner.list(**kwargs)


async def test_unknown_client_ids_cost_no_store_read_per_attempt_and_the_same_secret_check(verifier_checks):
    services = memory_services(make_settings(AUTH_FAILURE_LIMIT_PER_ADDRESS="100000", AUTH_FAILURE_LIMIT="10000"),
                               FakeClock())
    await add_route(services)
    secret = await add_client(services)
    counting = services.clients = CountingClients(services.clients)
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
    reads_before, checks_before = counting.reads, len(verifier_checks)
    for _ in range(200):  # a fresh random id per attempt defeats any per-id negative cache
        response = await respond(token_request(post_form(f"client-{uuid.uuid4().hex}", wrong(secret, 1))), services)
        assert response.status == 401
    assert counting.reads - reads_before <= 6  # a few, not one store read per unknown id
    assert len(verifier_checks) - checks_before == 200  # the same work as a known client's wrong secret
    assert (await respond(token_request(post_form(CLIENT_ID, secret)), services)).status == 200
