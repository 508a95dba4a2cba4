"""HTTP handlers of the admin API: parse and validate, call ``gateway.admin.operations``, render.

Bodies are checked in this order: size (413, MAX_REQUEST_BODY_BYTES), media
type (415), JSON syntax (400), then the OpenAPI schema (422, every invalid
field named in ``errors``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from gateway.admin import operations as ops
from gateway.admin.client_specs import allowed_scopes, client_authentication
from gateway.admin.openapi import SECRET_ID_PATTERN, openapi_document, schema_root
from gateway.admin.paging import decode_continuation, next_link, page_size_of
from gateway.admin.problems import FieldError, Problem, bad_request, validation_failed
from gateway.admin.schema import Validator
from gateway.admin.views import audit_json, client_json, route_json, signing_key_json, timestamp
from gateway.http import Request, Response, json_response
from gateway.services import Services
from gateway.stores.models import DEFAULT_ALLOWED_SCOPES, GUID_PATTERN, canonical_tenant_id

_validator = Validator(schema_root())
# RFC 3339 §5.6 date-time (the OpenAPI ``date-time`` format), offset required.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
# An unencoded "+" in the query arrives as a space: "...T00:00:00 01:00" means "+01:00".
_PLUS_AS_SPACE = re.compile(r"(T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?) (\d{2}:\d{2})$")
SECRET_WARNING = "Store this secret now: it is shown only this once and cannot be recovered."
_JSON_TYPES = ("application/json",)
_PATCH_TYPES = ("application/json", "application/merge-patch+json")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_body_size(request: Request, services: Services) -> None:
    if len(request.body) > services.settings.max_request_body_bytes:
        raise Problem(413, "too-large",
                      f"The body exceeds {services.settings.max_request_body_bytes} bytes.")


def read_json(request: Request, services: Services, schema: str, *,
              media_types: tuple[str, ...] = _JSON_TYPES) -> dict[str, Any]:
    """The request body as a JSON object valid against ``#/components/schemas/<schema>``."""
    check_body_size(request, services)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in media_types:
        raise Problem(415, "unsupported-media-type", f"Send the body as {' or '.join(media_types)}.")
    try:
        body = json.loads(request.body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request("The body is not valid UTF-8 JSON.") from None
    if not isinstance(body, dict):
        raise validation_failed([FieldError("", "must be a JSON object")])
    errors = _validator.validate(body, {"$ref": f"#/components/schemas/{schema}"})
    if errors:
        raise validation_failed(errors)
    return body


def tenant_param(value: str) -> str:
    canonical = canonical_tenant_id(value) if re.fullmatch(GUID_PATTERN, value) else None
    if canonical is None:
        raise bad_request("tenantId must be an Azure AD tenant GUID.", "tenantId")
    return canonical


def client_param(value: str) -> str:
    if not re.fullmatch(GUID_PATTERN, value):
        raise bad_request("clientId must be a GUID.", "clientId")
    return value.lower()


def secret_param(value: str) -> str:
    if not re.fullmatch(SECRET_ID_PATTERN, value):
        raise bad_request("secretId must be 16 lowercase hexadecimal characters.", "secretId")
    return value


def if_match_of(request: Request) -> str | None:
    value = request.headers.get("if-match")
    return value.strip() if value is not None and value.strip() else None


def _with_etag(status: int, payload: dict[str, Any], etag: str | None,
               headers: dict[str, str] | None = None) -> Response:
    extra = dict(headers or {})
    if etag:
        extra["ETag"] = etag
    return json_response(status, payload, headers=extra)


def _parse_time(request: Request, name: str) -> datetime | None:
    raw = request.query_value(name)
    if raw is None:
        return None
    try:
        raw = _PLUS_AS_SPACE.sub(r"\1+\2", raw)
        if not _DATE_TIME.fullmatch(raw):
            raise ValueError(name)
        value = datetime.fromisoformat(raw.upper())
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves the instant past year 1 or 9999
        raise bad_request(f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z.", name) from None


# --------------------------------------------------------------------------- routes

def route_spec(body: dict[str, Any]) -> ops.RouteSpec:
    timeouts = body.get("timeouts") or {}
    auth = body.get("upstreamAuth") or {"type": "none"}
    return ops.RouteSpec(
        fhir_base_url=body["fhirBaseUrl"].rstrip("/"),
        fhir_version=body["fhirVersion"],
        display_name=body.get("displayName", ""),
        enabled=body.get("enabled", True),
        allow_writes=body.get("allowWrites", False),
        batch_mode=body.get("batchMode", "passthrough"),
        private_network=body.get("privateNetwork", False),
        connect_timeout_seconds=timeouts.get("connectSeconds"),
        read_timeout_seconds=timeouts.get("readSeconds"),
        upstream_type=auth["type"],
        upstream_token_url=auth.get("tokenUrl"),
        upstream_client_id=auth.get("clientId"),
        upstream_scope=auth.get("scope"),
        upstream_client_secret=auth.get("clientSecret"),
        upstream_algorithm=auth.get("algorithm"),
        upstream_key_name=auth.get("keyName"),
    )


async def list_routes(request: Request, services: Services, actor: ops.Actor) -> Response:
    size = page_size_of(request)
    page = await ops.list_routes(services, page_size=size,
                                 continuation=decode_continuation(request.query_value("continuation")))
    return json_response(200, {
        "items": [route_json(r) for r in page.items],
        "nextLink": next_link(services.settings.public_base_url, "/manage/routes", page.continuation, size),
    })


async def get_route(request: Request, services: Services, actor: ops.Actor, tenant: str) -> Response:
    route = await ops.get_route(services, tenant_param(tenant))
    return _with_etag(200, route_json(route), route.etag)


async def put_route(request: Request, services: Services, actor: ops.Actor, tenant: str) -> Response:
    tenant_id = tenant_param(tenant)
    body = read_json(request, services, "RouteInput")
    if_none_match = request.headers.get("if-none-match", "").strip() == "*"
    route, created = await ops.put_route(services, actor, tenant_id, route_spec(body),
                                         if_match=if_match_of(request), if_none_match=if_none_match)
    headers = {"Location": f"{services.settings.public_base_url}/manage/routes/{tenant_id}"} if created else None
    return _with_etag(201 if created else 200, route_json(route), route.etag, headers)


async def delete_route(request: Request, services: Services, actor: ops.Actor, tenant: str) -> Response:
    await ops.delete_route(services, actor, tenant_param(tenant), if_match=if_match_of(request))
    return Response(204)


# --------------------------------------------------------------------------- clients

async def list_clients(request: Request, services: Services, actor: ops.Actor) -> Response:
    size = page_size_of(request)
    page = await ops.list_clients(services, page_size=size,
                                  continuation=decode_continuation(request.query_value("continuation")))
    now = services.clock.now()
    return json_response(200, {
        "items": [client_json(c, now) for c in page.items],
        "nextLink": next_link(services.settings.public_base_url, "/manage/clients", page.continuation, size),
    })


async def create_client(request: Request, services: Services, actor: ops.Actor) -> Response:
    body = read_json(request, services, "ClientCreate")
    authentication = client_authentication(body.get("authentication"), services.settings)
    scopes = allowed_scopes(body["allowedScopes"]) if "allowedScopes" in body else DEFAULT_ALLOWED_SCOPES
    new = await ops.create_client(services, actor, body["displayName"], body["allowedTenants"],
                                  enabled=body.get("enabled", True), authentication=authentication,
                                  allowed_scopes=scopes)
    payload: dict[str, Any] = {"clientId": new.client.client_id}
    if new.secret is not None:
        payload |= {"secretId": new.secret_id, "clientSecret": new.secret,
                    "secretExpiresOn": timestamp(new.expires_on), "warning": SECRET_WARNING}
    payload["client"] = client_json(new.client, services.clock.now())
    location = f"{services.settings.public_base_url}/manage/clients/{new.client.client_id}"
    return _with_etag(201, payload, new.client.etag, {"Location": location, "Cache-Control": "no-store"})


async def get_client(request: Request, services: Services, actor: ops.Actor, client_id: str) -> Response:
    client = await ops.get_client(services, client_param(client_id))
    return _with_etag(200, client_json(client, services.clock.now()), client.etag)


async def update_client(request: Request, services: Services, actor: ops.Actor, client_id: str) -> Response:
    cid = client_param(client_id)
    body = read_json(request, services, "ClientPatch", media_types=_PATCH_TYPES)
    authentication = client_authentication(body["authentication"], services.settings) \
        if "authentication" in body else None
    scopes = allowed_scopes(body["allowedScopes"]) if "allowedScopes" in body else None
    client = await ops.update_client(services, actor, cid, display_name=body.get("displayName"),
                                     allowed_tenants=body.get("allowedTenants"), enabled=body.get("enabled"),
                                     authentication=authentication, allowed_scopes=scopes,
                                     if_match=if_match_of(request))
    return _with_etag(200, client_json(client, services.clock.now()), client.etag)


async def delete_client(request: Request, services: Services, actor: ops.Actor, client_id: str) -> Response:
    await ops.delete_client(services, actor, client_param(client_id), if_match=if_match_of(request))
    return Response(204)


async def add_secret(request: Request, services: Services, actor: ops.Actor, client_id: str) -> Response:
    cid = client_param(client_id)
    check_body_size(request, services)
    new = await ops.add_secret(services, actor, cid)
    payload = {
        "clientId": cid,
        "secretId": new.secret_id,
        "clientSecret": new.secret,
        "secretExpiresOn": timestamp(new.expires_on),
        "hint": next(s.hint for s in new.client.secrets if s.secret_id == new.secret_id),
        "warning": SECRET_WARNING,
    }
    return json_response(201, payload, headers={"Cache-Control": "no-store"})


async def revoke_secret(request: Request, services: Services, actor: ops.Actor, client_id: str,
                        secret_id: str) -> Response:
    await ops.revoke_secret(services, actor, client_param(client_id), secret_param(secret_id))
    return Response(204)


# --------------------------------------------------------------------------- signing keys, audit, document

async def list_signing_keys(request: Request, services: Services, actor: ops.Actor) -> Response:
    keys = await ops.list_signing_keys(services)
    return json_response(200, {"items": [signing_key_json(k) for k in keys]})


async def rotate_signing_key(request: Request, services: Services, actor: ops.Actor) -> Response:
    check_body_size(request, services)
    info = await ops.rotate_signing_key(services, actor)
    return json_response(201, signing_key_json(info))


async def ensure(request: Request, services: Services, actor: ops.Actor) -> Response:
    check_body_size(request, services)
    rebuild = request.query_value("rebuildIndex")
    if rebuild not in (None, "true", "false"):
        raise bad_request("rebuildIndex must be true or false.", "rebuildIndex")
    done = await ops.ensure(services, actor, rebuild_index=rebuild == "true")
    return json_response(200, {"created": done})


async def list_audit(request: Request, services: Services, actor: ops.Actor) -> Response:
    since, until = _parse_time(request, "since"), _parse_time(request, "until")
    if since is not None and until is not None and since > until:
        raise bad_request("since must not be after until.", "since")
    size = page_size_of(request)
    page = await ops.list_audit(services, since=since, until=until, page_size=size,
                                continuation=decode_continuation(request.query_value("continuation")))
    extra = {k: v for k, v in (("since", timestamp(since)), ("until", timestamp(until))) if v}
    return json_response(200, {
        "items": [audit_json(r) for r in page.items],
        "nextLink": next_link(services.settings.public_base_url, "/manage/audit", page.continuation, size, extra),
    })


async def get_openapi(request: Request, services: Services, actor: ops.Actor) -> Response:
    return json_response(200, openapi_document(services.settings))
