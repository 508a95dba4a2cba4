"""Whether a client id can exist, from memory: tagged ids checked against the client id key, other ids against
the legacy index, and never a listing of the clients."""

from __future__ import annotations

import asyncio
import uuid

from gateway.oauth import client_ids, known_clients
from gateway.oauth.client_ids import ClientIdKeys, is_tagged_shape, mint, tag_verifies
from gateway.oauth.known_clients import MISS_READS_PER_SECOND, KnownClientIds
from gateway.stores.legacy_ids import id_digest
from gateway.stores.models import Client


class Index:
    """A legacy index holding ``ids`` (None: no index written), counting its loads."""

    def __init__(self, ids: list[str] | None) -> None:
        self.ids, self.loads, self.available = ids, 0, True

    async def load(self):
        self.loads += 1
        if not self.available:
            from gateway.stores.errors import StoreUnavailable

            raise StoreUnavailable("down")
        return None if self.ids is None else frozenset(id_digest(i) for i in self.ids)


def known(services, index: Index | None = None) -> KnownClientIds:
    return KnownClientIds(services.client_id_keys, index, services.clock)


async def test_issued_ids_are_tagged_uuids_and_a_forged_tag_never_verifies():
    key, other = b"k" * 32, b"o" * 32
    issued = mint(key)
    assert uuid.UUID(issued).version == 8 and str(uuid.UUID(issued)) == issued
    assert is_tagged_shape(issued) and tag_verifies(issued, (key,)) and tag_verifies(issued, (other, key))
    assert not tag_verifies(issued, (other,))
    flipped = issued[:-1] + ("0" if issued[-1] != "0" else "1")
    assert not tag_verifies(flipped, (key,))
    for shape in (str(uuid.uuid4()), issued.upper(), "teams-patients", issued + "x", "{" + issued + "}"):
        assert not is_tagged_shape(shape)


async def test_a_tagged_id_is_checked_from_memory_after_one_read_of_the_key(services, vault):
    key = await ClientIdKeys(vault.inner, services.clock, "gw").minting_key()
    ids = known(services, Index([]))
    real = [mint(key) for _ in range(3)]
    assert all([await ids.may_exist(i) for i in real])
    forged = [mint(b"x" * 32) for _ in range(200)]
    assert not any([await ids.may_exist(i) for i in forged])
    assert vault.calls == {"versions": 1, "get": 1}  # the key's versions, then the one version


async def test_a_client_created_on_another_worker_is_known_at_once(services, empty_vault):
    ids = known(services, Index([]))
    assert not await ids.may_exist(mint(b"z" * 32))  # loads the key (there is none: nothing can exist)
    from gateway.admin.clients import new_client_id

    created = new_client_id(await services.client_id_keys.minting_key())  # an admin worker creates the key
    fresh = known(services, Index([]))  # the key is read when first needed
    assert await fresh.may_exist(created)


async def test_without_a_key_workers_ask_again_only_after_a_while(services, empty_vault, clock):
    ids = known(services, Index([]))
    for _ in range(20):
        assert not await ids.may_exist(mint(b"y" * 32))
    assert empty_vault.calls == {"versions": 1}
    clock.advance(client_ids.ABSENT_RETRY_SECONDS * 1.3)
    assert not await ids.may_exist(mint(b"y" * 32))
    await asyncio.sleep(0)
    assert empty_vault.calls == {"versions": 2}


async def test_two_keys_created_at_once_both_verify_and_minting_agrees_on_the_oldest(services, empty_vault):
    from tests.unit.admin.doubles import Yielding

    racing = Yielding(services.secrets)  # every call yields: the two creations interleave
    workers = [ClientIdKeys(racing, services.clock, "gw") for _ in range(2)]
    first, second = await asyncio.gather(*(w.minting_key() for w in workers))
    assert len(await services.secrets.versions("gw-client-id-key")) == 2  # the race happened
    assert first == second  # both mint with the oldest version
    reader = ClientIdKeys(services.secrets, services.clock, "gw")
    assert tag_verifies(mint(first), await reader.keys())


