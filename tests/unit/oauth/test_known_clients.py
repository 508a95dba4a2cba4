"""The worker's list of client ids: unknown ids answered from memory, new clients found at once, bounded reads."""

from __future__ import annotations

import asyncio

import pytest

from gateway.oauth import known_clients
from gateway.oauth.known_clients import MISS_READS_PER_SECOND, RELOAD_INTERVAL_SECONDS
from gateway.stores.models import Client


class Counting:
    """A client store counting its reads."""

    def __init__(self, inner) -> None:
        self.inner, self.lists, self.gets = inner, 0, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def list(self, **kwargs):
        self.lists += 1
        return await self.inner.list(**kwargs)

    async def get(self, client_id):
        self.gets += 1
        return await self.inner.get(client_id)


async def create(services, client_id: str) -> None:
    await services.clients.create(Client(client_id=client_id, display_name=client_id))


@pytest.fixture
def store(services) -> Counting:
    services.clients = Counting(services.clients)
    return services.clients


async def test_known_ids_are_answered_from_one_listing(services, store):
    await create(services, "a")
    await create(services, "b")
    ids = services.known_client_ids
    assert await ids.may_exist("a") and await ids.may_exist("b")
    assert store.lists == 1


async def test_unknown_ids_cost_at_most_the_read_budget_then_nothing(services, store):
    ids = services.known_client_ids
    answers = [await ids.may_exist(f"random-{n}") for n in range(100)]
    assert store.lists == 1  # the clock does not move: no second listing
    # The first answer comes from the fresh listing; then a few single reads are allowed (they say "ask").
    assert answers.count(True) == int(MISS_READS_PER_SECOND)
    assert answers[int(MISS_READS_PER_SECOND) + 1:] == [False] * (99 - int(MISS_READS_PER_SECOND))


async def test_the_read_budget_refills_with_time(services, clock):
    ids = services.known_client_ids
    for n in range(20):
        await ids.may_exist(f"random-{n}")
    clock.advance(0.2)  # one more read a fifth of a second later at 5 a second
    assert await ids.may_exist("random-x") is True
    assert await ids.may_exist("random-y") is False


async def test_a_client_created_elsewhere_is_found_at_once_and_after_a_reload(services, store, clock):
    ids = services.known_client_ids
    assert not await ids.may_exist("new")
    await create(services, "new")  # by another worker
    assert await ids.may_exist("new")  # a single read is allowed: the directory will find it
    clock.advance(RELOAD_INTERVAL_SECONDS)
    await create(services, "newer")
    assert await ids.may_exist("newer")  # the listing is reloaded
    assert store.lists == 2
    for _ in range(10):
        assert await ids.may_exist("newer")
    assert store.lists == 2


async def test_listing_pages_are_followed(services, monkeypatch):
    monkeypatch.setattr(known_clients, "_PAGE_SIZE", 2)
    for n in range(5):
        await create(services, f"c{n}")
    ids = services.known_client_ids
    assert await ids.may_exist("c0")
    for n in range(20):
        await ids.may_exist(f"random-{n}")  # spend the budget
    assert all([await ids.may_exist(f"c{n}") for n in range(5)])


async def test_an_unreachable_store_leaves_the_decision_to_the_directory(services):
    services.clients.available = False
    assert await services.known_client_ids.may_exist("anything") is True


async def test_an_outage_is_not_asked_again_for_the_reload_interval(services, store, clock):
    services.clients.inner.available = False
    ids = services.known_client_ids
    for _ in range(10):
        assert await ids.may_exist("anything") is True
    assert store.lists == 1
    services.clients.inner.available = True
    clock.advance(RELOAD_INTERVAL_SECONDS)
    assert await ids.may_exist("anything") is False
    assert store.lists == 2


async def test_a_hung_listing_gives_up_after_the_timeout(services, monkeypatch):
    monkeypatch.setattr(known_clients, "LIST_TIMEOUT_SECONDS", 0.05)

    async def hang(**kwargs):
        await asyncio.sleep(3600)

    services.clients.list = hang
    assert await asyncio.wait_for(services.known_client_ids.may_exist("anything"), 1) is True
