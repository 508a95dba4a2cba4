"""Contract suites of RouteStore, ClientStore and AuditStore (``gateway.stores.protocols``).

Every implementation runs the same tests: subclass a ``*Contract`` class as
``Test...`` and provide the fixture it needs (``routes``, ``clients`` or
``audit``): the in-memory twins in tests/unit/stores/test_memory.py, the Table
Storage stores on Azurite in tests/integration/test_table_stores.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from gateway.stores.errors import AlreadyExists, InvalidContinuation, NotFound, PreconditionFailed
from gateway.stores.models import AuditRecord, Client, ClientAuthentication, Route, SecretMetadata, UpstreamAuth

STAMPS = ("created_on", "updated_on", "etag")
TENANT_A = "0f8fad5b-d9cb-469f-a165-70867728950e"
TENANT_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
T0 = datetime(2026, 3, 14, 23, 59, 58, 123456, tzinfo=UTC)  # close to midnight: windows cross day partitions


def same_data(stored: Any, expected: Any) -> None:
    """Every field but the store's stamps (created_on, updated_on, etag) equals the expected one."""
    for f in fields(expected):
        if f.name not in STAMPS:
            assert getattr(stored, f.name) == getattr(expected, f.name), f.name


def is_utc(value: datetime | None) -> bool:
    return value is not None and value.utcoffset() == timedelta(0)


async def drain(listing: Any, page_size: int) -> list[list[Any]]:
    """All pages of ``listing(page_size=..., continuation=...)``."""
    pages, continuation = [], None
    for _ in range(100):
        page = await listing(page_size=page_size, continuation=continuation)
        pages.append(page.items)
        continuation = page.continuation
        if continuation is None:
            return pages
        assert isinstance(continuation, str) and continuation
    raise AssertionError("listing never ended")


def full_route(tenant_id: str = TENANT_A, **changes: Any) -> Route:
    return replace(Route(
        tenant_id=tenant_id,
        fhir_base_url="https://fhir.example-hospital.org/api/FHIR/STU3",
        fhir_version="STU3",
        display_name="Hôpital Général – Nord",
        enabled=False,
        allow_writes=True,
        batch_mode="fanout",
        connect_timeout_seconds=2.5,
        read_timeout_seconds=20.0,
        private_network=True,
        upstream_auth=UpstreamAuth(type="clientCredentials", token_url="https://login.example.org/oauth2/token",
                                   client_id="gateway-app", scope="system/*.read", secret_name="gw-upstream-a"),
    ), **changes)


