"""Admin operations against Azurite (Table Storage) and the Key Vault emulator, over real sockets."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.admin.actor import Actor
from gateway.admin.problems import Problem
from gateway.admin.verifiers import NewSecret
from gateway.credentials import check_verifier, verifier_secret_name
from tests.support.admin import cc_route_spec, route_spec
from tests.support.constants import TENANT
from tests.support.vault import deployment_secret
from tests.unit.admin.doubles import Failing

pytestmark = pytest.mark.integration

OTHER = "11111111-2222-3333-4444-555555555555"
ACTOR = Actor("function-key:integration", "req-int-1", "127.0.0.1")




async def names(services) -> set[str]:
    """The test's secrets (not those the deployment created before it: signing key, client id key)."""
    prefix = services.settings.key_vault_secret_prefix + "-"
    listed = await services.secrets.list()
    return {s.name for s in listed if s.name.startswith(prefix) and not deployment_secret(s.name)}


async def test_client_and_secret_lifecycle(azure_services):
    s = azure_services
    client, first_id, first, expires_on = await s.admin_api.clients.create(ACTOR, "Teams Patients", [TENANT])
    stored = await s.secrets.get(verifier_secret_name(s.settings.key_vault_secret_prefix, client.client_id, first_id))
    assert check_verifier(stored.value, first) and stored.tags["secretId"] == first_id
    second = await s.admin_api.client_secrets.add(ACTOR, client.client_id)
    with pytest.raises(Problem) as third:
        await s.admin_api.client_secrets.add(ACTOR, client.client_id)
    assert third.value.status == 409
    await s.admin_api.client_secrets.revoke(ACTOR, client.client_id, first_id)
    record = await s.admin_api.clients.get(client.client_id)
    assert [m.secret_id for m in record.secrets] == [second.secret_id]
    assert len(await names(s)) == 1
    updated = await s.admin_api.clients.update(ACTOR, client.client_id, enabled=False, allowed_tenants=["*"])
    assert not updated.enabled and updated.allowed_tenants == ("*",)
    page = await s.admin_api.clients.page()
    assert [c.client_id for c in page.items] == [client.client_id]
    await s.admin_api.clients.delete(ACTOR, client.client_id)
    assert await s.clients.get(client.client_id) is None
    assert await names(s) == set()


async def test_route_lifecycle_with_upstream_secret(azure_services):
    s = azure_services
    route, created = await s.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("provider-secret-1"))
    assert created and route.etag
    first_name = route.upstream_auth.secret_name
    assert (await s.secrets.get(first_name)).value == "provider-secret-1"
    replaced, created = await s.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("provider-secret-2"))
    assert not created and replaced.upstream_auth.secret_name != first_name
    assert await names(s) == {replaced.upstream_auth.secret_name}
    with pytest.raises(Problem) as stale:
        await s.admin_api.routes.put(ACTOR, TENANT, route_spec(), if_match=route.etag)
    assert stale.value.status == 412
    assert (await s.admin_api.routes.get(TENANT)).upstream_auth.type == "clientCredentials"
    await s.admin_api.routes.put(ACTOR, OTHER, route_spec())
    first = await s.admin_api.routes.page(page_size=1)
    assert len(first.items) == 1 and first.continuation
    rest = await s.admin_api.routes.page(page_size=1, continuation=first.continuation)
    assert {first.items[0].tenant_id, rest.items[0].tenant_id} == {TENANT, OTHER}
    await s.admin_api.routes.delete(ACTOR, TENANT)
    assert await s.routes.get(TENANT) is None
    assert await names(s) == set()


async def test_concurrent_secret_creations_end_with_at_most_two_active(azure_services):
    s = azure_services
    client, *_ = await s.admin_api.clients.create(ACTOR, "c", [TENANT])
    results = await asyncio.gather(*(s.admin_api.client_secrets.add(ACTOR, client.client_id) for _ in range(4)),
                                   return_exceptions=True)
    assert all(isinstance(r, NewSecret | Problem) for r in results), results
    created = [r for r in results if isinstance(r, NewSecret)]
    assert len(created) == 1
    assert all(r.status == 409 for r in results if isinstance(r, Problem))
    record = await s.clients.get(client.client_id)
    assert len(record.active_secrets(s.clock.now())) == 2
    assert len(await names(s)) == 2


async def test_concurrent_updates_do_not_lose_changes(azure_services):
    s = azure_services
    client, *_ = await s.admin_api.clients.create(ACTOR, "c", [TENANT])
    await asyncio.gather(s.admin_api.clients.update(ACTOR, client.client_id, display_name="renamed"),
                         s.admin_api.client_secrets.add(ACTOR, client.client_id))
    record = await s.clients.get(client.client_id)
    assert record.display_name == "renamed" and len(record.secrets) == 2


