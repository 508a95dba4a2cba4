"""Admin operations on the in-memory twins: behaviour, rollback, concurrency, audit."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.admin.actor import Actor
from gateway.admin.problems import Problem
from gateway.admin.verifiers import NewSecret
from gateway.credentials import check_verifier, upstream_secret_name, verifier_secret_name
from gateway.services import memory_services
from gateway.stores.errors import StoreError
from tests.fixtures.common import make_settings
from tests.support.admin import cc_route_spec, route_spec
from tests.support.constants import TENANT
from tests.support.vault import deployment_secret
from tests.unit.admin.conftest import OTHER_TENANT
from tests.unit.admin.doubles import Failing, Yielding

ACTOR = Actor("function-key:abc123", "req-1", "203.0.113.7")



async def verifier_names(services) -> set[str]:
    """Every secret but the signing keys (the vault holds the deployment's first key from the start)."""
    return {s.name for s in await services.secrets.list() if not deployment_secret(s.name)}


# --------------------------------------------------------------------------- clients and secrets

async def test_create_client_stores_only_a_verifier_and_metadata(services, clock):
    client, secret_id, secret, expires_on = await services.admin_api.clients.create(ACTOR, "Teams Patients", [TENANT])
    name = verifier_secret_name("gw", client.client_id, secret_id)
    stored = await services.secrets.get(name)
    assert check_verifier(stored.value, secret)
    assert secret not in stored.value
    assert stored.tags["clientId"] == client.client_id and stored.tags["secretId"] == secret_id
    assert stored.expires_on == expires_on
    assert (expires_on - clock.now()).days == 180
    record = await services.clients.get(client.client_id)
    assert record.allowed_tenants == (TENANT,)
    assert [s.secret_id for s in record.secrets] == [secret_id]
    assert record.secrets[0].hint == secret[-4:]
    assert secret not in repr(record)


async def test_create_client_canonicalises_tenants_and_rejects_bad_ones(services):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT.upper(), TENANT])
    assert client.allowed_tenants == (TENANT,)
    with pytest.raises(Problem) as bad:
        await services.admin_api.clients.create(ACTOR, "c", ["not-a-guid"])
    assert bad.value.status == 422 and bad.value.errors[0].field == "allowedTenants/0"
    with pytest.raises(Problem) as mixed:
        await services.admin_api.clients.create(ACTOR, "c", ["*", TENANT])
    assert mixed.value.status == 422


async def test_create_client_rolls_back_the_verifier_when_the_table_fails(services):
    services.clients = Failing(services.clients, "create")
    with pytest.raises(Problem) as failure:
        await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    assert failure.value.status == 503 and failure.value.headers["Retry-After"]
    assert await verifier_names(services) == set()
    assert services.audit.records == []


async def test_create_client_with_key_vault_down_changes_nothing(services):
    services.secrets.available = False
    with pytest.raises(Problem) as failure:
        await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    assert failure.value.status == 503
    assert (await services.clients.list()).items == []


async def test_second_secret_allowed_third_refused(services):
    client, first_id, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    second = await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    assert {s.secret_id for s in second.client.secrets} == {first_id, second.secret_id}
    with pytest.raises(Problem) as third:
        await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    assert third.value.status == 409
    assert len(await verifier_names(services)) == 2


async def test_expired_secrets_do_not_count_towards_the_limit(services, clock):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    clock.advance(181 * 86400)
    fresh = await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    assert len(fresh.client.active_secrets(clock.now())) == 1


