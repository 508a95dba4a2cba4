"""The registry of upstream authentication kinds: every kind reads the rows already in the routes table, writes
them back column for column, and owns its admin input, its OpenAPI fragment and its view."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.admin.openapi import openapi_document, schema_root
from gateway.admin.schema import Validator
from gateway.admin.views import upstream_auth_json
from gateway.stores.models import UpstreamAuth
from gateway.stores.tables.entities import route_from_entity
from gateway.upstream.client_credentials import ClientCredentialsAuth
from gateway.upstream.kind import Misconfigured
from gateway.upstream.managed_identity import ManagedIdentityAuth
from gateway.upstream.none import NoUpstreamAuth
from gateway.upstream.private_key_jwt import PrivateKeyJwtAuth
from gateway.upstream.registry import KINDS, kind_named, kind_of, value_of
from tests.fixtures.common import make_settings
from tests.support.constants import TENANT

STORED_ROWS = {
    # The ``UpstreamAuth`` column of routes as the Table stores have written it, kind by kind.
    "none": ('{"type":"none"}', NoUpstreamAuth()),
    "clientCredentials": (
        '{"clientId":"gw","scope":"system/*.read","secretName":"gw-upstream-t-1a2b","tokenUrl":"https://idp/token",'
        '"type":"clientCredentials"}',
        ClientCredentialsAuth(token_url="https://idp/token", client_id="gw", scope="system/*.read",
                              secret_name="gw-upstream-t-1a2b")),
    "managedIdentity": ('{"scope":"https://ehr.example/.default","type":"managedIdentity"}',
                        ManagedIdentityAuth(scope="https://ehr.example/.default")),
    "managedIdentity without scope": ('{"type":"managedIdentity"}', ManagedIdentityAuth()),
    "privateKeyJwt": (
        '{"algorithm":"ES384","clientId":"gw","keyName":"st-mary","scope":"system/*.rs",'
        '"tokenUrl":"https://ehr.example/auth/token","type":"privateKeyJwt"}',
        PrivateKeyJwtAuth(token_url="https://ehr.example/auth/token", client_id="gw", scope="system/*.rs",
                          algorithm="ES384", key_name="st-mary")),
}


def stored_route(column: str | None):
    entity = {"PartitionKey": TENANT, "RowKey": "", "FhirBaseUrl": "https://ehr.example/fhir", "FhirVersion": "R4",
              "CreatedOn": datetime(2026, 1, 1, tzinfo=UTC)}
    if column is not None:
        entity["UpstreamAuth"] = column
    return route_from_entity(entity, 'W/"1"')


@pytest.mark.parametrize("row", STORED_ROWS)
def test_each_stored_row_reads_as_its_kinds_value_and_writes_back_the_same_columns(row):
    column, value = STORED_ROWS[row]
    record = stored_route(column).upstream_auth
    assert value_of(record) == value
    kind = kind_of(value)
    assert kind.name == record.type
    assert kind.to_record(value, record.secret_name) == record


def test_a_route_stored_before_upstream_authentication_existed_has_none():
    assert value_of(stored_route(None).upstream_auth) == NoUpstreamAuth()


@pytest.mark.parametrize("record", [
    UpstreamAuth(type="clientCredentials", token_url="https://idp/token", client_id="gw"),  # no secret stored
    UpstreamAuth(type="clientCredentials", client_id="gw", secret_name="s"),
    UpstreamAuth(type="privateKeyJwt", token_url="https://idp/token", client_id="gw"),  # no algorithm
    UpstreamAuth(type="privateKeyJwt", client_id="gw", algorithm="RS384"),
    UpstreamAuth(type="hmacSharedKey"),  # type: ignore[arg-type] - a kind this gateway does not know
])
def test_a_row_its_kind_cannot_read_is_misconfigured_not_a_crash(record):
    with pytest.raises(Misconfigured) as refused:
        value_of(record)
    assert str(refused.value) == "The connection's provider authentication is not configured correctly."


def test_a_private_key_jwt_row_without_a_key_name_signs_with_the_gateways_key():
    record = UpstreamAuth(type="privateKeyJwt", token_url="https://idp/token", client_id="gw", algorithm="RS384")
    assert value_of(record) == PrivateKeyJwtAuth(token_url="https://idp/token", client_id="gw", key_name="gateway")


ADMIN_INPUTS = {
    "none": {"type": "none"},
    "clientCredentials": {"type": "clientCredentials", "tokenUrl": "https://idp/token", "clientId": "gw",
                          "clientSecret": "s3cr3t", "scope": "system/*.read"},
    "managedIdentity": {"type": "managedIdentity", "scope": "https://ehr.example/.default"},
    "privateKeyJwt": {"type": "privateKeyJwt", "tokenUrl": "https://idp/token", "clientId": "gw"},
}


def test_the_registry_holds_every_kind_and_the_examples_cover_them_all():
    assert list(KINDS) == ["none", "clientCredentials", "managedIdentity", "privateKeyJwt"] == list(ADMIN_INPUTS)


@pytest.mark.parametrize("name", list(ADMIN_INPUTS))
def test_each_kind_reads_the_admin_input_its_own_schema_accepts(name):
    kind, body = kind_named(name), ADMIN_INPUTS[name]
    validator = Validator(schema_root())
    assert validator.validate(body, kind.schema()) == []
    assert validator.validate({**body, "unknown": 1}, kind.schema()) != []  # additionalProperties: false
    value = kind.from_input(body)
    assert kind_of(value) is kind
    record = kind.to_record(value, "a-secret-name" if kind.secret_field else None)
    view = upstream_auth_json(record)
    assert view["type"] == name and view["clientSecretSet"] == (kind.secret_field is not None)
    assert "s3cr3t" not in json.dumps(view) and "a-secret-name" not in json.dumps(view)
    assert set(kind.view(record)) == set(kind.view_schema())


def test_the_openapi_document_offers_exactly_the_registered_kinds():
    schemas = openapi_document(make_settings())["components"]["schemas"]
    choice = schemas["UpstreamAuthInput"]
    assert choice["discriminator"]["mapping"] == {
        name: f"#/components/schemas/{kind.schema_name}" for name, kind in KINDS.items()}
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in choice["oneOf"]] == [k.schema_name for k in KINDS.values()]
    assert schemas["UpstreamAuth"]["properties"]["type"]["enum"] == list(KINDS)
    for kind in KINDS.values():
        assert schemas[kind.schema_name]["properties"]["type"]["const"] == kind.name


def test_kinds_that_send_no_credentials_are_asked_for_nothing():
    assert [name for name, kind in KINDS.items() if not kind.sends_credentials] == ["none"]
