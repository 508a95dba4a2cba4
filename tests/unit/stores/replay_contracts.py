"""Contract suite of the replay store (``gateway.stores.replay.ReplayStore``).

Subclass :class:`ReplayStoreContract` as ``Test...`` and provide a ``replay`` fixture (a
store whose clock is the test's ``clock`` FakeClock): the in-memory twin in
tests/unit/stores/test_replay_memory.py, the Table Storage store on Azurite in
tests/integration/test_table_replay_store.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from gateway.clock import FakeClock

CLIENT = "backend-service"
OTHER_CLIENT = "another-backend"
HOSTILE_JTIS = ["", "a/b#c?d\\e", "'; DROP TABLE x; --", "\x00\x01\x7f", "ünïcødé-🙂", "\ud800", "x" * 10_000,
                "PartitionKey eq 'x'", " "]


class ReplayStoreContract:
    """The tests; the module (or the subclass) provides the ``replay`` fixture."""

    def until(self, clock: FakeClock, seconds: float = 300) -> Any:
        return clock.now() + timedelta(seconds=seconds)

    async def test_the_first_use_is_accepted_and_a_second_is_a_replay(self, replay, clock):
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock)) is True
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock)) is False
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock, 600)) is False

    async def test_a_pair_is_remembered_at_most_ten_minutes(self, replay, clock):
        with pytest.raises(ValueError):
            await replay.use_once(CLIENT, "long-lived", self.until(clock, 601))

    async def test_a_replay_is_refused_until_the_expiry(self, replay, clock):
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock, 300))
        clock.advance(299)
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock, 300)) is False

    async def test_once_purged_after_its_expiry_the_pair_may_be_used_again(self, replay, clock):
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock, 300))
        clock.advance(3 * 3600)
        await replay.purge_expired()
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock, 300)) is True
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock, 300)) is False  # and is remembered anew

    @pytest.mark.parametrize("offset", [0, 1, 599, 600, 601, 1800, 2999, 3000, 3001, 3599])
    async def test_a_replay_is_refused_whenever_it_comes_in_the_pairs_lifetime(self, replay, clock, offset):
        """Wherever the first use falls in an hour, a replay up to its expiry (possibly in the next hour) is
        refused, from another instance too."""
        clock.advance(-(clock.now().timestamp() % 3600) + offset)  # ``offset`` seconds into an hour
        assert await replay.use_once(CLIENT, f"edge-{offset}", self.until(clock, 330))
        for step in (1, 328):
            clock.advance(step)
            assert await replay.use_once(CLIENT, f"edge-{offset}", self.until(clock, 330)) is False

    async def test_pairs_are_per_client_and_per_jti(self, replay, clock):
        assert await replay.use_once(CLIENT, "jti-1", self.until(clock))
        assert await replay.use_once(OTHER_CLIENT, "jti-1", self.until(clock))
        assert await replay.use_once(CLIENT, "jti-2", self.until(clock))
        assert await replay.use_once(CLIENT, "JTI-1", self.until(clock))  # jti values are case-sensitive
        assert not await replay.use_once(OTHER_CLIENT, "jti-1", self.until(clock))

    async def test_of_concurrent_uses_of_one_pair_exactly_one_is_accepted(self, replay, clock):
        results = await asyncio.gather(*(replay.use_once(CLIENT, "raced", self.until(clock)) for _ in range(8)))
        assert results.count(True) == 1

    @pytest.mark.parametrize("jti", HOSTILE_JTIS)
    async def test_any_jti_text_is_remembered(self, replay, clock, jti):
        assert await replay.use_once(CLIENT, jti, self.until(clock)) is True
        assert await replay.use_once(CLIENT, jti, self.until(clock)) is False
        assert await replay.use_once(CLIENT, jti + "x", self.until(clock)) is True

    @pytest.mark.parametrize("client_id", ["", "a/b", "a#b", "tab\tid"])
    async def test_a_client_id_that_is_no_store_key_is_a_value_error(self, replay, clock, client_id):
        with pytest.raises(ValueError):
            await replay.use_once(client_id, "jti", self.until(clock))

    async def test_purge_never_forgets_a_pair_before_its_expiry(self, replay, clock):
        assert await replay.use_once(CLIENT, "live", self.until(clock, 600))
        for _ in range(6):
            clock.advance(99)
            await replay.purge_expired()
            assert await replay.use_once(CLIENT, "live", self.until(clock, 5)) is False

    async def test_purge_removes_entries_past_their_use(self, replay, clock):
        for i in range(5):
            assert await replay.use_once(CLIENT, f"old-{i}", self.until(clock, 60))
        clock.advance(3 * 3600)
        assert await replay.use_once(CLIENT, "live", self.until(clock, 600))
        assert await replay.purge_expired() == 5
        assert await replay.purge_expired() == 0
        assert await replay.use_once(CLIENT, "live", self.until(clock)) is False  # still remembered
        assert await replay.use_once(CLIENT, "old-0", self.until(clock)) is True

    async def test_purge_honours_its_limit(self, replay, clock):
        for i in range(5):
            await replay.use_once(CLIENT, f"old-{i}", self.until(clock, 60))
        clock.advance(3 * 3600)
        assert await replay.purge_expired(limit=2) == 2
        assert await replay.purge_expired(limit=10) == 3