async def test_add_secret_to_unknown_client_is_404(services):
    with pytest.raises(Problem) as missing:
        await services.admin_api.client_secrets.add(ACTOR, "00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404


async def test_add_secret_rolls_back_the_verifier_when_the_table_fails(services):
    client, first_id, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    services.clients = Failing(services.clients, "replace")
    with pytest.raises(Problem) as failure:
        await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    assert failure.value.status == 503
    assert await verifier_names(services) == {verifier_secret_name("gw", client.client_id, first_id)}
    assert [s.secret_id for s in (await services.clients.get(client.client_id)).secrets] == [first_id]


async def test_an_unexpected_table_error_leaves_no_verifier_behind(services):
    client, first_id, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    clients = services.clients
    services.clients = Failing(clients, "replace", error=RuntimeError("unexpected table answer"))
    with pytest.raises(RuntimeError):  # the entry adapter answers 500
        await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    assert await verifier_names(services) == {verifier_secret_name("gw", client.client_id, first_id)}
    services.clients = Failing(clients, "create", error=RuntimeError("unexpected table answer"))
    with pytest.raises(RuntimeError):
        await services.admin_api.clients.create(ACTOR, "other", [TENANT])
    assert await verifier_names(services) == {verifier_secret_name("gw", client.client_id, first_id)}
    assert [c.client_id for c in (await clients.list()).items] == [client.client_id]


async def test_a_new_secret_stays_once_its_metadata_is_stored(services):
    client, first_id, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    services.audit = Failing(services.audit, "append", error=RuntimeError("unexpected audit answer"))
    with pytest.raises(RuntimeError):
        await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    stored = (await services.clients.get(client.client_id)).secrets
    assert len(stored) == 2  # saved before the audit failed: its verifier must still be there
    assert await verifier_names(services) == {verifier_secret_name("gw", client.client_id, s.secret_id)
                                              for s in stored}


async def test_concurrent_secret_creations_end_with_at_most_two_active(services, clock):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    services.clients = Yielding(services.clients)
    services.secrets = Yielding(services.secrets)
    results = await asyncio.gather(*(services.admin_api.client_secrets.add(ACTOR, client.client_id) for _ in range(4)),
                                   return_exceptions=True)
    created = [r for r in results if isinstance(r, NewSecret)]
    refused = [r for r in results if isinstance(r, Problem)]
    assert len(created) == 1 and len(refused) == 3
    assert all(r.status == 409 for r in refused)
    record = await services.clients.get(client.client_id)
    assert len(record.active_secrets(clock.now())) == 2
    assert len(await verifier_names(services)) == 2


async def test_revoke_secret_removes_metadata_and_verifier(services):
    client, first_id, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    second = await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    await services.admin_api.client_secrets.revoke(ACTOR, client.client_id, first_id)
    record = await services.clients.get(client.client_id)
    assert [s.secret_id for s in record.secrets] == [second.secret_id]
    assert await verifier_names(services) == {verifier_secret_name("gw", client.client_id, second.secret_id)}
    with pytest.raises(Problem) as again:
        await services.admin_api.client_secrets.revoke(ACTOR, client.client_id, first_id)
    assert again.value.status == 404


async def test_revoke_and_delete_drop_this_workers_cached_verifiers(services):
    # ClientAuthenticator.invalidate says the admin API calls it on its own worker after revoking.
    from gateway.oauth.client_auth import ClientCredentials

    authenticator = services.client_authenticator
    client, first_id, first, _ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    second = await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    for secret in (first, second.secret):
        await authenticator.authenticate(ClientCredentials(client.client_id, secret, "client_secret_post"))
    assert len(authenticator._verifiers) == 2
    await services.admin_api.client_secrets.revoke(ACTOR, client.client_id, first_id)
    assert len(authenticator._verifiers) == 1
    await services.admin_api.clients.delete(ACTOR, client.client_id)
    assert len(authenticator._verifiers) == 0


async def test_revoke_secret_restores_metadata_when_key_vault_fails(services):
    client, first_id, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    services.secrets = Failing(services.secrets, "delete")
    with pytest.raises(Problem) as failure:
        await services.admin_api.client_secrets.revoke(ACTOR, client.client_id, first_id)
    assert failure.value.status == 503
    record = await services.clients.get(client.client_id)
    assert [s.secret_id for s in record.secrets] == [first_id]


async def test_update_client_is_the_kill_switch_and_invalidates_the_cache(services):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    directory = services.client_directory
    assert (await directory.get(client.client_id)).enabled
    updated = await services.admin_api.clients.update(ACTOR, client.client_id, enabled=False,
                                                      allowed_tenants=[OTHER_TENANT, TENANT])
    assert not updated.enabled and updated.allowed_tenants == (OTHER_TENANT, TENANT)
    assert not (await directory.get(client.client_id)).enabled


async def test_update_client_with_stale_etag_is_412_and_changes_nothing(services):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    await services.admin_api.clients.update(ACTOR, client.client_id, display_name="renamed")
    with pytest.raises(Problem) as stale:
        await services.admin_api.clients.update(ACTOR, client.client_id, enabled=False, if_match=client.etag)
    assert stale.value.status == 412
    assert (await services.clients.get(client.client_id)).enabled


async def test_delete_client_removes_record_and_verifiers(services):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    await services.admin_api.client_secrets.add(ACTOR, client.client_id)
    await services.admin_api.clients.delete(ACTOR, client.client_id)
    assert await services.clients.get(client.client_id) is None
    assert await verifier_names(services) == set()
    assert await services.client_directory.get(client.client_id) is None


async def test_delete_client_restores_the_record_when_key_vault_fails(services):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    services.secrets = Failing(services.secrets, "delete")
    with pytest.raises(Problem) as failure:
        await services.admin_api.clients.delete(ACTOR, client.client_id)
    assert failure.value.status == 503
    restored = await services.clients.get(client.client_id)
    assert restored is not None and restored.secrets == client.secrets


async def test_delete_client_restores_the_record_when_key_vault_refuses_unexpectedly(services):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    services.secrets = Failing(services.secrets, "delete", error=StoreError("Key Vault refused delete: HTTP 400"))
    with pytest.raises(StoreError):  # the admin endpoint answers 500; the client is still there to delete again
        await services.admin_api.clients.delete(ACTOR, client.client_id)
    restored = await services.clients.get(client.client_id)
    assert restored is not None and restored.secrets == client.secrets


async def test_delete_client_with_stale_etag_is_412(services):
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    await services.admin_api.clients.update(ACTOR, client.client_id, display_name="x")
    with pytest.raises(Problem) as stale:
        await services.admin_api.clients.delete(ACTOR, client.client_id, if_match=client.etag)
    assert stale.value.status == 412


# --------------------------------------------------------------------------- routes

async def test_put_route_creates_then_replaces(services):
    route, created = await services.admin_api.routes.put(ACTOR, TENANT, route_spec())
    assert created and route.etag
    replaced, created_again = await services.admin_api.routes.put(ACTOR, TENANT, route_spec(display_name="New name",
                                                                                       allow_writes=True))
    assert not created_again and replaced.display_name == "New name" and replaced.allow_writes
    assert replaced.etag != route.etag


async def test_put_route_invalidates_this_workers_route_cache(services):
    await services.admin_api.routes.put(ACTOR, TENANT, route_spec())
    directory = services.route_directory
    assert (await directory.get(TENANT)).display_name == "Contoso"
    await services.admin_api.routes.put(ACTOR, TENANT, route_spec(display_name="Changed"))
    assert (await directory.get(TENANT)).display_name == "Changed"


@pytest.mark.parametrize("url", ["http://fhir.example.org/fhir", "https://10.0.0.5/fhir",
                                 "https://127.0.0.1/fhir", "https://169.254.169.254/fhir"])
async def test_production_refuses_unsafe_provider_urls(url, clock):
    settings = make_settings(GATEWAY_ENVIRONMENT="production", PUBLIC_BASE_URL="https://gw.example.org",
                             KEY_VAULT_URL="https://kv.vault.azure.net", TABLES_ENDPOINT="https://t.example.org")
    services = memory_services(settings, clock)
    with pytest.raises(Problem) as refused:
        await services.admin_api.routes.put(ACTOR, TENANT, route_spec(fhir_base_url=url))
    assert refused.value.status == 422 and refused.value.errors[0].field == "fhirBaseUrl"


async def test_private_network_flag_allows_a_private_provider_in_production(clock):
    settings = make_settings(GATEWAY_ENVIRONMENT="production", PUBLIC_BASE_URL="https://gw.example.org",
                             KEY_VAULT_URL="https://kv.vault.azure.net", TABLES_ENDPOINT="https://t.example.org")
    services = memory_services(settings, clock)
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, route_spec(fhir_base_url="https://10.0.0.5/fhir",
                                                                        private_network=True))
    assert route.private_network