def full_client(client_id: str = "patients-app", **changes: Any) -> Client:
    return replace(Client(
        client_id=client_id,
        display_name="Teams Patients app",
        allowed_tenants=(TENANT_A, TENANT_B),
        enabled=False,
        secrets=(
            SecretMetadata(secret_id="s1a2b3", hint="…xY9", created_on=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
                           expires_on=datetime(2026, 7, 1, tzinfo=UTC)),
            SecretMetadata(secret_id="s4d5e6", hint="…Qw2",
                           created_on=datetime(2026, 2, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
                           expires_on=datetime(2026, 8, 1, 0, 0, 0, 999999, tzinfo=UTC)),
        ),
    ), **changes)


class _KeyedStoreContract:
    """What RouteStore and ClientStore share; subclasses say how to build items and which fixture is the store."""

    key_field: str

    @pytest.fixture
    def store(self) -> Any:
        raise NotImplementedError

    def item(self, key: str, **changes: Any) -> Any:
        raise NotImplementedError

    def minimal(self, key: str) -> Any:
        raise NotImplementedError

    def keys(self, count: int) -> list[str]:
        raise NotImplementedError

    def changed(self, item: Any) -> Any:
        return replace(item, display_name=item.display_name + " (renamed)", enabled=not item.enabled)

    def key_of(self, item: Any) -> str:
        return getattr(item, self.key_field)

    async def test_get_of_an_unknown_key_is_none(self, store: Any) -> None:
        assert await store.get(self.keys(1)[0]) is None

    async def test_create_round_trips_every_field(self, store: Any) -> None:
        item = self.item(self.keys(1)[0])
        created = await store.create(item)
        fetched = await store.get(self.key_of(item))
        same_data(created, item)
        same_data(fetched, item)
        assert created.etag and fetched.etag == created.etag
        assert is_utc(fetched.created_on) and fetched.created_on == created.created_on
        assert fetched.updated_on == created.updated_on

    async def test_defaults_round_trip(self, store: Any) -> None:
        item = self.minimal(self.keys(1)[0])
        await store.create(item)
        same_data(await store.get(self.key_of(item)), item)

    async def test_create_of_an_existing_key_raises_already_exists_and_keeps_the_first(self, store: Any) -> None:
        first = await store.create(self.item(self.keys(1)[0]))
        with pytest.raises(AlreadyExists):
            await store.create(self.changed(first))
        same_data(await store.get(self.key_of(first)), first)

    async def test_create_refuses_a_key_table_storage_cannot_hold(self, store: Any) -> None:
        for bad in ("a/b", "a#b", "a?b", "back\\slash", "tab\tkey", ""):
            with pytest.raises(ValueError):
                await store.create(self.item(bad))
            assert await store.get(bad) is None

    async def test_replace_stores_the_new_values_and_keeps_created_on(self, store: Any) -> None:
        created = await store.create(self.item(self.keys(1)[0]))
        replaced = await store.replace(self.changed(created))
        fetched = await store.get(self.key_of(created))
        same_data(fetched, self.changed(created))
        assert fetched.created_on == created.created_on
        assert fetched.updated_on >= created.updated_on
        assert replaced.etag == fetched.etag != created.etag

    async def test_replace_with_the_current_etag_succeeds(self, store: Any) -> None:
        created = await store.create(self.item(self.keys(1)[0]))
        replaced = await store.replace(self.changed(created), if_match=created.etag)
        same_data(await store.get(self.key_of(created)), replaced)

    async def test_replace_with_a_stale_etag_raises_precondition_failed_and_changes_nothing(self, store: Any) -> None:
        created = await store.create(self.item(self.keys(1)[0]))
        current = await store.replace(self.changed(created), if_match=created.etag)
        with pytest.raises(PreconditionFailed):
            await store.replace(created, if_match=created.etag)
        fetched = await store.get(self.key_of(created))
        same_data(fetched, current)
        assert fetched.etag == current.etag

    async def test_of_two_concurrent_replaces_with_the_same_etag_exactly_one_wins(self, store: Any) -> None:
        created = await store.create(self.item(self.keys(1)[0]))
        first, second = self.changed(created), replace(created, display_name="other writer")
        results = await asyncio.gather(store.replace(first, if_match=created.etag),
                                       store.replace(second, if_match=created.etag), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1 and isinstance(failures[0], PreconditionFailed)
        winner = next(r for r in results if not isinstance(r, BaseException))
        assert (await store.get(self.key_of(created))).display_name == winner.display_name

    async def test_concurrent_unconditional_replaces_all_succeed_and_the_last_one_stays(self, store: Any) -> None:
        created = await store.create(self.item(self.keys(1)[0]))
        writers = [replace(created, display_name=f"writer {i}") for i in range(6)]
        results = await asyncio.gather(*(store.replace(w) for w in writers))
        stored = await store.get(self.key_of(created))
        assert stored.display_name in {w.display_name for w in writers}
        assert stored.etag in {r.etag for r in results} and stored.created_on == created.created_on

    async def test_replace_of_an_unknown_key_raises_not_found(self, store: Any) -> None:
        with pytest.raises(NotFound):
            await store.replace(self.item(self.keys(1)[0]))
        with pytest.raises(NotFound):
            await store.replace(self.item(self.keys(1)[0]), if_match='W/"1"')
        assert await store.get(self.keys(1)[0]) is None

    async def test_delete_removes_the_item(self, store: Any) -> None:
        created = await store.create(self.item(self.keys(1)[0]))
        await store.delete(self.key_of(created))
        assert await store.get(self.key_of(created)) is None
        await store.create(created)  # the key is free again

    async def test_delete_of_an_unknown_key_raises_not_found(self, store: Any) -> None:
        with pytest.raises(NotFound):
            await store.delete(self.keys(1)[0])
        with pytest.raises(NotFound):
            await store.delete(self.keys(1)[0], if_match='W/"1"')
        with pytest.raises(NotFound):
            await store.delete("not/a/key")

    async def test_delete_with_a_stale_etag_raises_precondition_failed_and_keeps_the_item(self, store: Any) -> None:
        created = await store.create(self.item(self.keys(1)[0]))
        current = await store.replace(self.changed(created))
        with pytest.raises(PreconditionFailed):
            await store.delete(self.key_of(created), if_match=created.etag)
        assert await store.get(self.key_of(created)) is not None
        await store.delete(self.key_of(created), if_match=current.etag)
        assert await store.get(self.key_of(created)) is None

    async def test_list_of_an_empty_store_is_one_empty_page(self, store: Any) -> None:
        page = await store.list()
        assert page.items == [] and page.continuation is None

    @pytest.mark.parametrize("page_size", [1, 3, 7, 100])
    async def test_list_pages_through_every_item_once_in_key_order(self, store: Any, page_size: int) -> None:
        keys = self.keys(7)
        for key in reversed(keys):
            await store.create(self.item(key))
        pages = await drain(store.list, page_size)
        listed = [self.key_of(item) for page in pages for item in page]
        assert listed == sorted(keys)
        assert all(len(page) <= page_size for page in pages)
        assert all(pages[:-1]), "only the last page may be empty"
        assert all(item.etag for page in pages for item in page)
        same_data(next(i for p in pages for i in p if self.key_of(i) == keys[0]), self.item(keys[0]))

    async def test_list_refuses_a_continuation_it_did_not_issue(self, store: Any) -> None:
        for token in ("garbage!", "eyJ4IjoxfQ", "-1"):
            with pytest.raises(InvalidContinuation):
                await store.list(continuation=token)

    async def test_list_refuses_a_page_size_below_one(self, store: Any) -> None:
        with pytest.raises(ValueError):
            await store.list(page_size=0)


class RouteStoreContract(_KeyedStoreContract):
    key_field = "tenant_id"

    @pytest.fixture
    def store(self, routes: Any) -> Any:
        return routes

    def item(self, key: str, **changes: Any) -> Route:
        return full_route(key, **changes)

    def minimal(self, key: str) -> Route:
        return Route(tenant_id=key, fhir_base_url="http://127.0.0.1:8081/r4", fhir_version="R4")

    def keys(self, count: int) -> list[str]:
        return [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(1, count + 1)]

    async def test_upstream_auth_variants_round_trip(self, routes: Any) -> None:
        variants = [UpstreamAuth(), UpstreamAuth(type="managedIdentity", scope="api://provider/.default"),
                    UpstreamAuth(type="clientCredentials", token_url="https://idp/token", client_id="c",
                                 scope=None, secret_name="gw-s")]
        for key, auth in zip(self.keys(3), variants, strict=True):
            await routes.create(full_route(key, upstream_auth=auth, connect_timeout_seconds=None))
            fetched = await routes.get(key)
            assert fetched.upstream_auth == auth and fetched.connect_timeout_seconds is None


class ClientStoreContract(_KeyedStoreContract):
    key_field = "client_id"

    @pytest.fixture
    def store(self, clients: Any) -> Any:
        return clients

    def item(self, key: str, **changes: Any) -> Client:
        return full_client(key, **changes)

    def minimal(self, key: str) -> Client:
        return Client(client_id=key, display_name="")

    def keys(self, count: int) -> list[str]:
        return [f"client-{i:03d}" for i in range(1, count + 1)]

    async def test_secret_metadata_round_trips_as_utc_instants(self, clients: Any) -> None:
        client = full_client()
        await clients.create(client)
        fetched = await clients.get(client.client_id)
        assert fetched.secrets == client.secrets  # same instants, same order
        assert all(is_utc(s.created_on) and is_utc(s.expires_on) for s in fetched.secrets)
        assert fetched.active_secrets(datetime(2026, 7, 15, tzinfo=UTC)) == client.secrets[1:]

    async def test_all_tenants_marker_round_trips(self, clients: Any) -> None:
        await clients.create(full_client(allowed_tenants=("*",)))
        fetched = await clients.get("patients-app")
        assert fetched.allowed_tenants == ("*",) and fetched.allows_tenant(TENANT_B)

    async def test_replace_can_drop_every_secret(self, clients: Any) -> None:
        created = await clients.create(full_client())
        await clients.replace(replace(created, secrets=()), if_match=created.etag)
        assert (await clients.get("patients-app")).secrets == ()

    async def test_a_client_without_authentication_or_scopes_uses_secrets_and_reads_everything(
            self, clients: Any) -> None:
        await clients.create(Client(client_id="old-client", display_name=""))
        fetched = await clients.get("old-client")
        assert fetched.authentication == ClientAuthentication() and not fetched.authentication.uses_assertions
        assert fetched.allowed_scopes == "system/*.rs"

    async def test_private_key_jwt_authentication_and_scopes_round_trip(self, clients: Any) -> None:
        inline = ClientAuthentication(method="private_key_jwt", jwks='{"keys":[{"kid":"k1","kty":"EC"}]}')
        by_url = ClientAuthentication(method="private_key_jwt", jwks_url="https://keys.example.org/jwks.json")
        await clients.create(full_client("inline", secrets=(), authentication=inline,
                                         allowed_scopes="system/Observation.rs system/Patient.r"))
        await clients.create(full_client("by-url", secrets=(), authentication=by_url))
        first, second = await clients.get("inline"), await clients.get("by-url")
        assert first.authentication == inline and first.allowed_scopes == "system/Observation.rs system/Patient.r"
        assert second.authentication == by_url and second.authentication.uses_assertions
        changed = replace(second, authentication=inline, allowed_scopes="system/*.cruds")
        await clients.replace(changed, if_match=second.etag)
        again = await clients.get("by-url")
        assert again.authentication == inline and again.allowed_scopes == "system/*.cruds"


def record(moment: datetime, **changes: Any) -> AuditRecord:
    return replace(AuditRecord(action="client.secret.create", target_type="client", target_id="patients-app",
                               actor="admin@contoso.example", timestamp=moment), **changes)


class AuditStoreContract:
    """AuditStore: append, then query windows newest first."""

    async def fill(self, audit: Any, offsets: list[float]) -> list[AuditRecord]:
        return [await audit.append(record(T0 + timedelta(seconds=s), target_id=f"t{i}"))
                for i, s in enumerate(offsets)]

    async def test_append_round_trips_every_field(self, audit: Any) -> None:
        original = AuditRecord(action="route.update", target_type="route", target_id=TENANT_A,
                               actor="sp:7f3c…", timestamp=T0, request_id="req-42", source_address="203.0.113.9",
                               outcome="failure",
                               details={"changed": ["fhirBaseUrl", "enabled"], "count": 2, "note": "é ✓",
                                        "nested": {"ok": True, "none": None}})
        stored = await audit.append(original)
        assert stored.record_id
        page = await audit.query()
        assert page.items == [stored]
        same_data(page.items[0], replace(original, record_id=stored.record_id))
        assert is_utc(page.items[0].timestamp)

    async def test_append_keeps_a_given_record_id_and_refuses_an_invalid_one(self, audit: Any) -> None:
        stored = await audit.append(record(T0, record_id="fixed-id-1"))
        assert stored.record_id == "fixed-id-1"
        with pytest.raises(ValueError):
            await audit.append(record(T0, record_id="bad/id"))
        assert [r.record_id for r in (await audit.query()).items] == ["fixed-id-1"]

    async def test_appending_the_same_record_twice_raises_already_exists(self, audit: Any) -> None:
        stored = await audit.append(record(T0, record_id="once"))
        with pytest.raises(AlreadyExists):
            await audit.append(stored)
        await audit.append(replace(stored, timestamp=T0 + timedelta(seconds=1)))  # another instant: another row
        assert len((await audit.query()).items) == 2

    async def test_details_come_back_as_json_values(self, audit: Any) -> None:
        await audit.append(record(T0, details={"tenants": (TENANT_A, TENANT_B)}))
        assert (await audit.query()).items[0].details == {"tenants": [TENANT_A, TENANT_B]}

    async def test_query_returns_newest_first_across_days(self, audit: Any) -> None:
        stored = await self.fill(audit, [0, 5, 1, 86400 * 3, -86400 * 40, 2.5])
        items = (await audit.query()).items
        assert [r.timestamp for r in items] == sorted((r.timestamp for r in stored), reverse=True)

    async def test_query_window_includes_since_and_excludes_until(self, audit: Any) -> None:
        stored = await self.fill(audit, [0, 1, 2, 3, 4])
        items = (await audit.query(since=stored[1].timestamp, until=stored[3].timestamp)).items
        assert [r.target_id for r in items] == ["t2", "t1"]

    async def test_query_window_is_exact_to_the_microsecond(self, audit: Any) -> None:
        stored = await self.fill(audit, [0, 0.000001, 0.000002])
        tick = timedelta(microseconds=1)
        items = (await audit.query(since=stored[1].timestamp, until=stored[2].timestamp)).items
        assert [r.target_id for r in items] == ["t1"]
        items = (await audit.query(since=stored[0].timestamp + tick, until=stored[2].timestamp + tick)).items
        assert [r.target_id for r in items] == ["t2", "t1"]

    async def test_query_with_only_since_or_only_until(self, audit: Any) -> None:
        await self.fill(audit, [-86400, 0, 86400, 2 * 86400])
        since = (await audit.query(since=T0)).items
        until = (await audit.query(until=T0 + timedelta(seconds=1))).items
        assert [r.target_id for r in since] == ["t3", "t2", "t1"]
        assert [r.target_id for r in until] == ["t1", "t0"]

    async def test_query_window_given_in_another_time_zone(self, audit: Any) -> None:
        await self.fill(audit, [0, 10, 20])
        plus_two = timezone(timedelta(hours=2))
        items = (await audit.query(since=(T0 + timedelta(seconds=5)).astimezone(plus_two),
                                   until=(T0 + timedelta(seconds=15)).astimezone(plus_two))).items
        assert [r.target_id for r in items] == ["t1"]

    async def test_an_empty_or_inverted_window_is_empty(self, audit: Any) -> None:
        await self.fill(audit, [0, 1])
        assert (await audit.query(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=1))).items == []
        assert (await audit.query(since=T0 + timedelta(seconds=5), until=T0)).items == []
        assert (await audit.query(since=T0 + timedelta(days=1))).items == []

    async def test_query_bounds_at_the_first_and_last_representable_instants(self, audit: Any) -> None:
        # The admin API accepts any RFC 3339 date-time: year 1 and year 9999 bounds are answers, not 500s.
        await self.fill(audit, [0, 1])
        first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
        assert [r.target_id for r in (await audit.query(since=first)).items] == ["t1", "t0"]
        assert (await audit.query(until=first)).items == []
        assert [r.target_id for r in (await audit.query(until=last)).items] == ["t1", "t0"]
        assert (await audit.query(since=last)).items == []

    @pytest.mark.parametrize("page_size", [1, 2, 5])
    async def test_query_pages_through_a_window_newest_first(self, audit: Any, page_size: int) -> None:
        offsets = [0, 1, 2, 3, 86400, 86401, 2 * 86400]
        await self.fill(audit, offsets)

        async def window(**kwargs: Any) -> Any:
            return await audit.query(since=T0 + timedelta(seconds=1), until=T0 + timedelta(days=2), **kwargs)

        pages = await drain(window, page_size)
        assert [r.target_id for page in pages for r in page] == ["t5", "t4", "t3", "t2", "t1"]
        assert all(len(page) <= page_size for page in pages) and all(pages[:-1])

    async def test_records_of_the_same_instant_are_ordered_by_record_id(self, audit: Any) -> None:
        for rid in ("b", "c", "a"):
            await audit.append(record(T0, record_id=rid))
        assert [r.record_id for r in (await audit.query()).items] == ["a", "b", "c"]

    async def test_query_refuses_a_continuation_it_did_not_issue(self, audit: Any) -> None:
        with pytest.raises(InvalidContinuation):
            await audit.query(continuation="garbage!")
