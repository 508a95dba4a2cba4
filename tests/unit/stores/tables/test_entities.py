"""Model <-> entity mapping (gateway/stores/tables/entities.py): keys, JSON columns, UTC datetimes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

from gateway.stores.models import AuditRecord, Route, UpstreamAuth
from gateway.stores.tables.entities import (
    audit_filter,
    audit_from_entity,
    audit_partition_key,
    audit_row_key,
    audit_time_key,
    audit_to_entity,
    client_from_entity,
    client_to_entity,
    route_from_entity,
    route_to_entity,
    utc,
)
from tests.unit.stores.contracts import T0, full_client, full_route

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_utc_takes_naive_as_utc_and_converts_offsets() -> None:
    assert utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    converted = utc(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    assert converted == datetime(2026, 1, 1, 10, tzinfo=UTC) and converted.tzinfo is UTC
    assert type(converted) is datetime


def test_route_entity_round_trip_and_columns() -> None:
    route = full_route()
    entity = route_to_entity(route, created_on=NOW, updated_on=NOW)
    assert entity["PartitionKey"] == route.tenant_id and entity["RowKey"] == ""
    assert json.loads(entity["UpstreamAuth"]) == {
        "type": "clientCredentials", "tokenUrl": route.upstream_auth.token_url, "clientId": "gateway-app",
        "scope": "system/*.read", "secretName": "gw-upstream-a"}
    back = route_from_entity(entity, 'W/"e"')
    assert back == route.__class__(**{**route.__dict__, "created_on": NOW, "updated_on": NOW, "etag": 'W/"e"'})


def test_route_none_timeouts_are_omitted_and_int_timeouts_become_floats() -> None:
    route = Route(tenant_id="t", fhir_base_url="http://x", fhir_version="R4", read_timeout_seconds=7)
    entity = route_to_entity(route, created_on=NOW, updated_on=NOW)
    assert "ConnectTimeoutSeconds" not in entity and entity["ReadTimeoutSeconds"] == 7.0
    back = route_from_entity(entity, None)
    assert back.connect_timeout_seconds is None and isinstance(back.read_timeout_seconds, float)
    assert back.upstream_auth == UpstreamAuth()


def test_client_entity_keeps_secret_metadata_never_values() -> None:
    client = full_client()
    entity = client_to_entity(client, created_on=NOW, updated_on=NOW)
    secrets = json.loads(entity["Secrets"])
    assert [set(s) for s in secrets] == [{"secretId", "hint", "createdOn", "expiresOn"}] * 2
    assert secrets[1]["createdOn"] == "2026-02-01T10:00:00+00:00"
    back = client_from_entity(entity, None)
    assert back.secrets == client.secrets and back.allowed_tenants == client.allowed_tenants


def test_audit_keys_sort_newest_first() -> None:
    moments = [T0 - timedelta(days=400), T0 - timedelta(microseconds=1), T0, T0 + timedelta(microseconds=1),
               T0 + timedelta(seconds=2), datetime(9999, 12, 31, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)]
    keys = [(audit_partition_key(m.date()), audit_row_key(m, "id")) for m in moments]
    ordered = [m for _, m in sorted(zip(keys, moments, strict=True))]
    assert ordered == sorted(moments, reverse=True)
    assert {len(audit_time_key(m)) for m in moments} == {18}
    assert audit_partition_key(date(2026, 3, 14)) == "79739685"


def test_audit_filter_bounds() -> None:
    since, until = T0, T0 + timedelta(days=2)
    query, params = audit_filter(since, until)
    assert query == "PartitionKey ge @pkLow and RowKey ge @rkLow and PartitionKey le @pkHigh and RowKey lt @rkHigh"
    last = until - timedelta(microseconds=1)
    assert params == {"pkLow": audit_partition_key(last.date()), "rkLow": audit_time_key(last),
                      "pkHigh": audit_partition_key(since.date()),
                      "rkHigh": audit_time_key(since - timedelta(microseconds=1))}
    assert audit_filter(None, None) == ("", {})


def test_audit_entity_round_trip() -> None:
    record = AuditRecord(action="a", target_type="client", target_id="c", actor="me",
                         timestamp=T0.astimezone(timezone(timedelta(hours=-5))), request_id="r",
                         source_address="::1", outcome="failure", details={"k": [1, "two"]}, record_id="rid")
    entity = audit_to_entity(record)
    assert "Timestamp" not in entity  # the service's own property
    back = audit_from_entity(entity)
    assert back == AuditRecord(**{**record.__dict__, "timestamp": T0})


def test_audit_filter_at_the_first_representable_instant() -> None:
    # ?since=0001-01-01T00:00:00Z or ?until=... is a valid RFC 3339 date-time the admin API accepts:
    # the bounds must not step one microsecond before datetime.min (OverflowError, a 500).
    first = datetime.min.replace(tzinfo=UTC)
    query, params = audit_filter(first, None)
    assert query == ""  # every record is at or after the first instant
    query, params = audit_filter(None, first)
    # nothing is before the first instant: a filter no row key satisfies (keys are 18 digits)
    assert query == "RowKey lt @rkNone" and params == {"rkNone": ""}
    query, params = audit_filter(first, first + timedelta(microseconds=1))
    assert params["rkLow"] == audit_time_key(first)