async def test_legacy_ids_are_answered_from_the_index_read_once(services):
    index = Index(["old-client", str(uuid.UUID(int=7))])
    ids = known(services, index)
    assert all([await ids.may_exist("old-client") for _ in range(50)])
    assert await ids.may_exist(str(uuid.UUID(int=7)))
    answers = [await ids.may_exist(str(uuid.uuid4())) for _ in range(200)]
    assert answers.count(True) == int(MISS_READS_PER_SECOND)  # a few single reads a second, then unknown
    assert index.loads == 1


async def test_the_legacy_index_is_read_again_in_the_background_after_an_hour(services, clock):
    index = Index(["old-client"])
    ids = known(services, index)
    assert await ids.may_exist("old-client")
    for n in range(10):
        await ids.may_exist(f"spend-{n}")  # the single-read budget is spent
    index.ids = ["old-client", "imported"]
    clock.advance(known_clients.LEGACY_REFRESH_SECONDS * 1.3)
    await ids.may_exist("old-client")  # answered from the index in memory; a reread has started
    await asyncio.sleep(0)
    for n in range(10):
        await ids.may_exist(f"spend-again-{n}")
    assert await ids.may_exist("imported") and index.loads == 2


async def test_without_an_index_other_ids_are_looked_up_a_few_a_second(services, clock, caplog):
    ids = known(services, Index(None))
    answers = [await ids.may_exist(f"random-{n}") for n in range(100)]
    assert answers.count(True) == int(MISS_READS_PER_SECOND)
    assert "gateway-admin ensure" in caplog.text
    clock.advance(0.2)  # one more read a fifth of a second later at 5 a second
    assert await ids.may_exist("random-x") is True
    assert await ids.may_exist("random-y") is False


async def test_an_id_the_directory_found_stays_known_past_the_budget(services, clock):
    """A legacy client whose record the change log made the directory forget is not refused as unknown when
    a burst of its requests exceeds the budget of reads for ids the index lacks."""
    ids = known(services, Index([]))
    ids.found("imported-client")
    assert not [n for n in range(int(MISS_READS_PER_SECOND)) if not await ids.may_exist(f"random-{n}")]
    assert await ids.may_exist("random-over-budget") is False
    assert all([await ids.may_exist("imported-client") for _ in range(50)])


async def test_a_burst_of_one_unindexed_id_shares_its_read_and_invented_ids_still_pay(services, clock):
    """A cold worker's burst of one client's requests (an id the index lacks) is not refused past the budget:
    the id keeps its grant for a while (the directory caches what it read); other ids still meet the budget."""
    ids = known(services, Index([]))
    assert all([await ids.may_exist("imported-client") for _ in range(50)])
    answers = [await ids.may_exist(f"random-{n}") for n in range(100)]
    assert answers.count(True) == int(MISS_READS_PER_SECOND) - 1
    clock.advance(known_clients.GRANT_SECONDS)
    assert all([await ids.may_exist(f"later-{n}") for n in range(int(MISS_READS_PER_SECOND))])
    assert await ids.may_exist("imported-client") is False  # its grant has lapsed and the budget is spent


async def test_an_unreadable_key_or_index_leaves_the_decision_to_the_directory(services, clock):
    index = Index(["old-client"])
    index.available = False
    services.secrets.available = False
    ids = known(services, index)
    assert await ids.may_exist(mint(b"k" * 32)) is True
    assert await ids.may_exist("anything") is True
    loads = index.loads
    for _ in range(10):
        await ids.may_exist("anything")
    assert index.loads == loads  # not asked again until the outage retry
    index.available = services.secrets.available = True
    clock.advance(known_clients.OUTAGE_RETRY_SECONDS * 2)
    await ids.may_exist("old-client")
    assert index.loads == loads + 1


async def test_invalid_keys_are_never_clients(services):
    ids = known(services, Index(["x"]))
    for bad in ("", "a/b", "a#b", "\x00", "k" * 600):
        assert await ids.may_exist(bad) is False


async def test_the_in_memory_twin_knows_every_client_in_its_store(services):
    await services.clients.create(Client(client_id="made-by-a-test", display_name="t"))
    for _ in range(20):
        assert await services.known_client_ids.may_exist("made-by-a-test")
