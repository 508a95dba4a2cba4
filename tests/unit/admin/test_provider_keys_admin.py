"""Admin API of privateKeyJwt routes and provider keys: validation, key creation on first use, rotation, audit."""

from __future__ import annotations

import pytest

from tests.support.constants import TENANT
from tests.unit.admin.conftest import OTHER_TENANT, route_body
from tests.unit.admin.test_handlers import assert_problem

TOKEN_URL = "http://127.0.0.1:9999/auth/token"


def pkj(base: str | None = None, **auth) -> dict:
    """A privateKeyJwt route (on ``base`` when given) with these ``upstreamAuth`` fields."""
    route = {"fhirBaseUrl": base} if base is not None else {}
    return route_body(**route, upstreamAuth={"type": "privateKeyJwt", "tokenUrl": TOKEN_URL, "clientId": "gw-client",
                                             "scope": "system/*.rs", **auth})


def records(services, action):
    return [r for r in services.audit.records if r.action == action]


@pytest.mark.parametrize("auth, field", [
    ({"algorithm": "RS256"}, "upstreamAuth/algorithm"),
    ({"algorithm": "none"}, "upstreamAuth/algorithm"),
    ({"keyName": "Bad_Name"}, "upstreamAuth/keyName"),
    ({"keyName": "-x"}, "upstreamAuth/keyName"),
    ({"clientSecret": "s3cr3t"}, "upstreamAuth/clientSecret"),  # nothing secret is taken for a gateway key
    ({"tokenUrl": "ftp://127.0.0.1/t"}, "upstreamAuth/tokenUrl"),
    ({"tokenUrl": "http://169.254.169.254/metadata/identity/oauth2/token"}, "upstreamAuth/tokenUrl"),
    ({"tokenUrl": "http://10.0.0.5/token"}, "upstreamAuth/tokenUrl"),
    ({"clientId": ""}, "upstreamAuth/clientId"),
])
async def test_invalid_private_key_jwt_routes_are_422_naming_the_field_and_change_nothing(admin, services, auth,
                                                                                          field):
    problem = assert_problem(await admin("PUT", f"/manage/routes/{TENANT}", pkj(**auth)), 422)
    assert field in [e["field"] for e in problem["errors"]]
    assert_problem(await admin("GET", f"/manage/routes/{TENANT}"), 404)
    assert await services.provider_keys.names() == []  # no key created for a refused route


async def test_each_route_gets_a_key_of_its_own_and_keeps_it(admin, services):
    created = await admin("PUT", f"/manage/routes/{TENANT}", pkj())
    assert created.status == 201
    auth = created.json()["upstreamAuth"]
    own = auth.pop("keyName")
    assert auth == {"type": "privateKeyJwt", "tokenUrl": TOKEN_URL, "clientId": "gw-client", "scope": "system/*.rs",
                    "clientSecretSet": False, "algorithm": "RS384"}
    assert own.startswith(TENANT[:8] + "-")
    assert [r.target_id for r in records(services, "provider-key.create")] == [f"{own}-rs384"]
    other = await admin("PUT", f"/manage/routes/{OTHER_TENANT}", pkj())
    assert other.status == 201 and other.json()["upstreamAuth"]["keyName"] not in (own, "gateway")
    again = await admin("PUT", f"/manage/routes/{TENANT}", pkj(scope="system/Patient.rs"))
    assert again.json()["upstreamAuth"]["keyName"] == own  # kept while its origins stay
    listed = {k["name"]: k for k in (await admin("GET", "/manage/provider-keys")).json()["items"]}
    assert listed[f"{own}-rs384"]["jwksUrl"] == f"http://localhost:7071/oauth2/provider-jwks?key={own}"
    assert [v["status"] for v in listed[f"{own}-rs384"]["versions"]] == ["active"]
    assert len(listed) == 2
    bind = records(services, "provider-key.bind")
    assert [(r.target_id, r.details["origins"]) for r in bind][0] == (
        own, [["http://127.0.0.1:9999", "http://127.0.0.1:9999"]])


async def test_a_route_may_share_a_key_bound_to_the_same_origins(admin, services):
    assert (await admin("PUT", f"/manage/routes/{TENANT}", pkj(keyName="st-mary"))).status == 201
    shared = await admin("PUT", f"/manage/routes/{OTHER_TENANT}", pkj("http://127.0.0.1:9999/r4", keyName="st-mary",
                                                                      clientId="second"))
    assert shared.status == 201  # same origins, another path and client id
    assert len(records(services, "provider-key.create")) == 1


async def test_a_route_key_is_separate_and_has_its_own_jwks_url(admin, services):
    assert (await admin("PUT", f"/manage/routes/{TENANT}", pkj(keyName="st-mary", algorithm="ES384"))).status == 201
    listed = (await admin("GET", "/manage/provider-keys")).json()["items"]
    assert [(k["name"], k["jwksUrl"]) for k in listed] == [
        ("st-mary-es384", "http://localhost:7071/oauth2/provider-jwks?key=st-mary")]


