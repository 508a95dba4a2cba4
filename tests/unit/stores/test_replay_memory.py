"""The in-memory replay store against the replay store contract, and its outage switch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.clock import FakeClock
from gateway.stores.errors import StoreUnavailable
from gateway.stores.replay import MemoryReplayStore, jti_digest
from tests.unit.stores.replay_contracts import ReplayStoreContract


class TestMemoryReplayStore(ReplayStoreContract):
    @pytest.fixture
    def replay(self, clock: FakeClock) -> MemoryReplayStore:
        return MemoryReplayStore(clock)


async def test_an_unreachable_store_raises_store_unavailable(clock):
    replay = MemoryReplayStore(clock)
    replay.available = False
    with pytest.raises(StoreUnavailable):
        await replay.use_once("c", "j", clock.now() + timedelta(seconds=60))


async def test_expired_entries_are_swept_as_new_ones_arrive(clock):
    replay = MemoryReplayStore(clock)
    for i in range(MemoryReplayStore.SWEEP_EVERY - 1):
        await replay.use_once("c", f"j{i}", clock.now() + timedelta(seconds=1))
    clock.advance(2)
    await replay.use_once("c", "last", clock.now() + timedelta(seconds=60))
    assert len(replay) == 1


def test_the_digest_is_sha256_hex_and_takes_any_text():
    assert jti_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert len(jti_digest("\ud800")) == 64
