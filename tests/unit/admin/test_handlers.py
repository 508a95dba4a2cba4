"""The admin HTTP surface in-process: status codes, problem details, ETags, paging, validation."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from gateway.admin.problems import PROBLEM_MEDIA_TYPE
from tests.support.constants import TENANT
from tests.unit.admin.conftest import OTHER_TENANT, route_body


def assert_problem(reply, status: int) -> dict:
    assert reply.status == status, reply.response.body
    assert reply.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = reply.json()
    assert body["status"] == status and body["title"] and body["type"] and body["detail"]
    return body


# --------------------------------------------------------------------------- routes

async def test_put_get_list_delete_route(admin):
    created = await admin("PUT", f"/manage/routes/{TENANT}", route_body())
    assert created.status == 201
    assert created.headers["Location"] == f"http://localhost:7071/manage/routes/{TENANT}"
    body = created.json()
    assert body["tenantId"] == TENANT and body["batchMode"] == "passthrough" and body["enabled"] is True
    assert body["allowWrites"] is False and body["upstreamAuth"] == {
        "type": "none", "tokenUrl": None, "clientId": None, "scope": None, "clientSecretSet": False}
    assert created.headers["ETag"] == body["etag"]

    replaced = await admin("PUT", f"/manage/routes/{TENANT.upper()}", route_body(displayName="B"))
    assert replaced.status == 200 and replaced.json()["displayName"] == "B"

    fetched = await admin("GET", f"/manage/routes/{TENANT}")
    assert fetched.status == 200 and fetched.headers["ETag"] == replaced.headers["ETag"]
    listing = await admin("GET", "/manage/routes")
    assert [r["tenantId"] for r in listing.json()["items"]] == [TENANT] and listing.json()["nextLink"] is None

    deleted = await admin("DELETE", f"/manage/routes/{TENANT}")
    assert deleted.status == 204 and deleted.response.body == b""
    assert_problem(await admin("GET", f"/manage/routes/{TENANT}"), 404)


async def test_route_with_client_credentials_never_returns_the_secret(admin):
    body = route_body(upstreamAuth={"type": "clientCredentials", "tokenUrl": "https://127.0.0.1:9443/token",
                                    "clientId": "gw", "clientSecret": "provider-s3cret", "scope": "system/*.read"},
                      timeouts={"connectSeconds": 2, "readSeconds": 20.5}, privateNetwork=True)
    reply = await admin("PUT", f"/manage/routes/{TENANT}", body)
    assert reply.status == 201
    assert b"provider-s3cret" not in reply.response.body
    auth = reply.json()["upstreamAuth"]
    assert auth["clientSecretSet"] is True and auth["clientId"] == "gw"
    assert reply.json()["timeouts"] == {"connectSeconds": 2, "readSeconds": 20.5}
    assert reply.json()["privateNetwork"] is True
    fetched = await admin("GET", f"/manage/routes/{TENANT}")
    assert b"provider-s3cret" not in fetched.response.body


async def test_stale_if_match_is_412(admin):
    first = await admin("PUT", f"/manage/routes/{TENANT}", route_body())
    etag = first.headers["ETag"]
    await admin("PUT", f"/manage/routes/{TENANT}", route_body(displayName="x"), headers={"If-Match": etag})
    assert_problem(await admin("PUT", f"/manage/routes/{TENANT}", route_body(displayName="y"),
                               headers={"If-Match": etag}), 412)
    assert_problem(await admin("DELETE", f"/manage/routes/{TENANT}", headers={"If-Match": etag}), 412)
    assert (await admin("GET", f"/manage/routes/{TENANT}")).json()["displayName"] == "x"
    assert_problem(await admin("PUT", f"/manage/routes/{TENANT}", route_body(),
                               headers={"If-None-Match": "*"}), 412)


@pytest.mark.parametrize(("body", "field"), [
    ({"fhirVersion": "STU3"}, "fhirBaseUrl"),
    (route_body(unknown=1), "unknown"),
    (route_body(enabled="yes"), "enabled"),
    (route_body(fhirVersion="R5"), "fhirVersion"),
    (route_body(fhirVersion="R4"), "fhirVersion"),
    (route_body(batchMode="parallel"), "batchMode"),
    (route_body(fhirBaseUrl="ftp://x/fhir"), "fhirBaseUrl"),
    (route_body(fhirBaseUrl="not a url"), "fhirBaseUrl"),
    (route_body(timeouts={"connectSeconds": 0}), "timeouts/connectSeconds"),
    (route_body(timeouts={"readSeconds": 999}), "timeouts/readSeconds"),
    (route_body(timeouts={"other": 1}), "timeouts/other"),
    (route_body(upstreamAuth={"type": "magic"}), "upstreamAuth/type"),
    # the scope may be left out (derived from the provider's origin) but never name another resource
    (route_body(upstreamAuth={"type": "managedIdentity", "scope": "https://vault.azure.net/.default"}),
     "upstreamAuth/scope"),
    (route_body(upstreamAuth={"type": "managedIdentity", "scope": ""}), "upstreamAuth/scope"),
    (route_body(upstreamAuth={"type": "none", "scope": "x"}), "upstreamAuth/scope"),
    (route_body(upstreamAuth={"type": "clientCredentials", "tokenUrl": "https://127.0.0.1/t", "clientId": "c"}),
     "upstreamAuth/clientSecret"),
    (route_body(displayName="x" * 201), "displayName"),
])
async def test_invalid_route_bodies_are_422_naming_the_field(admin, body, field):
    problem = assert_problem(await admin("PUT", f"/manage/routes/{TENANT}", body), 422)
    assert field in [e["field"] for e in problem["errors"]]
    assert_problem(await admin("GET", f"/manage/routes/{TENANT}"), 404)


async def test_bad_tenant_id_in_path_is_400(admin):
    for bad in ("not-a-guid", f"{TENANT}x", "%0a"):
        problem = assert_problem(await admin("PUT", f"/manage/routes/{bad}", route_body()), 400)
        assert problem["errors"][0]["field"] == "tenantId"


async def test_malformed_json_is_400(admin):
    for raw in (b"{", b"\xff\xfe", b'{"fhirBaseUrl": NaN}', b"[" * 100000):
        assert_problem(await admin("PUT", f"/manage/routes/{TENANT}", raw=raw), 400)
    problem = assert_problem(await admin("PUT", f"/manage/routes/{TENANT}", raw=b"[1]"), 422)
    assert problem["errors"][0]["message"] == "must be a JSON object"


async def test_wrong_content_type_is_415(admin):
    reply = await admin("PUT", f"/manage/routes/{TENANT}", raw=json.dumps(route_body()).encode(),
                        content_type="text/plain")
    assert_problem(reply, 415)


async def test_oversized_body_is_413(admin, services):
    raw = b'{"displayName": "' + b"x" * services.settings.max_request_body_bytes + b'"}'
    assert_problem(await admin("PUT", f"/manage/routes/{TENANT}", raw=raw), 413)
    assert_problem(await admin("POST", "/manage/clients", raw=raw), 413)


# --------------------------------------------------------------------------- clients

async def test_client_lifecycle(admin):
    created = await admin("POST", "/manage/clients", {"displayName": "Teams", "allowedTenants": [TENANT]})
    assert created.status == 201 and created.headers["Cache-Control"] == "no-store"
    body = created.json()
    client_id, secret = body["clientId"], body["clientSecret"]
    assert secret.startswith(body["secretId"] + ".") and "once" in body["warning"]
    assert created.headers["Location"].endswith(f"/manage/clients/{client_id}")
    assert body["client"]["secrets"][0]["hint"] == secret[-4:]

    fetched = await admin("GET", f"/manage/clients/{client_id}")
    assert fetched.status == 200 and secret.encode() not in fetched.response.body
    assert secret.split(".")[1].encode() not in fetched.response.body

    second = await admin("POST", f"/manage/clients/{client_id}/secrets")
    assert second.status == 201 and second.json()["clientSecret"] != secret
    assert_problem(await admin("POST", f"/manage/clients/{client_id}/secrets"), 409)

    revoked = await admin("DELETE", f"/manage/clients/{client_id}/secrets/{body['secretId']}")
    assert revoked.status == 204
    assert_problem(await admin("DELETE", f"/manage/clients/{client_id}/secrets/{body['secretId']}"), 404)

    patched = await admin("PATCH", f"/manage/clients/{client_id}", {"enabled": False, "allowedTenants": ["*"]},
                          content_type="application/merge-patch+json")
    assert patched.status == 200 and patched.json()["enabled"] is False
    assert patched.json()["allowedTenants"] == ["*"]
    listing = await admin("GET", "/manage/clients")
    assert [c["clientId"] for c in listing.json()["items"]] == [client_id]

    assert (await admin("DELETE", f"/manage/clients/{client_id}")).status == 204
    assert_problem(await admin("GET", f"/manage/clients/{client_id}"), 404)


@pytest.mark.parametrize(("body", "field"), [
    ({"allowedTenants": [TENANT]}, "displayName"),
    ({"displayName": "x", "allowedTenants": []}, "allowedTenants"),
    ({"displayName": "x", "allowedTenants": ["nope"]}, "allowedTenants/0"),
    ({"displayName": "x", "allowedTenants": [TENANT, TENANT]}, "allowedTenants"),
    ({"displayName": "x", "allowedTenants": "*"}, "allowedTenants"),
    ({"displayName": "x", "allowedTenants": ["*", TENANT]}, "allowedTenants"),
    ({"displayName": "x", "allowedTenants": [TENANT], "clientSecret": "mine"}, "clientSecret"),
    ({"displayName": 5, "allowedTenants": [TENANT]}, "displayName"),
])
async def test_invalid_client_bodies_are_422(admin, body, field):
    problem = assert_problem(await admin("POST", "/manage/clients", body), 422)
    assert field in [e["field"] for e in problem["errors"]]
    assert (await admin("GET", "/manage/clients")).json()["items"] == []


async def test_invalid_patch_bodies(admin):
    created = (await admin("POST", "/manage/clients", {"displayName": "x", "allowedTenants": [TENANT]})).json()
    path = f"/manage/clients/{created['clientId']}"
    assert_problem(await admin("PATCH", path, {}), 422)
    assert_problem(await admin("PATCH", path, {"enabled": "false"}), 422)
    assert_problem(await admin("PATCH", path, {"clientId": "other"}), 422)
    assert_problem(await admin("PATCH", path, {"enabled": False}, headers={"If-Match": 'W/"nope"'}), 412)
    assert (await admin("GET", path)).json()["enabled"] is True


async def test_bad_client_and_secret_ids_are_400(admin):
    assert_problem(await admin("GET", "/manage/clients/xyz"), 400)
    created = (await admin("POST", "/manage/clients", {"displayName": "x", "allowedTenants": [TENANT]})).json()
    assert_problem(await admin("DELETE", f"/manage/clients/{created['clientId']}/secrets/ZZ"), 400)
    assert_problem(await admin("POST", "/manage/clients/00000000-0000-0000-0000-000000000000/secrets"), 404)


async def test_secret_never_reaches_logs(admin, caplog):
    caplog.set_level(logging.DEBUG)
    created = (await admin("POST", "/manage/clients", {"displayName": "x", "allowedTenants": [TENANT]})).json()
    await admin("POST", f"/manage/clients/{created['clientId']}/secrets")
    assert created["clientSecret"] not in caplog.text
    audit = await admin("GET", "/manage/audit")
    assert created["clientSecret"].encode() not in audit.response.body


# --------------------------------------------------------------------------- paging

async def test_paging_with_next_link(admin):
    tenants = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    for tenant in tenants:
        assert (await admin("PUT", f"/manage/routes/{tenant}", route_body())).status == 201
    seen: list[str] = []
    url = "/manage/routes?pageSize=2"
    while url:
        page = (await admin("GET", url)).json()
        seen += [r["tenantId"] for r in page["items"]]
        link = page["nextLink"]
        if link:
            assert link.startswith("http://localhost:7071/manage/routes?")
            url = link.removeprefix("http://localhost:7071")
        else:
            url = None
    assert seen == tenants


@pytest.mark.parametrize("query", ["pageSize=0", "pageSize=abc", "pageSize=1001", "continuation=garbage",
                                   "continuation=" + base64.urlsafe_b64encode(b'{"v":2}').decode()])
async def test_bad_paging_parameters_are_400(admin, query):
    assert_problem(await admin("GET", f"/manage/clients?{query}"), 400)


# --------------------------------------------------------------------------- audit

async def test_audit_records_are_listed_with_actor_and_source(admin):
    await admin("PUT", f"/manage/routes/{TENANT}", route_body())
    page = (await admin("GET", "/manage/audit")).json()
    record = page["items"][0]
    assert record["action"] == "route.create" and record["targetId"] == TENANT
    assert record["actor"].startswith("function-key:") and "unit-test-function-key" not in record["actor"]
    assert record["requestId"] == "req-unit-1" and record["sourceAddress"] == "203.0.113.7"
    assert record["timestamp"].endswith("Z")


async def test_audit_time_filters(admin, clock):
    await admin("PUT", f"/manage/routes/{TENANT}", route_body())
    clock.advance(3600)
    await admin("PUT", f"/manage/routes/{OTHER_TENANT}", route_body())
    page = (await admin("GET", "/manage/audit?since=2026-01-01T00:30:00Z")).json()
    assert [r["targetId"] for r in page["items"]] == [OTHER_TENANT]
    page = (await admin("GET", "/manage/audit?until=2026-01-01T00:30:00%2B00:00")).json()
    assert [r["targetId"] for r in page["items"]] == [TENANT]
    page = (await admin("GET", "/manage/audit?until=2026-01-01T01:30:00+01:00")).json()  # "+" unencoded
    assert [r["targetId"] for r in page["items"]] == [TENANT]
    for bad in ("since=yesterday", "until=2026-13-01T00:00:00Z", "since=", "until=2026-01-01T00:00:00",
                "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z"):
        assert_problem(await admin("GET", f"/manage/audit?{bad}"), 400)


# --------------------------------------------------------------------------- signing keys

async def test_signing_keys_rotate_and_list(admin):
    rotated = await admin("POST", "/manage/signing-keys")
    assert rotated.status == 201 and rotated.json()["alg"]
    listing = (await admin("GET", "/manage/signing-keys")).json()
    assert listing["items"][0]["kid"] == rotated.json()["kid"]
    assert "BEGIN" not in json.dumps(listing)


# --------------------------------------------------------------------------- dispatch, access, outages

async def test_unknown_path_is_404_and_wrong_method_405(admin):
    assert_problem(await admin("GET", "/manage/nothing"), 404)
    assert_problem(await admin("GET", "/manage/"), 404)
    reply = await admin("PUT", "/manage/clients")
    assert_problem(reply, 405)
    assert reply.headers["Allow"] == "GET, POST"


async def test_store_outage_is_503_problem_with_retry_after(admin, services):
    services.clients.available = False
    reply = await admin("GET", "/manage/clients")
    assert_problem(reply, 503)
    assert reply.headers["Retry-After"]


async def test_openapi_document_is_served(admin):
    reply = await admin("GET", "/manage/openapi.json")
    doc = reply.json()
    assert reply.status == 200 and doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": "http://localhost:7071"}]


async def test_refused_changes_are_audited_reads_are_not(admin, services):
    created = (await admin("POST", "/manage/clients", {"displayName": "x", "allowedTenants": [TENANT]})).json()
    client_id = created["clientId"]
    await admin("POST", f"/manage/clients/{client_id}/secrets")
    assert (await admin("POST", f"/manage/clients/{client_id}/secrets")).status == 409
    assert (await admin("PUT", "/manage/routes/not-a-guid", route_body())).status == 400
    assert (await admin("POST", "/manage/clients", {"displayName": "x"})).status == 422
    assert (await admin("GET", "/manage/clients/00000000-0000-0000-0000-000000000000")).status == 404
    outcomes = [(r.action, r.target_id, r.outcome) for r in services.audit.records]
    assert outcomes == [
        ("client.create", client_id, "success"),
        ("secret.add", client_id, "success"),
        ("secret.add", client_id, "failed:409 conflict"),
        ("route.put", "(invalid)", "failed:400 bad-request"),
        ("client.create", "", "failed:422 validation"),
    ]
    assert all(r.actor.startswith("function-key:") for r in services.audit.records)


async def test_forged_inner_continuation_is_a_400_not_a_500(services):
    """A token that is wrapped like ours but carries a value the store never issued."""
    from gateway.admin.paging import encode_continuation
    from gateway.http import Headers, Request
    from tests.support.surfaces import dispatch

    forged = encode_continuation("not-a-store-token")
    response = await dispatch(Request("GET", f"http://localhost:7071/manage/clients?continuation={forged}",
                                      Headers(), {"path": "clients"}), services)
    assert response.status == 400
    assert response.headers["content-type"].startswith("application/problem+json")
