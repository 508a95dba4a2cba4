"""A store that hangs: every admin write is answered 503 + Retry-After within STORE_TIMEOUT_SECONDS, and
when the store wakes up and applies what it was sent, the gateway undoes it (or, for an irreversible last
step of a deletion, finishes and audits it): nothing is ever half-written."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from gateway.admin import attempts
from gateway.admin.actor import Actor
from gateway.admin.tenant_routes import RouteSpec
from gateway.services import memory_services
from gateway.upstream.client_credentials import ClientCredentialsAuth
from tests.fixtures.common import make_settings
from tests.support.constants import TENANT
from tests.support.vault import deployment_secret
from tests.unit.admin.conftest import AdminCaller, route_body

BOUND = 0.2
ACTOR = Actor("function-key:unit")


class Hang:
    """Wraps a store: ``method`` hangs (accepts, never answers) while armed, until :meth:`wake`."""

    def __init__(self, inner: Any, method: str) -> None:
        self._inner = inner
        self._method = method
        self.armed = False
        self.calls = 0
        self._awake = asyncio.Event()

    def wake(self) -> None:
        self._awake.set()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        async def hanging(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                self.armed = False  # only the first call hangs; compensations go through
                self.calls += 1
                await self._awake.wait()
            return await attr(*args, **kwargs)
        return hanging


@pytest.fixture
async def bounded(clock):
    services = memory_services(make_settings(STORE_TIMEOUT_SECONDS=str(BOUND)), clock)
    yield services
    await attempts.settle(5)
    await services.aclose()


async def state(services) -> tuple:
    def plain(item):
        return replace(item, etag=None, updated_on=None, created_on=None)

    routes = {r.tenant_id: plain(r) for r in (await services.routes.list(page_size=1000)).items}
    clients = {c.client_id: plain(c) for c in (await services.clients.list(page_size=1000)).items}
    return routes, clients, {s.name for s in await services.secrets.list()}


async def seed(services) -> dict[str, str]:
    """A route with a provider secret and a client with one secret."""
    await services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(
        fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3",
        upstream=ClientCredentialsAuth(token_url="http://127.0.0.1:9999/token", client_id="gw"), upstream_secret="s1"))
    new = await services.admin_api.clients.create(ACTOR, "Teams", ["*"])
    return {"client": new.client.client_id, "secret": new.secret_id}


CASES = [
    # (request, store, method that hangs)
    (lambda ids: ("POST", "/manage/clients", {"displayName": "x", "allowedTenants": ["*"]}), "secrets", "set"),
    (lambda ids: ("POST", "/manage/clients", {"displayName": "x", "allowedTenants": ["*"]}), "clients", "create"),
    (lambda ids: ("PATCH", f"/manage/clients/{ids['client']}", {"enabled": False}), "clients", "replace"),
    (lambda ids: ("DELETE", f"/manage/clients/{ids['client']}", None), "clients", "delete"),
    (lambda ids: ("POST", f"/manage/clients/{ids['client']}/secrets", None), "secrets", "set"),
    (lambda ids: ("POST", f"/manage/clients/{ids['client']}/secrets", None), "clients", "replace"),
    (lambda ids: ("DELETE", f"/manage/clients/{ids['client']}/secrets/{ids['secret']}", None), "clients",
     "replace"),
    (lambda ids: ("PUT", f"/manage/routes/{TENANT}", route_body(
        upstreamAuth={"type": "clientCredentials", "tokenUrl": "http://127.0.0.1:9999/token", "clientId": "gw",
                      "clientSecret": "s2"})), "secrets", "set"),
    (lambda ids: ("PUT", f"/manage/routes/{TENANT}", route_body(displayName="renamed", upstreamAuth={
        "type": "clientCredentials", "tokenUrl": "http://127.0.0.1:9999/token", "clientId": "gw"})),
     "routes", "replace"),
    (lambda ids: ("PUT", "/manage/routes/11111111-2222-3333-4444-555555555555", route_body()), "routes", "create"),
    (lambda ids: ("DELETE", f"/manage/routes/{TENANT}", None), "routes", "delete"),
    (lambda ids: ("GET", "/manage/routes", None), "routes", "list"),
]


CASE_IDS = ["create-client/kv-set", "create-client/table-create", "update-client/table-replace",
            "delete-client/table-delete", "add-secret/kv-set", "add-secret/table-replace",
            "revoke-secret/table-replace", "put-route/kv-set", "replace-route/table-replace",
            "create-route/table-create", "delete-route/table-delete", "list-routes/table-list"]


@pytest.mark.parametrize(("make", "store", "method"), CASES, ids=CASE_IDS)
async def test_a_hung_store_is_answered_in_time_and_what_lands_later_is_undone(bounded, make, store, method):
    ids = await seed(bounded)
    before = await state(bounded)
    records = len(bounded.audit.records)
    hang = Hang(getattr(bounded, store), method)
    setattr(bounded, store, hang)
    hang.armed = True
    started = time.monotonic()
    reply = await asyncio.wait_for(AdminCaller(bounded)(*make(ids)), 5)
    elapsed = time.monotonic() - started
    assert hang.calls == 1
    assert reply.status == 503 and int(reply.headers["Retry-After"]) > 0, reply.json()
    assert reply.json()["type"].endswith(":unavailable")
    assert elapsed < BOUND + 0.5
    hang.wake()  # the store applies what it was sent; the abandoned operation undoes it
    await attempts.settle(5)
    assert attempts.in_background() == 0
    assert await state(bounded) == before
    if make(ids)[0] != "GET":  # reads are not audited
        assert bounded.audit.records[records].outcome == "failed:503 store-timeout"


@pytest.mark.parametrize(("path", "store"), [
    ("/manage/clients/{client}", "secrets"),
    ("/manage/clients/{client}/secrets/{secret}", "secrets"),
    ("/manage/routes/" + TENANT, "secrets"),
])
async def test_a_deletion_whose_last_step_lands_late_is_complete_and_audited(bounded, path, store):
    """Key Vault deletions purge: they cannot be undone. One that lands after the 503 completes the change."""
    ids = await seed(bounded)
    hang = Hang(bounded.secrets, "delete")
    bounded.secrets = hang
    hang.armed = True
    reply = await AdminCaller(bounded)("DELETE", path.format(**ids))
    assert reply.status == 503
    hang.wake()
    await attempts.settle(5)
    routes, clients, secrets = await state(bounded)
    if "/routes/" in path:
        assert routes == {} and not any("-upstream-" in n for n in secrets)
    elif "/secrets/" in path:
        assert all(s.secret_id != ids["secret"] for c in clients.values() for s in c.secrets)
        assert not any(ids["secret"] in n for n in secrets)
    else:
        assert clients == {} and not any("-client-" in n and not deployment_secret(n) for n in secrets)
    done = bounded.audit.records[-1]
    assert done.outcome == "success" and done.details["completedAfterAnswer"] is True


async def test_a_change_that_committed_in_time_is_answered_even_if_its_clean_up_is_slow(bounded):
    """The route replacement landed within the bound: the caller hears 200, after the old secret's deletion."""
    await seed(bounded)
    hang = Hang(bounded.secrets, "delete")
    bounded.secrets = hang
    hang.armed = True
    asyncio.get_running_loop().call_later(BOUND * 3, hang.wake)
    reply = await asyncio.wait_for(AdminCaller(bounded)("PUT", f"/manage/routes/{TENANT}", route_body(upstreamAuth={
        "type": "clientCredentials", "tokenUrl": "http://127.0.0.1:9999/token", "clientId": "gw",
        "clientSecret": "s3"})), 5)
    assert reply.status == 200, reply.json()
    assert len([s for s in await bounded.secrets.list() if "-upstream-" in s.name]) == 1


