"""Every admin change records each changed field with its old and new value; secrets only as markers."""

from __future__ import annotations

import json

from gateway.admin.actor import Actor
from gateway.admin.audit_changes import LIST_BUDGET_CHARS, changes
from gateway.admin.tenant_routes import RouteSpec
from gateway.upstream.client_credentials import ClientCredentialsAuth
from tests.support.constants import TENANT
from tests.unit.admin.conftest import OTHER_TENANT

ACTOR = Actor("function-key:unit")


def last(services, action: str):
    return [r for r in services.audit.records if r.action == action][-1]


def test_only_changed_fields_are_recorded_with_both_values():
    assert changes({"a": 1, "b": "x", "c": None}, {"a": 1, "b": "y", "c": 2}) == {
        "b": {"old": "x", "new": "y"}, "c": {"old": None, "new": 2}}
    assert changes({}, {"a": 1}) == {"a": {"old": None, "new": 1}}
    assert changes({"a": 1}, {}) == {"a": {"old": 1, "new": None}}


def test_a_replaced_secret_is_noted_though_both_sides_read_set():
    assert changes({"s": "(set)"}, {"s": "(set)"}, replaced_secrets=("s",)) == \
        {"s": {"old": "(set)", "new": "(replaced)"}}
    assert changes({"s": None}, {"s": "(set)"}, replaced_secrets=("s",)) == {"s": {"old": None, "new": "(set)"}}
    assert changes({"s": "(set)"}, {"s": None}) == {"s": {"old": "(set)", "new": None}}


def test_long_lists_are_recorded_as_what_was_added_and_removed():
    old = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(400)]
    new = old[1:] + ["ffffffff-0000-4000-8000-000000000000"]
    change = changes({"allowedTenants": old}, {"allowedTenants": new})["allowedTenants"]
    assert change == {"added": ["ffffffff-0000-4000-8000-000000000000"], "removed": [old[0]], "oldCount": 400,
                      "newCount": 400}
    assert len(json.dumps(change)) < LIST_BUDGET_CHARS


async def test_client_changes_are_recorded_field_by_field(services):
    new = await services.admin_api.clients.create(ACTOR, "Teams", [TENANT])
    cid = new.client.client_id
    assert last(services, "client.create").details["changes"] == {
        "displayName": {"old": None, "new": "Teams"}, "allowedTenants": {"old": None, "new": [TENANT]},
        "enabled": {"old": None, "new": True}, "secrets": {"old": None, "new": [new.secret_id]},
        "allowedScopes": {"old": None, "new": "system/*.rs"},
        "authentication/method": {"old": None, "new": "client_secret"}}
    await services.admin_api.clients.update(ACTOR, cid, allowed_tenants=[TENANT, OTHER_TENANT], enabled=False)
    assert last(services, "client.update").details["changes"] == {
        "allowedTenants": {"old": [TENANT], "new": [TENANT, OTHER_TENANT]}, "enabled": {"old": True, "new": False}}
    second = await services.admin_api.client_secrets.add(ACTOR, cid)
    assert last(services, "secret.add").details["changes"] == {
        "secrets": {"old": [new.secret_id], "new": [new.secret_id, second.secret_id]}}
    await services.admin_api.client_secrets.revoke(ACTOR, cid, new.secret_id)
    assert last(services, "secret.revoke").details["changes"] == {
        "secrets": {"old": [new.secret_id, second.secret_id], "new": [second.secret_id]}}
    await services.admin_api.clients.delete(ACTOR, cid)
    assert last(services, "client.delete").details["changes"] == {
        "displayName": {"old": "Teams", "new": None}, "allowedTenants": {"old": [TENANT, OTHER_TENANT], "new": None},
        "enabled": {"old": False, "new": None}, "secrets": {"old": [second.secret_id], "new": None},
        "allowedScopes": {"old": "system/*.rs", "new": None},
        "authentication/method": {"old": "client_secret", "new": None}}
    trail = json.dumps([r.details for r in services.audit.records])
    assert new.secret not in trail and second.secret not in trail


async def test_route_creation_and_deletion_record_every_field(services):
    spec = RouteSpec(fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3", display_name="C",
                     upstream=ClientCredentialsAuth(token_url="http://127.0.0.1:9999/token", client_id="gw",
                                                    scope="system/*.read"),
                     upstream_secret="pr0v1der")
    await services.admin_api.routes.put(ACTOR, TENANT, spec)
    created = last(services, "route.create").details["changes"]
    assert set(created) == {"fhirBaseUrl", "fhirVersion", "displayName", "enabled", "allowWrites", "batchMode",
                            "privateNetwork", "upstreamAuth/type", "upstreamAuth/tokenUrl", "upstreamAuth/clientId",
                            "upstreamAuth/scope", "upstreamAuth/clientSecret"}  # timeouts: null before and after
    assert created["upstreamAuth/clientSecret"] == {"old": None, "new": "(set)"}
    await services.admin_api.routes.delete(ACTOR, TENANT)
    deleted = last(services, "route.delete").details["changes"]
    assert deleted["upstreamAuth/tokenUrl"] == {"old": "http://127.0.0.1:9999/token", "new": None}
    assert deleted["upstreamAuth/clientSecret"] == {"old": "(set)", "new": None}
    assert "pr0v1der" not in json.dumps([r.details for r in services.audit.records])


async def test_a_signing_key_rotation_records_the_previous_and_new_key(services):
    from gateway.stores.memory import MemorySecretStore

    services.secrets = MemorySecretStore(services.clock)  # a vault without a key yet
    first = await services.admin_api.signing_keys.rotate(ACTOR)
    assert last(services, "signing-key.rotate").details["changes"] == {
        "activeKid": {"old": None, "new": first.kid}, "privateKey": {"old": None, "new": "(set)"}}
    second = await services.admin_api.signing_keys.rotate(ACTOR)
    assert last(services, "signing-key.rotate").details["changes"] == {
        "activeKid": {"old": first.kid, "new": second.kid}, "privateKey": {"old": "(set)", "new": "(replaced)"}}