async def test_upstream_secret_goes_to_key_vault_and_is_replaced_on_update(services):
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("first-upstream-secret"))
    first_name = route.upstream_auth.secret_name
    assert (await services.secrets.get(first_name)).value == "first-upstream-secret"
    assert "first-upstream-secret" not in repr(route)
    kept, _ = await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec(None, display_name="kept"))
    assert kept.upstream_auth.secret_name == first_name
    replaced, _ = await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("second-upstream-secret"))
    assert replaced.upstream_auth.secret_name != first_name
    assert await services.secrets.get(first_name) is None
    assert (await services.secrets.get(replaced.upstream_auth.secret_name)).value == "second-upstream-secret"
    none_route, _ = await services.admin_api.routes.put(ACTOR, TENANT, route_spec())
    assert none_route.upstream_auth.secret_name is None
    assert await verifier_names(services) == set()


async def test_client_credentials_route_needs_a_secret_the_first_time(services):
    with pytest.raises(Problem) as missing:
        await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec(None))
    assert missing.value.status == 422 and missing.value.errors[0].field == "upstreamAuth/clientSecret"


async def test_put_route_rolls_back_the_new_secret_when_the_table_fails(services):
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("first-upstream-secret"))
    services.routes = Failing(services.routes, "replace")
    with pytest.raises(Problem) as failure:
        await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("second-upstream-secret"))
    assert failure.value.status == 503
    assert await verifier_names(services) == {route.upstream_auth.secret_name}
    assert (await services.routes.get(TENANT)).upstream_auth.secret_name == route.upstream_auth.secret_name