async def test_run_within_returns_the_result_and_propagates_errors():
    async def answer() -> int:
        return 42

    async def fail() -> int:
        raise ValueError("boom")

    assert await attempts.run_within(1, answer) == 42
    with pytest.raises(ValueError, match="boom"):
        await attempts.run_within(1, fail)


async def test_outside_an_attempt_every_step_may_run():
    attempts.checkpoint()
    assert attempts.commit() is True and attempts.answered() is False


@pytest.mark.parametrize(("name", "attribute", "default"), [
    ("STORE_TIMEOUT_SECONDS", "store_timeout_seconds", 8),
    ("STORE_READ_TIMEOUT_SECONDS", "store_read_timeout_seconds", 4)])
def test_the_bounds_are_settings_with_sane_defaults(name, attribute, default):
    from gateway.config import SettingsError

    assert getattr(make_settings(), attribute) == default
    assert getattr(make_settings(**{name: "2.5"}), attribute) == 2.5
    for bad in ("0", "61", "nan", "soon"):
        with pytest.raises(SettingsError, match=name):
            make_settings(**{name: bad})


async def test_a_rotation_whose_key_lands_late_is_complete_and_audited(bounded):
    """A new signing key cannot be taken back once workers may have loaded it: it stands, and the trail says so."""
    hang = Hang(bounded.secrets, "set")
    bounded.secrets = hang
    hang.armed = True
    reply = await AdminCaller(bounded)("POST", "/manage/signing-keys")
    assert reply.status == 503 and reply.headers["Retry-After"]
    hang.wake()
    await attempts.settle(5)
    rotated = [r for r in bounded.audit.records if r.action == "signing-key.rotate"]
    assert [r.outcome for r in rotated] == ["failed:503 store-timeout", "success"]
    assert rotated[-1].details["completedAfterAnswer"] is True
    keys = [s.name for s in await bounded.secrets.list() if "-signing-" in s.name]
    assert f"gw-signing-{rotated[-1].target_id}" in keys
    assert [k.kid for k in await bounded.signing_key_admin.list_keys() if k.status == "active"] == [
        rotated[-1].target_id]
