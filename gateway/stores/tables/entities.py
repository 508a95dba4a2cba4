"""Mapping between the data model (``gateway.stores.models``) and Table entities.

Entity design:

* routes: one entity per route, ``PartitionKey`` = tenant id, ``RowKey`` = "";
  ``upstreamAuth`` as a JSON column.
* clients: one entity per client, ``PartitionKey`` = client id, ``RowKey`` = "";
  ``AllowedTenants`` and ``Secrets`` (secretId, hint, createdOn, expiresOn;
  never a secret value) as JSON columns; ``Authentication`` (method, jwksUrl,
  jwks: public keys only) as a JSON column and ``AllowedScopes`` as text, both
  absent on records written before they existed (client secret; system/*.rs).
* audit: ``PartitionKey`` = inverted day, ``RowKey`` = inverted timestamp +
  "-" + record id. Table Storage returns entities in ascending key order
  (https://learn.microsoft.com/rest/api/storageservices/query-timeout-and-pagination),
  so inverted keys give newest first, and a since/until window is a key-range
  scan over a few day partitions.

Datetimes are stored as Edm.DateTime in UTC and come back timezone-aware UTC
(naive inputs are taken as UTC); optional values that are None are omitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.stores.models import (
    DEFAULT_ALLOWED_SCOPES,
    AuditRecord,
    Client,
    ClientAuthentication,
    Route,
    SecretMetadata,
    UpstreamAuth,
)

ENTITY_ROW_KEY = ""  # routes and clients: one entity per partition

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_MAX_MICROS = 10**18 - 1  # > microseconds from year 1 to 9999 (3.2e17): keys stay 18 digits
_MAX_DAY = 99999999


def utc(value: datetime) -> datetime:
    """``value`` as a plain, timezone-aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                    value.microsecond, tzinfo=UTC)


def _utc_or_none(value: Any) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


def _iso(value: datetime) -> str:
    return utc(value).isoformat()