async def test_table_failure_rolls_back_the_verifier(azure_services):
    s = azure_services
    s.clients = Failing(s.clients, "create")
    with pytest.raises(Problem) as failure:
        await s.admin_api.clients.create(ACTOR, "c", [TENANT])
    assert failure.value.status == 503 and failure.value.headers["Retry-After"]
    assert await names(s) == set()


async def test_add_secret_table_failure_rolls_back_the_verifier(azure_services):
    s = azure_services
    client, first_id, *_ = await s.admin_api.clients.create(ACTOR, "c", [TENANT])
    real = s.clients
    s.clients = Failing(real, "replace")
    with pytest.raises(Problem) as failure:
        await s.admin_api.client_secrets.add(ACTOR, client.client_id)
    assert failure.value.status == 503
    s.clients = real
    assert [m.secret_id for m in (await s.clients.get(client.client_id)).secrets] == [first_id]
    assert len(await names(s)) == 1


async def test_key_vault_down_changes_nothing(azure_services, keyvault):
    s = azure_services
    keyvault.stop()
    try:
        with pytest.raises(Problem) as failure:
            await s.admin_api.clients.create(ACTOR, "c", [TENANT])
        assert failure.value.status == 503
        with pytest.raises(Problem):
            await s.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("provider-secret"))
    finally:
        keyvault.start()
    assert (await s.clients.list()).items == []
    assert await s.routes.get(TENANT) is None


async def test_revoke_with_key_vault_down_keeps_the_secret(azure_services, keyvault):
    s = azure_services
    client, first_id, *_ = await s.admin_api.clients.create(ACTOR, "c", [TENANT])
    keyvault.stop()
    try:
        with pytest.raises(Problem) as failure:
            await s.admin_api.client_secrets.revoke(ACTOR, client.client_id, first_id)
    finally:
        keyvault.start()
    assert failure.value.status == 503
    assert [m.secret_id for m in (await s.clients.get(client.client_id)).secrets] == [first_id]
    await s.admin_api.client_secrets.revoke(ACTOR, client.client_id, first_id)
    assert await names(s) == set()


async def test_route_table_failure_keeps_the_old_upstream_secret(azure_services):
    s = azure_services
    route, _ = await s.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("provider-secret-1"))
    real = s.routes
    s.routes = Failing(real, "replace")
    with pytest.raises(Problem):
        await s.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("provider-secret-2"))
    s.routes = real
    assert await names(s) == {route.upstream_auth.secret_name}
    assert (await s.secrets.get(route.upstream_auth.secret_name)).value == "provider-secret-1"


async def test_audit_trail_and_no_secret_anywhere(azure_services, caplog):
    caplog.set_level(logging.DEBUG)
    s = azure_services
    start = s.clock.now()
    new = await s.admin_api.clients.create(ACTOR, "c", [TENANT])
    extra = await s.admin_api.client_secrets.add(ACTOR, new.client.client_id)
    await s.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("provider-s3cret-value"))
    await s.admin_api.signing_keys.rotate(ACTOR)
    await s.admin_api.clients.delete(ACTOR, new.client.client_id)
    page = await s.admin_api.audit.list(since=start)
    actions = [r.action for r in page.items]
    assert sorted(actions) == sorted(["client.create", "secret.add", "route.create", "signing-key.rotate",
                                      "client.delete"])
    for r in page.items:
        assert r.actor == ACTOR.name and r.request_id == "req-int-1" and r.source_address == "127.0.0.1"
    dump = repr(page.items) + caplog.text
    for secret in (new.secret, extra.secret, "provider-s3cret-value"):
        assert secret.split(".")[-1] not in dump
    later = await s.admin_api.audit.list(since=s.clock.now().replace(year=2100))
    assert later.items == []


async def test_field_changes_of_the_largest_clients_fit_an_audit_record_in_table_storage(azure_services):
    """500 allowed tenants (the API's maximum) replaced by 500 others: the trail keeps every change readable."""
    s = azure_services
    first = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(500)]
    second = [f"{i:08x}-1111-4000-8000-{i:012x}" for i in range(500)]
    new = await s.admin_api.clients.create(ACTOR, "Wide", first)
    await s.admin_api.clients.update(ACTOR, new.client.client_id, allowed_tenants=second)
    await s.admin_api.clients.delete(ACTOR, new.client.client_id)
    records = {r.action: r for r in (await s.admin_api.audit.list()).items}
    assert records["client.create"].details["changes"]["allowedTenants"] == {"old": None, "new": first}
    update = records["client.update"].details["changes"]["allowedTenants"]
    assert (update["oldCount"], update["newCount"], update["truncated"]) == (500, 500, True)
    assert update["added"] == second[:150] and update["removed"] == first[:150]
    assert records["client.delete"].details["changes"]["allowedTenants"] == {"old": second, "new": None}
