"""The admin API under hostile input: JSON bodies of every operation,
path segments and query parameters.

In-process against ``gateway.admin.endpoint.dispatch`` on the in-memory stores. Properties: never a
5xx (a 503 with ``Retry-After`` only when a store is switched off), every error is
``application/problem+json`` whose ``status`` matches, a refused change leaves routes, clients and
secrets exactly as they were (only a ``failed:`` audit record is added), and accepted input reads back.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.admin.actor import Actor
from gateway.admin.paging import MAX_PAGE_SIZE
from gateway.admin.problems import PROBLEM_MEDIA_TYPE
from gateway.admin.tenant_routes import RouteSpec
from gateway.clock import FakeClock
from gateway.services import Services, memory_services
from tests.fixtures.common import make_settings
from tests.properties.support import HOSTILE_JSON_BODIES, examples, json_bytes, json_values, leaves, store_state
from tests.support.constants import TENANT
from tests.unit.admin.conftest import AdminCaller

NEW_TENANT = "11111111-2222-3333-4444-555555555555"
ACTOR = Actor("function-key:test")

FIELD_NAMES = ["fhirBaseUrl", "fhirVersion", "displayName", "enabled", "allowWrites", "batchMode", "privateNetwork",
               "timeouts", "upstreamAuth", "allowedTenants", "connectSeconds", "readSeconds", "type", "tokenUrl",
               "clientId", "clientSecret", "scope", "etag", "createdOn", "tenantId", "secrets", "__proto__", ""]
names = st.sampled_from(FIELD_NAMES) | st.text(max_size=12)
values = st.one_of(
    json_values(8),
    st.sampled_from(["http://127.0.0.1:9/fhir", "https://fhir.example.org/r4", "STU3", "R4", "DSTU2", "fanout",
                     "passthrough", "none", "clientCredentials", "managedIdentity", "*", TENANT, TENANT.upper(),
                     "x" * 5000, "http://169.254.169.254/metadata", "file:///etc/passwd", "http://[::1]:9/f",
                     "http://user:pw@127.0.0.1/f", "http://127.0.0.1:99999/f", "http://127.0.0.1/%2e%2e/f", "", -1,
                     0, 1e308, 10**400 if False else 10**30, True]),
    st.lists(st.sampled_from(["*", TENANT, NEW_TENANT, TENANT.upper(), "not-a-guid", ""]), max_size=6),
    st.fixed_dictionaries({}, optional={"type": st.sampled_from(["none", "clientCredentials", "managedIdentity",
                                                                 "other"]),
                                        "tokenUrl": st.sampled_from(["https://login.example/token", "x", ""]),
                                        "clientId": st.text(max_size=5), "clientSecret": st.text(max_size=8),
                                        "scope": st.text(max_size=5), "extra": st.integers()}),
    st.fixed_dictionaries({}, optional={"connectSeconds": json_values(2), "readSeconds": json_values(2),
                                        "other": st.none()}),
)
objects = st.dictionaries(names, values, max_size=8)
bodies = st.one_of(
    objects.map(json_bytes),
    json_values(10).map(json_bytes),
    HOSTILE_JSON_BODIES,
    st.binary(max_size=100),
    st.integers(1, 4).map(lambda n: b'{"displayName": "' + b"x" * (n << 20) + b'"}'),  # up to the 4 MB limit
)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "application/merge-patch+json",
                                 "APPLICATION/JSON", "text/plain", "application/x-www-form-urlencoded", "",
                                 "application/json;;", "application/problem+json"])


@dataclass
class Admin:
    services: Services
    call: AdminCaller
    client_id: str
    secret_id: str


@pytest.fixture
def admin_api(loop) -> Admin:
    async def build() -> Admin:
        services = memory_services(make_settings(), FakeClock())
        await services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(fhir_base_url="http://127.0.0.1:9/fhir",
                                                                   fhir_version="STU3"))
        client, secret_id, _secret, _ = await services.admin_api.clients.create(ACTOR, "Teams", [TENANT])
        return Admin(services, AdminCaller(services), client.client_id, secret_id)

    built = loop.run(build())
    yield built
    loop.run(built.services.aclose())


def check(loop, api: Admin, method: str, path: str, *, raw: bytes | None = None, content_type: str = "application/json",
          headers: dict[str, str] | None = None):
    """One admin call and what every answer must be."""
    before = store_state(api.services)
    audited = len(api.services.audit.records)
    reply = loop.run(api.call(method, path, raw=raw, content_type=content_type, headers=headers))
    status = reply.status
    assert status < 500, reply.response.body[:500]
    if status >= 400:
        assert reply.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        problem = reply.json()
        assert problem["status"] == status and problem["title"] and problem["detail"]
        assert problem["type"].startswith("urn:interop-gateway:problem:")
        for error in problem.get("errors", []):
            assert isinstance(error["field"], str) and error["message"]
        assert store_state(api.services) == before  # a refused change changes nothing...
        assert all(r.outcome.startswith("failed:") for r in api.services.audit.records[audited:])  # ...but is audited
        if status == 405:
            assert reply.headers["Allow"]
    elif reply.response.body:
        assert reply.headers["content-type"].startswith("application/json")
        reply.json()
    return reply


BODY_OPERATIONS = [
    ("PUT", f"/manage/routes/{TENANT}"),
    ("PUT", f"/manage/routes/{NEW_TENANT}"),
    ("POST", "/manage/clients"),
    ("PATCH", "/manage/clients/{client}"),
    ("POST", "/manage/clients/{client}/secrets"),
    ("POST", "/manage/signing-keys"),
]


@examples(150)
@given(operation=st.sampled_from(BODY_OPERATIONS), body=bodies, content_type=content_types,
       if_match=st.sampled_from([None, None, "*", 'W/"1"', "garbage", ""]))
def test_any_body_to_any_operation(loop, admin_api, operation, body, content_type, if_match):
    method, path = operation
    path = path.format(client=admin_api.client_id)
    reply = check(loop, admin_api, method, path, raw=body, content_type=content_type,
                  headers={"If-Match": if_match} if if_match is not None else None)
    if reply.status in (200, 201):
        payload = reply.json()
        if method in ("PUT", "PATCH"):  # a route or client: its ETag in the header and the body
            assert reply.headers["ETag"] == payload["etag"]
        if "clientSecret" in payload:  # a new secret: shown once, never cached
            assert reply.headers["Cache-Control"] == "no-store"
    if reply.status == 422:
        assert reply.json()["errors"]  # every invalid field is named


# Bodies that follow the schema (so the operations' own rules are reached) with any values the schema allows.
route_inputs = st.fixed_dictionaries(
    {"fhirBaseUrl": st.sampled_from(["http://127.0.0.1:9/fhir", "http://localhost:8080/r4/", "https://fhir.example.org",
                                     "http://10.0.0.5/fhir", "http://169.254.169.254/latest", "https://[::1]/f",
                                     "http://127.0.0.1/a/../b", "http://127.0.0.1/f?x=1", "http://u:p@127.0.0.1/f"]),
     "fhirVersion": st.sampled_from(["STU3", "R4", "DSTU2"])},
    optional={"displayName": st.text(max_size=200), "enabled": st.booleans(), "allowWrites": st.booleans(),
              "batchMode": st.sampled_from(["passthrough", "fanout"]), "privateNetwork": st.booleans(),
              "timeouts": st.fixed_dictionaries({}, optional={
                  "connectSeconds": st.none() | st.floats(min_value=0, max_value=30, exclude_min=True),
                  "readSeconds": st.none() | st.integers(1, 180)}),
              "upstreamAuth": st.one_of(
                  st.just({"type": "none"}),
                  st.fixed_dictionaries({"type": st.just("clientCredentials"),
                                         "tokenUrl": st.sampled_from(["https://login.example/t", "http://127.0.0.1/t"]),
                                         "clientId": st.text(min_size=1, max_size=20)},
                                        optional={"clientSecret": st.text(min_size=1, max_size=30),
                                                  "scope": st.text(max_size=30)}),
                  st.fixed_dictionaries({"type": st.just("managedIdentity"),
                                         "scope": st.text(min_size=1, max_size=30)}))})


SERVER_SET = {"createdOn", "updatedOn", "etag"}  # times and versions the gateway writes: no caller text in them


@examples(80)
@given(tenant=st.sampled_from([TENANT, NEW_TENANT, NEW_TENANT.upper()]), body=route_inputs)
def test_valid_route_bodies_are_stored_and_read_back(loop, admin_api, tenant, body):
    reply = check(loop, admin_api, "PUT", f"/manage/routes/{tenant}", raw=json_bytes(body))
    if reply.status >= 400:
        assert reply.status in (409, 412, 422), reply.json()
        return
    stored = check(loop, admin_api, "GET", f"/manage/routes/{tenant}").json()
    assert stored["tenantId"] == tenant.lower() and stored["fhirBaseUrl"] == body["fhirBaseUrl"].rstrip("/")
    for name in ("displayName", "enabled", "allowWrites", "batchMode", "privateNetwork"):
        if name in body:
            assert stored[name] == body[name]
    auth = body.get("upstreamAuth", {"type": "none"})
    assert stored["upstreamAuth"]["type"] == auth["type"]
    if "clientSecret" in auth:
        secret = auth["clientSecret"]
        sent = dict(leaves(body))
        sent[("tenantId",)] = tenant
        del sent[("upstreamAuth", "clientSecret")]  # echoed back in its own field would be the leak itself
        for path, value in leaves(stored):  # only a field the caller itself set to that text may show it
            if path[0] in SERVER_SET:
                continue
            assert len(secret) < 4 or secret not in str(value) or secret in str(sent.get(path, "")), path
        assert stored["upstreamAuth"]["clientSecretSet"] is True


client_bodies = st.fixed_dictionaries(
    {"displayName": st.text(min_size=1, max_size=200),
     "allowedTenants": st.lists(st.sampled_from([TENANT, NEW_TENANT, TENANT.upper()]) | st.uuids().map(str),
                                min_size=1, max_size=5) | st.just(["*"])},
    optional={"enabled": st.booleans()})


@examples(60)
@given(body=client_bodies, patch=st.dictionaries(st.sampled_from(["displayName", "allowedTenants", "enabled"]),
                                                 st.none(), min_size=1))
def test_valid_client_bodies_are_stored_and_read_back(loop, admin_api, body, patch):
    created = check(loop, admin_api, "POST", "/manage/clients", raw=json_bytes(body))
    if created.status != 201:
        assert created.status == 422  # e.g. the same tenant in two spellings
        return
    client = created.json()["client"]
    expected = list(dict.fromkeys(t.lower() for t in body["allowedTenants"]))
    assert client["allowedTenants"] == expected and client["displayName"] == body["displayName"]
    changes = {k: body.get(k, True) for k in patch}
    if "allowedTenants" in changes:
        changes["allowedTenants"] = ["*"]
    updated = check(loop, admin_api, "PATCH", f"/manage/clients/{client['clientId']}", raw=json_bytes(changes))
    assert updated.status == 200
    fetched = check(loop, admin_api, "GET", f"/manage/clients/{client['clientId']}").json()
    for name, value in changes.items():
        assert fetched[name] == value
    assert check(loop, admin_api, "DELETE", f"/manage/clients/{client['clientId']}").status == 204  # stay small


# --------------------------------------------------------------------------- paths and query parameters

SEGMENT_VALUES = [TENANT, TENANT.upper(), NEW_TENANT, "{" + TENANT + "}", TENANT.replace("-", ""), TENANT + "0",
                  "00000000-0000-0000-0000-000000000000", "..", ".", "%2e%2e", "%00", "\x00", "é", "*", "", " ",
                  "0123456789abcdef", "0123456789ABCDEF", "0123456789abcde", "x" * 300, "routes", "clients",
                  "secrets", "audit", "openapi.json", "signing-keys", "manage"]


@st.composite
def admin_paths(draw, client_id: str, secret_id: str) -> str:
    segment = st.sampled_from([*SEGMENT_VALUES, client_id, client_id.upper(), secret_id]) | st.text(max_size=20)
    shape = draw(st.sampled_from([
        ["routes", segment], ["clients", segment], ["clients", segment, "secrets"],
        ["clients", segment, "secrets", segment], [segment], [segment, segment], ["routes"], ["clients"],
        ["audit"], ["signing-keys"], ["openapi.json"], ["routes", segment, segment]]))
    return "/".join(draw(part) if not isinstance(part, str) else part for part in shape)


query_values = st.one_of(st.text(max_size=40), st.sampled_from([
    "1", "0", "-1", str(MAX_PAGE_SIZE), str(MAX_PAGE_SIZE + 1), "１０", "٣", "1e3", "10 ", "99999999999999999999999",
    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00 01:00", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01", "٢٠٢٦-01-01T00:00:00Z",
    "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+99:99", "eyJ2IjoxLCJ0IjoiMSJ9", "eyJ2IjoxLCJ0IjoxfQ", "e30", "!!",
    "eyJ2IjoxLCJ0IjoiLTEifQ", "eyJ2IjoxLCJ0IjoiOTk5OTk5OTk5OTk5OTk5OTk5OTk5In0",
    base64.urlsafe_b64encode(b"[" * 3000).decode(), base64.urlsafe_b64encode(b'{"v":1,"t":' * 1500).decode()]))


@examples(200)
@given(data=st.data(), method=st.sampled_from(["GET", "GET", "DELETE", "PUT", "POST", "PATCH", "OPTIONS", "HEAD"]),
       query=st.lists(st.tuples(st.sampled_from(["pageSize", "continuation", "since", "until", "code", "x"]),
                                query_values), max_size=4))
def test_any_path_and_query(loop, admin_api, data, method, query):
    path = data.draw(admin_paths(admin_api.client_id, admin_api.secret_id))
    qs = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query)
    reply = check(loop, admin_api, method, f"/manage/{quote(path, safe='/')}" + (f"?{qs}" if qs else ""))
    if reply.status == 200 and method == "GET" and "items" in reply.json():
        page = reply.json()
        assert isinstance(page["items"], list)
        if page.get("nextLink") is not None:
            assert urlsplit(page["nextLink"]).netloc == "localhost:7071"


@examples(40)
@given(count=st.integers(0, 9), page_size=st.integers(1, 4))
def test_paging_visits_every_client_exactly_once(loop, admin_api, count, page_size):
    async def create() -> set[str]:
        made = {admin_api.client_id}
        for i in range(count):
            new = await admin_api.services.admin_api.clients.create(ACTOR, f"c{i}", ["*"])
            made.add(new.client.client_id)
        return made

    expected = loop.run(create())
    seen: list[str] = []
    url = f"/manage/clients?pageSize={page_size}"
    for _ in range(count + 3):
        page = check(loop, admin_api, "GET", url).json()
        assert len(page["items"]) <= page_size
        seen += [c["clientId"] for c in page["items"]]
        if page["nextLink"] is None:
            break
        parts = urlsplit(page["nextLink"])
        url = f"{parts.path}?{parts.query}"
    assert sorted(seen) == sorted(expected)
    loop.run(_delete_clients(admin_api, expected - {admin_api.client_id}))


async def _delete_clients(api: Admin, client_ids: set[str]) -> None:
    for client_id in client_ids:
        await api.services.admin_api.clients.delete(ACTOR, client_id)


# --------------------------------------------------------------------------- outages

WRITES = [("PUT", f"/manage/routes/{NEW_TENANT}", {"fhirBaseUrl": "http://127.0.0.1:9/f", "fhirVersion": "STU3"}),
          ("DELETE", f"/manage/routes/{TENANT}", None),
          ("POST", "/manage/clients", {"displayName": "x", "allowedTenants": ["*"]}),
          ("PATCH", "/manage/clients/{client}", {"enabled": False}),
          ("DELETE", "/manage/clients/{client}", None),
          ("POST", "/manage/clients/{client}/secrets", None),
          ("DELETE", "/manage/clients/{client}/secrets/{secret}", None)]


@pytest.mark.parametrize("store", ["routes", "clients", "secrets"])
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_change_during_an_outage_is_503_and_leaves_nothing_behind(loop, admin_api, store, method, path, body):
    path = path.format(client=admin_api.client_id, secret=admin_api.secret_id)
    before = store_state(admin_api.services)
    getattr(admin_api.services, store).available = False
    reply = loop.run(admin_api.call(method, path, raw=json_bytes(body) if body is not None else None))
    getattr(admin_api.services, store).available = True
    if reply.status >= 300:
        assert reply.status == 503 and int(reply.headers["Retry-After"]) >= 1, reply.json()
        assert reply.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        after = store_state(admin_api.services)
        # A compensated change may have rewritten a record (new ETag), never its content.
        assert _content(after["routes"]) == _content(before["routes"])
        assert _content(after["clients"]) == _content(before["clients"])
        # Key Vault may keep a compensated secret's history, never a live secret nobody references.
        assert set(after["secrets"]) <= set(before["secrets"])
    else:  # the operation did not need the switched-off store
        assert store not in _stores_needed(method, path)


def _stores_needed(method: str, path: str) -> set[str]:
    if "/routes/" in path:
        return {"routes"}
    return {"clients", "secrets"} if method != "PATCH" else {"clients"}


def _content(records: dict[str, Any]) -> dict[str, Any]:
    return {key: replace(record, etag=None, created_on=None, updated_on=None) for key, record in records.items()}


timestamps = st.datetimes(min_value=__import__("datetime").datetime(1, 1, 1), timezones=st.none() | st.timezones()) \
    .map(lambda d: d.isoformat())


@examples(200)
@given(since=st.none() | query_values | timestamps, until=st.none() | query_values | timestamps,
       page_size=st.none() | query_values, continuation=st.none() | query_values)
def test_audit_query_parameters(loop, admin_api, since, until, page_size, continuation):
    params = {k: v for k, v in (("since", since), ("until", until), ("pageSize", page_size),
                                ("continuation", continuation)) if v is not None}
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    reply = check(loop, admin_api, "GET", "/manage/audit" + (f"?{qs}" if qs else ""))
    if reply.status == 200:
        assert isinstance(reply.json()["items"], list)
    else:
        assert reply.status == 400
        assert {e["field"] for e in reply.json()["errors"]} <= {"since", "until", "pageSize", "continuation"}


principal_headers = st.one_of(
    st.none(), st.text(max_size=60),
    HOSTILE_JSON_BODIES.map(lambda body: base64.b64encode(body[:12_000]).decode()),
    json_values(6).map(lambda value: base64.b64encode(json_bytes(value)).decode()),
    st.lists(st.fixed_dictionaries({"typ": st.sampled_from(["roles", "name", "oid", "role"]) | json_values(1),
                                    "val": st.sampled_from(["Gateway.Admin", "gateway.admin", "ops"])
                                    | json_values(1)}), max_size=4)
    .map(lambda claims: base64.b64encode(json_bytes({"auth_typ": "aad", "claims": claims})).decode()),
)


@examples(100)
@given(principal=principal_headers, operation=st.sampled_from([("GET", "/manage/clients"),
                                                               ("POST", "/manage/signing-keys"),
                                                               ("DELETE", f"/manage/routes/{TENANT}")]))
def test_any_principal_header_when_a_role_is_required(loop, principal, operation):
    """With Entra ID authentication on, whatever X-MS-CLIENT-PRINCIPAL holds: without a bearer token, 401."""
    services = memory_services(make_settings(ADMIN_AUTH_AUTHORITY="http://127.0.0.1:9/tenant/v2.0",
                                             ADMIN_AUTH_AUDIENCE="api://gateway-admin",
                                             ADMIN_REQUIRED_ROLE="Gateway.Admin"), FakeClock())
    loop.run(services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(fhir_base_url="http://127.0.0.1:9/fhir",
                                                                  fhir_version="STU3")))
    api = Admin(services, AdminCaller(services), "", "")
    method, path = operation
    reply = check(loop, api, method, path, headers={"X-MS-CLIENT-PRINCIPAL": principal} if principal else None)
    # Even a header that names the admin role: it is never read.
    assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
