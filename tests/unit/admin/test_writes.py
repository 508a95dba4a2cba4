"""How admin operations write: conditional writes on the in-memory twins, the retry loop, store errors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.admin.actor import Actor
from gateway.admin.problems import Problem, not_found, precondition_failed
from gateway.admin.tenant_routes import RouteSpec
from gateway.admin.writes import CONFLICT_RETRIES, Changed, conditional_write, retry_on_conflict, store_call
from gateway.stores.errors import InvalidContinuation, StoreUnavailable
from tests.support.constants import TENANT

ACTOR = Actor("function-key:abc123", "req-1", "203.0.113.7")


async def test_a_write_with_a_stale_etag_is_read_again_unless_the_caller_pinned_a_version(services):
    client = (await services.admin_api.clients.create(ACTOR, "Teams Patients", [TENANT])).client
    newer = await services.clients.replace(replace(client, display_name="Renamed"), if_match=client.etag)
    stale_write = lambda: services.clients.replace(replace(client, display_name="Lost"), if_match=client.etag)  # noqa: E731
    with pytest.raises(Changed):
        await conditional_write(stale_write)
    with pytest.raises(Problem) as pinned:
        await conditional_write(stale_write, stale=precondition_failed())
    assert pinned.value.status == 412
    assert (await services.clients.get(client.client_id)).display_name == newer.display_name == "Renamed"


async def test_a_vanished_record_is_404_when_the_operation_says_so(services):
    client = (await services.admin_api.clients.create(ACTOR, "Teams Patients", [TENANT])).client
    await services.clients.delete(client.client_id, if_match=client.etag)
    with pytest.raises(Problem) as gone:
        await conditional_write(lambda: services.clients.delete(client.client_id, if_match=client.etag),
                                gone=not_found("No such client."))
    assert gone.value.status == 404


async def test_an_unreachable_store_is_503_with_retry_after():
    async def unreachable() -> None:
        raise StoreUnavailable("injected")

    for call in (lambda: conditional_write(unreachable), lambda: store_call(unreachable())):
        with pytest.raises(Problem) as caught:
            await call()
        assert caught.value.status == 503 and "Retry-After" in caught.value.headers


async def test_a_refused_continuation_token_is_400_naming_the_parameter():
    async def refused() -> None:
        raise InvalidContinuation("bad token")

    with pytest.raises(Problem) as caught:
        await store_call(refused())
    assert caught.value.status == 400 and [e.field for e in caught.value.errors] == ["continuation"]


async def test_retry_on_conflict_reads_again_until_the_write_lands():
    attempts: list[int] = []

    async def attempt(number: int) -> str:
        attempts.append(number)
        if number < 2:
            raise Changed()
        return "stored"

    assert await retry_on_conflict(attempt, "kept changing") == "stored"
    assert attempts == [0, 1, 2]


async def test_retry_on_conflict_gives_up_with_409_after_its_attempts():
    attempts: list[int] = []

    async def attempt(number: int) -> str:
        attempts.append(number)
        raise Changed()

    with pytest.raises(Problem) as caught:
        await retry_on_conflict(attempt, "The client kept changing; retry.")
    assert caught.value.status == 409 and caught.value.detail == "The client kept changing; retry."
    assert attempts == list(range(CONFLICT_RETRIES))


async def test_forget_client_makes_this_worker_read_the_changed_record(services):
    client = (await services.admin_api.clients.create(ACTOR, "Teams Patients", [TENANT])).client
    assert (await services.client_directory.get(client.client_id)).enabled
    await services.clients.replace(replace(client, enabled=False), if_match=client.etag)
    assert (await services.client_directory.get(client.client_id)).enabled  # cached until forgotten
    services.forget_client(client.client_id)
    assert not (await services.client_directory.get(client.client_id)).enabled


async def test_forget_route_makes_this_worker_read_the_changed_route(services):
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(
        fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3"))
    assert (await services.route_directory.enabled_route(TENANT)) is not None
    await services.routes.replace(replace(route, enabled=False), if_match=route.etag)
    assert (await services.route_directory.enabled_route(TENANT)) is not None  # cached until forgotten
    services.forget_route(TENANT)
    assert (await services.route_directory.enabled_route(TENANT)) is None