async def test_put_route_removes_the_new_secret_when_the_table_fails_unexpectedly(services):
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("first-upstream-secret"))
    services.routes = Failing(services.routes, "replace", error=RuntimeError("unexpected table answer"))
    with pytest.raises(RuntimeError):  # the entry adapter answers 500; nothing of this PUT is left behind
        await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("second-upstream-secret"))
    assert await verifier_names(services) == {route.upstream_auth.secret_name}
    assert (await services.routes.get(TENANT)).upstream_auth.secret_name == route.upstream_auth.secret_name


async def test_put_route_keeps_the_new_secret_once_the_route_naming_it_is_stored(services):
    await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("first-upstream-secret"))
    services.audit = Failing(services.audit, "append", error=RuntimeError("unexpected audit answer"))
    with pytest.raises(RuntimeError):
        await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("second-upstream-secret"))
    stored = await services.routes.get(TENANT)  # the route was saved before the audit failed: it must still work
    assert (await services.secrets.get(stored.upstream_auth.secret_name)).value == "second-upstream-secret"
    assert await verifier_names(services) == {stored.upstream_auth.secret_name}


async def test_put_route_if_match_and_if_none_match(services):
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, route_spec())
    with pytest.raises(Problem) as exists:
        await services.admin_api.routes.put(ACTOR, TENANT, route_spec(), if_none_match=True)
    assert exists.value.status == 412
    await services.admin_api.routes.put(ACTOR, TENANT, route_spec(), if_match=route.etag)
    with pytest.raises(Problem) as stale:
        await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("s3cret-value"), if_match=route.etag)
    assert stale.value.status == 412
    assert await verifier_names(services) == set()
    with pytest.raises(Problem) as absent:
        await services.admin_api.routes.put(ACTOR, OTHER_TENANT, route_spec(), if_match='W/"1"')
    assert absent.value.status == 412


async def test_delete_route_removes_route_and_upstream_secret(services):
    await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("upstream-secret"))
    await services.admin_api.routes.delete(ACTOR, TENANT)
    assert await services.routes.get(TENANT) is None
    assert await verifier_names(services) == set()
    with pytest.raises(Problem) as again:
        await services.admin_api.routes.delete(ACTOR, TENANT)
    assert again.value.status == 404


async def test_delete_route_restores_the_route_when_key_vault_fails(services):
    await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("upstream-secret"))
    services.secrets = Failing(services.secrets, "delete")
    with pytest.raises(Problem) as failure:
        await services.admin_api.routes.delete(ACTOR, TENANT)
    assert failure.value.status == 503
    assert await services.routes.get(TENANT) is not None


async def test_delete_route_keeps_route_and_secret_together_when_key_vault_refuses_unexpectedly(services):
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("upstream-secret"))
    secrets = services.secrets
    services.secrets = Failing(secrets, "delete", error=StoreError("Key Vault refused delete: HTTP 400"))
    with pytest.raises(StoreError):  # the admin endpoint answers 500
        await services.admin_api.routes.delete(ACTOR, TENANT)
    # The hospital's credential is never left in the vault with no route naming it: both stay, to delete again.
    assert (await services.routes.get(TENANT)).upstream_auth.secret_name == route.upstream_auth.secret_name
    assert (await secrets.get(route.upstream_auth.secret_name)).value == "upstream-secret"
    services.secrets = secrets
    await services.admin_api.routes.delete(ACTOR, TENANT)
    assert await services.routes.get(TENANT) is None and await verifier_names(services) == set()