async def test_moving_a_routes_origins_gives_it_a_new_key_and_is_audited(admin, services):
    own = (await admin("PUT", f"/manage/routes/{TENANT}", pkj())).json()["upstreamAuth"]["keyName"]
    moved = await admin("PUT", f"/manage/routes/{TENANT}", pkj(tokenUrl="http://127.0.0.1:9998/token",
                                                                 clientId="other"))
    assert moved.status == 200
    fresh = moved.json()["upstreamAuth"]["keyName"]
    assert fresh != own
    record = records(services, "route.replace")[-1]
    assert record.details["boundFieldsMoved"] == ["upstreamAuth/tokenUrl", "upstreamAuth/clientId",
                                                  "upstreamAuth/keyName"]
    assert record.details["changes"]["upstreamAuth/tokenUrl"] == {"old": TOKEN_URL,
                                                                  "new": "http://127.0.0.1:9998/token"}
    unchanged = await admin("PUT", f"/manage/routes/{TENANT}", pkj(tokenUrl="http://127.0.0.1:9998/token",
                                                                     clientId="other", scope="system/Patient.rs"))
    assert unchanged.status == 200 and "boundFieldsMoved" not in records(services, "route.replace")[-1].details
    assert unchanged.json()["upstreamAuth"]["keyName"] == fresh


async def test_naming_the_old_key_while_moving_the_origins_is_refused_and_audited(admin, services):
    own = (await admin("PUT", f"/manage/routes/{TENANT}", pkj())).json()["upstreamAuth"]["keyName"]
    before = (await admin("GET", f"/manage/routes/{TENANT}")).json()
    moved = await admin("PUT", f"/manage/routes/{TENANT}", pkj("http://127.0.0.1:8000/x", keyName=own))
    problem = assert_problem(moved, 422)
    assert {e["field"] for e in problem["errors"]} == {"upstreamAuth/keyName", "fhirBaseUrl"}
    assert (await admin("GET", f"/manage/routes/{TENANT}")).json() == before
    refused = records(services, "route.put")[-1]
    assert refused.outcome == "failed:422 provider-key-bound-elsewhere"


async def test_rotation_publishes_a_pending_version_and_is_audited(admin, services):
    await admin("PUT", f"/manage/routes/{TENANT}", pkj(keyName="gateway"))
    before = (await services.provider_key_ring.jwks())["keys"]
    rotated = await admin("POST", "/manage/provider-keys/gateway-rs384/rotate")
    assert rotated.status == 201
    versions = rotated.json()["versions"]
    assert [v["status"] for v in versions] == ["active", "pending"]
    assert versions[1]["activatesOn"] > versions[1]["createdOn"]
    services.provider_key_ring.forget()
    assert len((await services.provider_key_ring.jwks())["keys"]) == len(before) + 1
    record = records(services, "provider-key.rotate")[-1]
    assert record.target_id == "gateway-rs384" and record.outcome == "success"
    assert record.details["changes"]["newestKid"] == {"old": versions[0]["kid"], "new": versions[1]["kid"]}


@pytest.mark.parametrize("name", ["gateway-rs384", "gateway-hs256", "nope"])
async def test_rotating_a_key_that_does_not_exist_is_404_and_creates_nothing(admin, services, name):
    assert_problem(await admin("POST", f"/manage/provider-keys/{name}/rotate"), 404)
    assert await services.provider_keys.names() == []
    refused = records(services, "provider-key.rotate")[-1]
    assert refused.outcome.startswith("failed:404")
    assert refused.target_id == (name if name == "gateway-rs384" else "(invalid)")


async def test_openapi_describes_private_key_jwt_and_provider_keys(admin):
    document = (await admin("GET", "/manage/openapi.json")).json()
    schema = document["components"]["schemas"]["UpstreamAuthPrivateKeyJwt"]
    assert set(schema["properties"]) == {"type", "tokenUrl", "clientId", "scope", "algorithm", "keyName"}
    assert schema["properties"]["algorithm"]["enum"] == ["RS384", "ES384"]
    assert "/manage/provider-keys/{keyName}/rotate" in document["paths"]


async def test_a_put_refused_by_its_precondition_creates_no_key(admin, services):
    assert (await admin("PUT", f"/manage/routes/{TENANT}", route_body())).status == 201
    stale = await admin("PUT", f"/manage/routes/{TENANT}", pkj(), headers={"If-Match": 'W/"stale"'})
    assert stale.status == 412
    assert (await admin("PUT", f"/manage/routes/{TENANT}", pkj(), headers={"If-None-Match": "*"})).status == 412
    assert await services.provider_keys.names() == []
