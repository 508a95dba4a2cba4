"""A function-key holder must not turn the admin API into more than it is: no managed-identity token for
another resource (Key Vault, Storage), no stored provider secret sent somewhere new, no change without a
field-by-field trace, and no admin write held for half a minute by a store that hangs.

Run on Table Storage (Azurite) and the Key Vault emulator, through the admin API's dispatcher as the
Functions host hands requests over, and through the proxy for the stored-route cases."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace

import pytest

from gateway.http import Headers, Request
from gateway.services import memory_services
from gateway.stores.models import UpstreamAuth
from tests.fixtures.common import make_settings
from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import connect
from tests.support.constants import TENANT_A
from tests.support.fhir import request
from tests.support.surfaces import dispatch, proxy
from tests.support.vault import deployment_secret

pytestmark = pytest.mark.integration

KEY = "security-admin-function-key-8d2f"
PROVIDER_SECRET = "provider-secret-value-never-elsewhere-3f9a"
register_sensitive(KEY)
register_sensitive(PROVIDER_SECRET)

PROVIDER = "https://fhir.contoso-hospital.example/r4"
FOREIGN_SCOPES = [
    "https://vault.azure.net/.default",                         # the gateway's Key Vault (signing keys, secrets)
    "https://storage.azure.com/.default",                       # its Table Storage (routes, clients)
    "https://management.azure.com/.default",
    "https://graph.microsoft.com/.default",
    "https://other-hospital.example/.default",                  # another provider
    "https://fhir.contoso-hospital.example.attacker.example/.default",
    "https://fhir.contoso-hospital.example:8443/.default",      # same host, another port
    "http://fhir.contoso-hospital.example/.default",            # same host, another scheme
    "https://fhir.contoso-hospital.example@vault.azure.net/.default",
    "https://vault.azure.net/fhir.contoso-hospital.example/.default",
    "https://fhir.contoso-hospital.example/.default https://vault.azure.net/.default",
    "https://fhir.contoso-hospital.example/r4/.default",        # not the origin form
    "https://fhir.contoso-hospital.example/.default?x=1",
    "https://fhir.contoso-hospital.example",                    # a resource, not the .default scope
    "api://fhir.contoso-hospital.example/.default",
]


async def call(services, method: str, path: str, body=None) -> tuple[int, dict, Headers]:
    data = json.dumps(body).encode() if body is not None else b""
    headers = Headers({"x-functions-key": KEY, "content-type": "application/json",
                       "x-forwarded-for": "198.51.100.23:443"})
    req = Request(method=method, url=f"http://localhost:7071{path}", headers=headers,
                  route_params={"path": path.removeprefix("/manage/")}, body=data)
    response = await dispatch(req, services)
    return response.status, (json.loads(response.body) if response.body else {}), response.headers


def route(**fields) -> dict:
    return {"fhirBaseUrl": PROVIDER, "fhirVersion": "STU3", "displayName": "Contoso", **fields}


def cc(token_url: str = "https://login.contoso-hospital.example/token", client_id: str = "gateway",
       secret: str | None = PROVIDER_SECRET) -> dict:
    auth = {"type": "clientCredentials", "tokenUrl": token_url, "clientId": client_id, "scope": "system/*.read"}
    if secret is not None:
        auth["clientSecret"] = secret
    return auth


async def audit_records(services) -> list:
    return (await services.audit.query(page_size=100)).items


# ------------------------------------------------------------------------------ managed-identity scopes

@pytest.mark.parametrize("scope", FOREIGN_SCOPES)
async def test_a_managed_identity_route_cannot_name_another_resources_scope(azure_services, scope):
    status, problem, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}",
                                    route(upstreamAuth={"type": "managedIdentity", "scope": scope}))
    assert status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["upstreamAuth/scope"]
    assert scope not in json.dumps(problem)
    assert await azure_services.routes.get(TENANT_A) is None
    [record] = await audit_records(azure_services)
    assert (record.action, record.outcome, record.details["reason"]) == \
        ("route.put", "failed:422 managed-identity-scope", "managed-identity-scope")
    assert record.details["fields"] == ["upstreamAuth/scope"] and scope not in json.dumps(record.details)


@pytest.mark.parametrize("base", ["https://gwkv.vault.azure.net/fhir", "https://gwstore.table.core.windows.net/x",
                                  "https://gwstore.blob.core.windows.net/fhir", "https://management.azure.com/fhir"])
async def test_a_managed_identity_route_cannot_point_at_a_resource_the_identity_holds_roles_on(azure_services, base):
    status, problem, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}",
                                    {**route(upstreamAuth={"type": "managedIdentity"}), "fhirBaseUrl": base})
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["fhirBaseUrl"]
    assert await azure_services.routes.get(TENANT_A) is None


KEY_VAULT_SPELLINGS = ["https://kv.vault.azure.net./fhir", "https://kv.vault.azure\u3002net/fhir",
                       "https://KV.VAULT.AZURE.NET./fhir", "https://kv.vault.azure\uff0enet/fhir",
                       "https://kv.vault.azure\uff61net./fhir", "https://kv.vault.xn--azure-\u00e9/fhir"]


@pytest.mark.parametrize("base", KEY_VAULT_SPELLINGS[:5])
async def test_another_spelling_of_a_key_vault_host_is_refused_as_that_host(azure_services, base):
    """A trailing dot, upper case and the IDNA full stops U+3002, U+FF0E, U+FF61 all reach kv.vault.azure.net."""
    status, problem, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}",
                                    {**route(upstreamAuth={"type": "managedIdentity"}), "fhirBaseUrl": base})
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["fhirBaseUrl"], problem
    assert await azure_services.routes.get(TENANT_A) is None


@pytest.mark.parametrize("base", KEY_VAULT_SPELLINGS)
async def test_a_stored_route_to_another_spelling_of_a_key_vault_host_never_gets_a_token(azure_services, base):
    credential = RecordingCredential()
    azure_services.credential_factory = lambda _id: credential  # the managed identity stand-in
    token = await connect(azure_services, TENANT_A, base, upstream_auth=UpstreamAuth(type="managedIdentity"))
    response = await proxy(request("GET", "/Patient/1", token), azure_services)
    assert response.status == 502
    assert credential.scopes == []


@pytest.mark.parametrize("scope", [None, "https://fhir.contoso-hospital.example/.default",
                                   "HTTPS://FHIR.Contoso-Hospital.example/.default",
                                   "https://fhir.contoso-hospital.example./.default",
                                   "https://fhir.contoso-hospital.example:443/.default"])
async def test_the_providers_own_origin_is_accepted_in_any_normal_form(azure_services, scope):
    auth = {"type": "managedIdentity", **({"scope": scope} if scope else {})}
    status, body, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", route(upstreamAuth=auth))
    assert status == 201, body


class RecordingCredential:
    """Stands in for ManagedIdentityCredential: records every scope it is asked for."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, scope: str):
        self.scopes.append(scope)
        return SimpleNamespace(token=f"token-for:{scope}", expires_on=int(time.time()) + 3600)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("scope", ["https://vault.azure.net/.default", "https://storage.azure.com/.default"])