async def test_store_outage_is_503_with_retry_after(services):
    services.routes.available = False
    for call in (services.admin_api.routes.get(TENANT), services.admin_api.routes.page(),
                 services.admin_api.routes.put(ACTOR, TENANT, route_spec())):
        with pytest.raises(Problem) as failure:
            await call
        assert failure.value.status == 503 and "Retry-After" in failure.value.headers


async def test_upstream_secret_name_is_versioned_per_tenant(services):
    route, _ = await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("x-secret"))
    assert route.upstream_auth.secret_name.startswith(upstream_secret_name("gw", TENANT, ""))


# --------------------------------------------------------------------------- signing keys

async def test_rotate_and_list_signing_keys_with_the_real_key_ring(services):
    first = await services.admin_api.signing_keys.rotate(ACTOR)
    second = await services.admin_api.signing_keys.rotate(ACTOR)
    keys = await services.admin_api.signing_keys.all()
    kids = [k.kid for k in keys]
    assert second.kid == kids[0] and first.kid in kids
    assert {k.kid: k.status for k in keys}[second.kid] == "active"
    actions = [r.action for r in services.audit.records]
    assert actions == ["signing-key.rotate", "signing-key.rotate"]


async def test_signing_key_store_outage_is_503(services):
    services.secrets.available = False
    with pytest.raises(Problem) as failure:
        await services.admin_api.signing_keys.rotate(ACTOR)
    assert failure.value.status == 503


# --------------------------------------------------------------------------- audit

async def test_every_change_is_audited_without_secret_values(services, caplog):
    caplog.set_level(logging.DEBUG)
    new = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    extra = await services.admin_api.client_secrets.add(ACTOR, new.client.client_id)
    await services.admin_api.clients.update(ACTOR, new.client.client_id, enabled=False)
    await services.admin_api.client_secrets.revoke(ACTOR, new.client.client_id, new.secret_id)
    await services.admin_api.routes.put(ACTOR, TENANT, cc_route_spec("upstream-s3cret-value"))
    await services.admin_api.routes.put(ACTOR, TENANT, route_spec())
    await services.admin_api.routes.delete(ACTOR, TENANT)
    await services.admin_api.clients.delete(ACTOR, new.client.client_id)
    records = services.audit.records
    assert [r.action for r in records] == [
        "client.create", "secret.add", "client.update", "secret.revoke",
        "route.create", "route.replace", "route.delete", "client.delete"]
    for record in records:
        assert record.actor == ACTOR.name and record.request_id == "req-1"
        assert record.source_address == "203.0.113.7" and record.outcome == "success"
    assert records[1].details["secretId"] == extra.secret_id
    dump = repr(records) + caplog.text
    for secret in (new.secret, extra.secret, "upstream-s3cret-value"):
        assert secret not in dump
        assert secret.split(".")[-1] not in dump


async def test_failed_changes_write_no_success_record(services):
    services.clients = Failing(services.clients, "create")
    with pytest.raises(Problem):
        await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    assert services.audit.records == []


async def test_audit_outage_does_not_undo_a_completed_change(services, caplog):
    services.audit.available = False
    client, *_ = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    assert await services.clients.get(client.client_id) is not None
    assert "audit write failed" in caplog.text


async def test_list_audit_filters_by_time(services, clock):
    await services.admin_api.routes.put(ACTOR, TENANT, route_spec())
    start = clock.now()
    clock.advance(60)
    await services.admin_api.routes.put(ACTOR, OTHER_TENANT, route_spec())
    page = await services.admin_api.audit.list(since=start.replace(second=30))
    assert [r.target_id for r in page.items] == [OTHER_TENANT]
    page = await services.admin_api.audit.list(until=start.replace(second=30))
    assert [r.target_id for r in page.items] == [TENANT]


def test_function_key_actor_is_a_fingerprint_never_the_key():
    actor = Actor.from_function_key("very-secret-function-key")
    assert actor.name.startswith("function-key:") and "very-secret" not in actor.name
    assert actor == Actor.from_function_key("very-secret-function-key")
    assert actor != Actor.from_function_key("another-key")


async def test_new_secret_repr_hides_the_secret(services):
    new = await services.admin_api.clients.create(ACTOR, "c", [TENANT])
    assert new.secret not in repr(new)
