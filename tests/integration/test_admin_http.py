"""The admin HTTP layer on Azurite and the Key Vault emulator: ETags, paging tokens, audit queries."""

from __future__ import annotations

import pytest

from tests.unit.admin.conftest import AdminCaller, route_body

pytestmark = pytest.mark.integration


@pytest.fixture
def api(azure_services) -> AdminCaller:
    return AdminCaller(azure_services)


async def test_paging_follows_table_storage_continuations(api):
    tenants = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    for tenant in tenants:
        assert (await api("PUT", f"/manage/routes/{tenant}", route_body())).status == 201
    seen, url, pages = [], "/manage/routes?pageSize=2", 0
    while url:
        reply = await api("GET", url)
        assert reply.status == 200, reply.json()
        page = reply.json()
        pages += 1
        seen += [r["tenantId"] for r in page["items"]]
        url = page["nextLink"] and page["nextLink"].removeprefix("http://localhost:7071")
    assert sorted(seen) == tenants and pages >= 3


async def test_etags_from_table_storage_guard_concurrent_changes(api):
    created = (await api("POST", "/manage/clients", {"displayName": "x", "allowedTenants": ["*"]})).json()
    path = f"/manage/clients/{created['clientId']}"
    etag = (await api("GET", path)).headers["ETag"]
    first = await api("PATCH", path, {"displayName": "first"}, headers={"If-Match": etag})
    assert first.status == 200 and first.headers["ETag"] != etag
    second = await api("PATCH", path, {"displayName": "second"}, headers={"If-Match": etag})
    assert second.status == 412
    assert (await api("GET", path)).json()["displayName"] == "first"
    assert (await api("DELETE", path, headers={"If-Match": etag})).status == 412
    assert (await api("DELETE", path, headers={"If-Match": first.headers["ETag"]})).status == 204


async def test_audit_query_by_time_and_pages(api, azure_services):
    start = azure_services.clock.now()
    for i in range(3):
        await api("PUT", f"/manage/routes/00000000-0000-0000-0000-00000000000{i}", route_body())
    reply = await api("GET", f"/manage/audit?since={start.isoformat().replace('+00:00', 'Z')}&pageSize=2")
    page = reply.json()
    assert reply.status == 200 and len(page["items"]) == 2 and page["nextLink"]
    rest = (await api("GET", page["nextLink"].removeprefix("http://localhost:7071"))).json()
    targets = [r["targetId"] for r in page["items"] + rest["items"]]
    assert sorted(targets) == [f"00000000-0000-0000-0000-00000000000{i}" for i in range(3)]
    assert (await api("GET", "/manage/audit?until=2000-01-01T00:00:00Z")).json()["items"] == []


async def test_table_outage_is_503_and_changes_nothing(api, azurite):
    azurite.stop()
    try:
        reply = await api("POST", "/manage/clients", {"displayName": "x", "allowedTenants": ["*"]})
    finally:
        azurite.start()
    assert reply.status == 503 and reply.headers["Retry-After"]
    assert (await api("GET", "/manage/clients")).json()["items"] == []


async def test_audit_bounds_at_year_one_and_year_9999_are_answers(api):
    await api("PUT", "/manage/routes/00000000-0000-0000-0000-000000000001", route_body())
    for query in ("since=0001-01-01T00:00:00Z", "until=0001-01-01T00:00:00Z", "until=9999-12-31T23:59:59Z",
                  "since=0001-01-01T00:00:00Z&until=0001-01-01T00:00:01Z"):
        reply = await api("GET", f"/manage/audit?{query}")
        assert reply.status == 200, (query, reply.json())