async def test_a_stored_route_with_a_foreign_scope_never_gets_a_token(azure_services, provider, scope):
    """A route written before the rule (or straight into the table) is checked again before each token request."""
    credential = RecordingCredential()
    azure_services.credential_factory = lambda _id: credential  # the managed identity stand-in
    token = await connect(azure_services, TENANT_A, provider.base("/stu3"),
                          upstream_auth=UpstreamAuth(type="managedIdentity", scope=scope))
    response = await proxy(request("GET", "/Patient/1", token), azure_services)
    assert response.status == 502
    assert credential.scopes == [] and provider.requests == []


async def test_a_stored_route_without_scope_gets_a_token_for_its_provider_only(azure_services, provider):
    credential = RecordingCredential()
    azure_services.credential_factory = lambda _id: credential  # the managed identity stand-in
    token = await connect(azure_services, TENANT_A, provider.base("/stu3"),
                          upstream_auth=UpstreamAuth(type="managedIdentity"))
    response = await proxy(request("GET", "/Patient/1", token), azure_services)
    assert response.status == 200
    assert credential.scopes == [f"{provider.origin}/.default"]
    assert provider.requests[0].header("Authorization") == f"Bearer token-for:{provider.origin}/.default"


# ------------------------------------------------------------------------------ stored provider secrets

MOVES = [
    ("tokenUrl", {"upstreamAuth": cc(token_url="https://attacker.example/token", secret=None)},
     "upstreamAuth/tokenUrl"),
    ("clientId", {"upstreamAuth": cc(client_id="someone-else", secret=None)}, "upstreamAuth/clientId"),
    ("provider origin", {"fhirBaseUrl": "https://attacker.example/r4", "upstreamAuth": cc(secret=None)},
     "fhirBaseUrl"),
    ("provider port", {"fhirBaseUrl": "https://fhir.contoso-hospital.example:8443/r4",
                       "upstreamAuth": cc(secret=None)}, "fhirBaseUrl"),
]


