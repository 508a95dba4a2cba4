"""The admin role check (X-MS-CLIENT-PRINCIPAL) and the audit actor."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.admin.access import authorize, parse_principal
from gateway.admin.endpoint import dispatch
from gateway.admin.problems import Problem
from gateway.http import Headers, Request
from gateway.services import memory_services
from tests.fixtures.common import make_settings

ROLE_URI = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"


def principal(*roles: str, name: str | None = "admin@contoso.com", oid: str | None = "0000-oid",
              role_typ: str = ROLE_URI) -> str:
    claims = [{"typ": role_typ, "val": r} for r in roles]
    if name:
        claims.append({"typ": "name", "val": name})
    if oid:
        claims.append({"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid})
    payload = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": role_typ}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def request(headers: dict[str, str], url: str = "http://localhost:7071/manage/clients") -> Request:
    return Request("GET", url, Headers(headers), {"path": "clients"})


def test_parse_principal_reads_roles_name_and_oid():
    parsed = parse_principal(principal("Gateway.Admin", "Other"))
    assert parsed.roles == {"Gateway.Admin", "Other"}
    assert parsed.name == "admin@contoso.com" and parsed.object_id == "0000-oid"
    assert parse_principal(principal("Gateway.Admin", role_typ="roles")).roles == {"Gateway.Admin"}


@pytest.mark.parametrize("header", [None, "", "!!!", base64.b64encode(b"[1]").decode(),
                                    base64.b64encode(b'{"claims": "x"}').decode(), "x" * 20000])
def test_malformed_principal_is_ignored(header):
    assert parse_principal(header) is None


def test_role_required_and_present():
    settings = make_settings(ADMIN_REQUIRED_ROLE="Gateway.Admin")
    actor = authorize(request({"X-MS-CLIENT-PRINCIPAL": principal("Gateway.Admin")}), settings)
    assert actor.name == "entra:admin@contoso.com (oid 0000-oid)"


@pytest.mark.parametrize("headers", [{}, {"X-MS-CLIENT-PRINCIPAL": principal("Reader")},
                                     {"X-MS-CLIENT-PRINCIPAL": "garbage"}])
def test_role_required_and_missing_is_403(headers):
    with pytest.raises(Problem) as denied:
        authorize(request(headers), make_settings(ADMIN_REQUIRED_ROLE="Gateway.Admin"))
    assert denied.value.status == 403


async def test_forbidden_is_a_problem_response_and_changes_nothing(clock):
    services = memory_services(make_settings(ADMIN_REQUIRED_ROLE="Gateway.Admin"), clock)
    req = Request("POST", "http://localhost:7071/manage/clients",
                  Headers({"Content-Type": "application/json"}), {"path": "clients"},
                  json.dumps({"displayName": "x", "allowedTenants": ["*"]}).encode())
    reply = await dispatch(req, services)
    assert reply.status == 403 and reply.content_type.startswith("application/problem+json")
    assert (await services.clients.list()).items == []


def test_function_key_actor_from_header_or_query():
    settings = make_settings()
    by_header = authorize(request({"x-functions-key": "k-123"}), settings)
    by_query = authorize(request({}, "http://localhost:7071/manage/clients?code=k-123"), settings)
    assert by_header.name == by_query.name and by_header.name.startswith("function-key:")
    assert "k-123" not in by_header.name
    assert authorize(request({}), settings).name == "function-key"


async def test_forbidden_change_attempts_are_audited_with_the_principal(clock):
    services = memory_services(make_settings(ADMIN_REQUIRED_ROLE="Gateway.Admin"), clock)
    req = Request("DELETE", "http://localhost:7071/manage/routes/72f988bf-86f1-41af-91ab-2d7cd011db47",
                  Headers({"X-MS-CLIENT-PRINCIPAL": principal("Reader")}),
                  {"path": "routes/72f988bf-86f1-41af-91ab-2d7cd011db47"})
    assert (await dispatch(req, services)).status == 403
    [record] = services.audit.records
    assert record.action == "route.delete" and record.outcome == "failed:403 forbidden"
    assert record.actor == "entra:admin@contoso.com (oid 0000-oid)"


async def test_without_the_role_setting_a_forged_principal_does_not_name_the_audit_actor(clock):
    # ADMIN_REQUIRED_ROLE unset: App Service authentication is not known to be on, so X-MS-CLIENT-PRINCIPAL is
    # whatever the function-key holder sent. It must not replace the key's fingerprint in the audit trail (the
    # "function key leaked" runbook finds the attacker's changes by that fingerprint).
    services = memory_services(make_settings(), clock)
    forged = {"x-functions-key": "leaked-key", "X-MS-CLIENT-PRINCIPAL": principal("Gateway.Admin", name="innocent")}
    expected = authorize(request({"x-functions-key": "leaked-key"}), services.settings).name
    assert authorize(request(forged), services.settings).name == expected
    for method in ("DELETE", "PUT"):  # a refused change attempt and a bad one: recorded with the key too
        req = Request(method, "http://localhost:7071/manage/routes/72f988bf-86f1-41af-91ab-2d7cd011db47",
                      Headers(forged), {"path": "routes/72f988bf-86f1-41af-91ab-2d7cd011db47"})
        assert (await dispatch(req, services)).status in (404, 415)
    assert [r.actor for r in services.audit.records] == [expected, expected]