def _parse_iso(value: str) -> datetime:
    return utc(datetime.fromisoformat(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _without_none(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if v is not None}


# --- routes -----------------------------------------------------------------------------------------------

def _auth_to_json(auth: UpstreamAuth) -> str:
    return _dumps(_without_none({"type": auth.type, "tokenUrl": auth.token_url, "clientId": auth.client_id,
                                 "scope": auth.scope, "secretName": auth.secret_name,
                                 "algorithm": auth.algorithm, "keyName": auth.key_name}))


def _auth_from_json(raw: str | None) -> UpstreamAuth:
    data = json.loads(raw) if raw else {}
    return UpstreamAuth(type=data.get("type", "none"), token_url=data.get("tokenUrl"),
                        client_id=data.get("clientId"), scope=data.get("scope"),
                        secret_name=data.get("secretName"), algorithm=data.get("algorithm"),
                        key_name=data.get("keyName"))


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def route_to_entity(route: Route, *, created_on: datetime, updated_on: datetime) -> dict[str, Any]:
    return _without_none({
        "PartitionKey": route.tenant_id,
        "RowKey": ENTITY_ROW_KEY,
        "FhirBaseUrl": route.fhir_base_url,
        "FhirVersion": route.fhir_version,
        "DisplayName": route.display_name,
        "Enabled": bool(route.enabled),
        "AllowWrites": bool(route.allow_writes),
        "BatchMode": route.batch_mode,
        "ConnectTimeoutSeconds": _float_or_none(route.connect_timeout_seconds),
        "ReadTimeoutSeconds": _float_or_none(route.read_timeout_seconds),
        "PrivateNetwork": bool(route.private_network),
        "UpstreamAuth": _auth_to_json(route.upstream_auth),
        "CreatedOn": utc(created_on),
        "UpdatedOn": utc(updated_on),
    })


def route_from_entity(entity: Mapping[str, Any], etag: str | None) -> Route:
    return Route(
        tenant_id=entity["PartitionKey"],
        fhir_base_url=entity.get("FhirBaseUrl", ""),
        fhir_version=entity.get("FhirVersion", ""),
        display_name=entity.get("DisplayName", ""),
        enabled=bool(entity.get("Enabled", True)),
        allow_writes=bool(entity.get("AllowWrites", False)),
        batch_mode=entity.get("BatchMode", "passthrough"),
        connect_timeout_seconds=_float_or_none(entity.get("ConnectTimeoutSeconds")),
        read_timeout_seconds=_float_or_none(entity.get("ReadTimeoutSeconds")),
        private_network=bool(entity.get("PrivateNetwork", False)),
        upstream_auth=_auth_from_json(entity.get("UpstreamAuth")),
        created_on=_utc_or_none(entity.get("CreatedOn")),
        updated_on=_utc_or_none(entity.get("UpdatedOn")),
        etag=etag,
    )


# --- clients ----------------------------------------------------------------------------------------------

def _secrets_to_json(secrets: tuple[SecretMetadata, ...]) -> str:
    return _dumps([{"secretId": s.secret_id, "hint": s.hint, "createdOn": _iso(s.created_on),
                    "expiresOn": _iso(s.expires_on)} for s in secrets])


def _secrets_from_json(raw: str | None) -> tuple[SecretMetadata, ...]:
    return tuple(SecretMetadata(secret_id=s["secretId"], hint=s["hint"], created_on=_parse_iso(s["createdOn"]),
                                expires_on=_parse_iso(s["expiresOn"]))
                 for s in (json.loads(raw) if raw else []))


def _client_auth_to_json(auth: ClientAuthentication) -> str:
    return _dumps(_without_none({"method": auth.method, "jwksUrl": auth.jwks_url, "jwks": auth.jwks}))


def _client_auth_from_json(raw: str | None) -> ClientAuthentication:
    data = json.loads(raw) if raw else {}
    return ClientAuthentication(method=data.get("method", "client_secret"), jwks_url=data.get("jwksUrl"),
                                jwks=data.get("jwks"))


def client_to_entity(client: Client, *, created_on: datetime, updated_on: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": client.client_id,
        "RowKey": ENTITY_ROW_KEY,
        "DisplayName": client.display_name,
        "AllowedTenants": _dumps(list(client.allowed_tenants)),
        "Enabled": bool(client.enabled),
        "Secrets": _secrets_to_json(client.secrets),
        "Authentication": _client_auth_to_json(client.authentication),
        "AllowedScopes": client.allowed_scopes,
        "CreatedOn": utc(created_on),
        "UpdatedOn": utc(updated_on),
    }


def client_from_entity(entity: Mapping[str, Any], etag: str | None) -> Client:
    raw_tenants = entity.get("AllowedTenants")
    return Client(
        client_id=entity["PartitionKey"],
        display_name=entity.get("DisplayName", ""),
        allowed_tenants=tuple(json.loads(raw_tenants)) if raw_tenants else (),
        enabled=bool(entity.get("Enabled", True)),
        secrets=_secrets_from_json(entity.get("Secrets")),
        authentication=_client_auth_from_json(entity.get("Authentication")),
        allowed_scopes=entity.get("AllowedScopes") or DEFAULT_ALLOWED_SCOPES,
        created_on=_utc_or_none(entity.get("CreatedOn")),
        updated_on=_utc_or_none(entity.get("UpdatedOn")),
        etag=etag,
    )


# --- audit ------------------------------------------------------------------------------------------------

def _micros(moment: datetime) -> int:
    delta = utc(moment) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def audit_partition_key(day: date) -> str:
    """Inverted day (later days sort first)."""
    return f"{_MAX_DAY - int(day.strftime('%Y%m%d')):08d}"


def audit_time_key(moment: datetime) -> str:
    """Inverted microsecond timestamp, 18 digits (later moments sort first)."""
    return f"{_MAX_MICROS - _micros(moment):018d}"


def audit_row_key(moment: datetime, record_id: str) -> str:
    return f"{audit_time_key(moment)}-{record_id}"


def audit_filter(since: datetime | None, until: datetime | None) -> tuple[str, dict[str, str]]:
    """OData filter and parameters selecting records with ``since <= timestamp < until``.

    RowKey bounds compare the fixed-width time prefix only:
    ``t >= since`` iff ``RowKey < time_key(since - 1 µs)`` and
    ``t < until`` iff ``RowKey >= time_key(until - 1 µs)``.
    """
    clauses: list[str] = []
    params: dict[str, str] = {}
    tick = timedelta(microseconds=1)
    if until is not None and utc(until) <= _EPOCH:  # nothing is earlier (and _EPOCH - 1 µs overflows)
        return "RowKey lt @rkNone", {"rkNone": ""}
    if since is not None and utc(since) <= _EPOCH:  # every record is at or after the first instant
        since = None
    if until is not None:
        last = utc(until) - tick
        clauses += ["PartitionKey ge @pkLow", "RowKey ge @rkLow"]
        params |= {"pkLow": audit_partition_key(last.date()), "rkLow": audit_time_key(last)}
    if since is not None:
        first = utc(since)
        clauses += ["PartitionKey le @pkHigh", "RowKey lt @rkHigh"]
        params |= {"pkHigh": audit_partition_key(first.date()), "rkHigh": audit_time_key(first - tick)}
    return " and ".join(clauses), params


def audit_to_entity(record: AuditRecord) -> dict[str, Any]:
    moment = utc(record.timestamp)
    return {
        "PartitionKey": audit_partition_key(moment.date()),
        "RowKey": audit_row_key(moment, record.record_id),
        "RecordId": record.record_id,
        "Action": record.action,
        "TargetType": record.target_type,
        "TargetId": record.target_id,
        "Actor": record.actor,
        "OccurredOn": moment,
        "RequestId": record.request_id,
        "SourceAddress": record.source_address,
        "Outcome": record.outcome,
        "Details": _dumps(record.details),
    }


def audit_from_entity(entity: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        action=entity.get("Action", ""),
        target_type=entity.get("TargetType", ""),
        target_id=entity.get("TargetId", ""),
        actor=entity.get("Actor", ""),
        timestamp=utc(entity["OccurredOn"]),
        request_id=entity.get("RequestId", ""),
        source_address=entity.get("SourceAddress", ""),
        outcome=entity.get("Outcome", "success"),
        details=json.loads(entity.get("Details") or "{}"),
        record_id=entity.get("RecordId", ""),
    )