@pytest.mark.parametrize(("name", "change", "moved"), MOVES, ids=[m[0] for m in MOVES])
async def test_a_stored_provider_secret_never_follows_a_moved_binding(azure_services, name, change, moved):
    status, created, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", route(upstreamAuth=cc()))
    assert status == 201, created
    before = await azure_services.routes.get(TENANT_A)
    status, problem, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", {**route(), **change})
    assert status == 422, problem
    assert {e["field"] for e in problem["errors"]} == {"upstreamAuth/clientSecret", moved}
    after = await azure_services.routes.get(TENANT_A)
    assert after == before  # nothing changed, the secret still belongs to the original token endpoint
    refused = (await audit_records(azure_services))[0]
    assert (refused.action, refused.outcome, refused.details["reason"]) == \
        ("route.put", "failed:422 secret-bound-to-changed-field", "secret-bound-to-changed-field")
    assert PROVIDER_SECRET not in json.dumps(refused.details)
    # with the secret sent again the same change is fine
    resent = {**change, "upstreamAuth": {**change["upstreamAuth"], "clientSecret": PROVIDER_SECRET}}
    status, body, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", {**route(), **resent})
    assert status == 200, body


async def test_changes_that_move_nothing_keep_the_stored_secret(azure_services):
    await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", route(upstreamAuth=cc()))
    kept = (await azure_services.routes.get(TENANT_A)).upstream_auth.secret_name
    harmless = route(displayName="Contoso (renamed)", enabled=False, batchMode="fanout", allowWrites=True,
                     timeouts={"connectSeconds": 3, "readSeconds": 20},
                     fhirBaseUrl="https://FHIR.Contoso-Hospital.example:443/other-path",  # same origin
                     upstreamAuth={**cc(secret=None), "scope": "system/Patient.read"})
    status, body, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", harmless)
    assert status == 200, body
    assert body["upstreamAuth"]["clientSecretSet"] is True
    assert (await azure_services.routes.get(TENANT_A)).upstream_auth.secret_name == kept
    assert (await azure_services.secrets.get(kept)).value == PROVIDER_SECRET


# ------------------------------------------------------------------------------ audit: every field, old and new

async def test_a_route_change_is_audited_field_by_field_with_old_values_and_no_secret(azure_services):
    await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", route(upstreamAuth=cc()))
    changed = route(privateNetwork=True, batchMode="fanout", timeouts={"connectSeconds": 2, "readSeconds": 15},
                    upstreamAuth={**cc(token_url="https://login2.contoso-hospital.example/token"),
                                  "scope": "system/Patient.read"})
    status, body, _ = await call(azure_services, "PUT", f"/manage/routes/{TENANT_A}", changed)
    assert status == 200, body
    replace_record = next(r for r in await audit_records(azure_services) if r.action == "route.replace")
    assert replace_record.details["changes"] == {
        "privateNetwork": {"old": False, "new": True},
        "batchMode": {"old": "passthrough", "new": "fanout"},
        "timeouts/connectSeconds": {"old": None, "new": 2},
        "timeouts/readSeconds": {"old": None, "new": 15},
        "upstreamAuth/tokenUrl": {"old": "https://login.contoso-hospital.example/token",
                                  "new": "https://login2.contoso-hospital.example/token"},
        "upstreamAuth/scope": {"old": "system/*.read", "new": "system/Patient.read"},
        "upstreamAuth/clientSecret": {"old": "(set)", "new": "(replaced)"},
    }
    trail = json.dumps([r.details for r in await audit_records(azure_services)])
    assert PROVIDER_SECRET not in trail


# ------------------------------------------------------------------------------ a hung store

class Hanging:
    """Wraps a store: every call hangs while ``hung`` is set (the store accepts but never answers)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.hung = asyncio.Event()
        self._awake = asyncio.Event()

    def wake(self) -> None:
        self.hung.clear()
        self._awake.set()

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        async def call(*args, **kwargs):
            if self.hung.is_set():
                await self._awake.wait()
            return await attr(*args, **kwargs)
        return call


@pytest.mark.parametrize("store", ["clients", "secrets"])
async def test_an_admin_write_to_a_hung_store_is_answered_503_in_time_and_leaves_nothing(clock, store):
    services = memory_services(make_settings(STORE_TIMEOUT_SECONDS="0.5"), clock)
    hanging = Hanging(getattr(services, store))
    setattr(services, store, hanging)
    hanging.hung.set()
    started = time.monotonic()
    status, problem, headers = await asyncio.wait_for(
        call(services, "POST", "/manage/clients", {"displayName": "Teams", "allowedTenants": ["*"]}), 5)
    elapsed = time.monotonic() - started
    assert status == 503 and int(headers["Retry-After"]) > 0, problem
    assert elapsed < 0.5 + 1.0
    from gateway.admin import attempts

    hanging.wake()  # the store answers the writes it was sent; the gateway undoes them
    await attempts.settle(5)
    assert (await services.clients.list()).items == []
    assert [s for s in await services.secrets.list() if not deployment_secret(s.name)] == []
