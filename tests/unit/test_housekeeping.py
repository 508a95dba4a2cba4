"""Housekeeping: spent assertion ids and expired failure counters are purged in the background after token
requests, about every PURGE_INTERVAL_SECONDS per worker (with jitter), and a failing purge changes no answer."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from gateway import housekeeping
from gateway.housekeeping import PURGE_INTERVAL_SECONDS
from gateway.oauth.rate_limit import shared_key
from gateway.stores.errors import StoreUnavailable
from tests.support.constants import CLIENT_ID
from tests.support.oauth import post_form, token_request
from tests.support.surfaces import respond
from tests.unit.oauth.helpers import add_client, add_route, add_secret

WRONG = "0123456789abcdef." + "A" * 43


async def settle() -> None:
    """Let the background purge run to its end (in-memory stores: a few loop turns)."""
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture(autouse=True)
def no_jitter(monkeypatch):
    monkeypatch.setattr(housekeeping.random, "uniform", lambda low, high: 1.0)


async def count_failure(services, clock, address_key: str) -> None:
    await services.failure_counters.record_failure(address_key, None, now=clock.now(), window_seconds=60,
                                                   address_limit=50, client_limit=10)


def counted(services, clock, address_key: str) -> bool:
    return bool(services.failure_counters.row(address_key, now=clock.now(), window_seconds=60))


async def spent_rows(services, clock) -> None:
    """One spent assertion id and one counter, both past any use an hour from now."""
    await services.replay.use_once(CLIENT_ID, "spent-jti", clock.now() + timedelta(minutes=5))
    await count_failure(services, clock, f"a-{'0' * 40}")
    clock.advance(3600)


async def test_a_token_request_purges_spent_ids_and_counters_in_the_background(services, clock):
    await add_route(services)
    await add_client(services)
    secret = await add_secret(services, CLIENT_ID)
    await spent_rows(services, clock)
    response = await respond(token_request(post_form(CLIENT_ID, secret)), services)
    assert response.status == 200
    await settle()
    assert await services.replay.use_once(CLIENT_ID, "spent-jti", clock.now() + timedelta(minutes=5)) is True
    assert len(services.failure_counters) == 0


async def test_a_refused_request_purges_too_but_at_most_once_per_interval(services, clock):
    await add_client(services)
    first, second = f"a-{'1' * 40}", f"a-{'2' * 40}"
    await count_failure(services, clock, first)
    clock.advance(3600)
    await respond(token_request(post_form(CLIENT_ID, WRONG)), services)
    await settle()
    assert len(services.failure_counters) == 1  # the first purged; the refusal's own row is kept
    await count_failure(services, clock, second)
    counted_at = clock.now()
    clock.advance(PURGE_INTERVAL_SECONDS - 1)  # long enough for it to expire, too soon for another purge
    await respond(token_request(post_form(CLIENT_ID, WRONG)), services)
    await settle()
    assert services.failure_counters.row(second, now=counted_at, window_seconds=60)
    clock.advance(1)
    await respond(token_request(post_form(CLIENT_ID, WRONG)), services)
    await settle()
    assert not services.failure_counters.row(second, now=counted_at, window_seconds=60)
    assert counted(services, clock, shared_key("a", "203.0.113.7"))  # the newest row is kept


async def test_a_failing_purge_changes_no_answer_and_logs_only_its_kind(services, clock, caplog):
    await add_route(services)
    await add_client(services)
    secret = await add_secret(services, CLIENT_ID)

    async def unavailable(**_kwargs):
        raise StoreUnavailable("purge on table gwreplay: account key K3y in the message")

    services.replay.purge_expired = unavailable
    caplog.set_level(logging.INFO, logger="gateway.housekeeping")
    response = await respond(token_request(post_form(CLIENT_ID, secret)), services)
    await settle()
    assert response.status == 200
    assert "purge of replay failed type=StoreUnavailable" in caplog.text and "K3y" not in caplog.text
