"""The fault suite's stack: the local Functions host on Azurite and the Key Vault emulator, driven over HTTP.

``gateway(**settings)`` starts a host (``funchost``) on this test's tables and secrets (``azure_settings``)
with an admin function key, and returns a :class:`Gateway` that onboards routes and clients through the
admin API, asks for tokens and proxies reads exactly as a client would. ``Traffic`` keeps token and proxy
requests flowing from a thread while a test stops and restarts a service; ``stored_state`` reads what the
stores really hold (Table Storage and Key Vault) to prove nothing was half-written.

Everything started here is stopped here: hosts by ``funchost``, Azurite and the Key Vault emulator are
running again after every test, and each host's output goes through the log scanner.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from gateway.config import Settings
from gateway.services import build_services
from tests.fixtures.leaks import register_sensitive, scan_text
from tests.support.vault import deployment_secret

ADMIN_KEY = "faults-admin-function-key-5c1e9b"
TENANT_C = "3c5e7a9b-2d4f-4a6b-8c0d-1e2f3a4b5c6d"
HTTP_TIMEOUT = 30.0
"""Bound on any single request of the suite."""
FAIL_FAST_SECONDS = 10.0
"""An outage answer must come back within this (generous: a refused connection is immediate)."""

# The hardest case for the hot path: nothing is fresh, every request goes to the stores, so an outage is
# felt at once and only stale-if-error keeps cached clients, verifiers, routes and keys serving.
NO_FRESH_CACHE = {"CLIENT_CACHE_SECONDS": "0", "ROUTE_CACHE_SECONDS": "0", "SIGNING_KEY_CACHE_SECONDS": "0"}

register_sensitive(ADMIN_KEY)


@dataclass
class Gateway:
    """A running local host and what a client or an administrator does with it."""

    host: Any
    settings: Settings
    admin: httpx.Client = field(init=False)
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.admin = httpx.Client(base_url=self.host.base_url, headers={"x-functions-key": ADMIN_KEY},
                                  timeout=HTTP_TIMEOUT)
        self.http = httpx.Client(base_url=self.host.base_url, timeout=HTTP_TIMEOUT)

    @property
    def base_url(self) -> str:
        return self.host.base_url

    def close(self) -> None:
        self.admin.close()
        self.http.close()

    def restart(self) -> None:
        """Stop the host (SIGTERM, as the platform does) and start it again on the same port and stores."""
        self.close()
        self.host.stop()
        self.host.start()
        self.__post_init__()

    # -- administration ------------------------------------------------------------------------------------
    def put_route(self, tenant: str, fhir_base_url: str, **fields: Any) -> httpx.Response:
        body = {"fhirBaseUrl": fhir_base_url, "fhirVersion": "STU3", "displayName": f"tenant {tenant[:8]}",
                **fields}
        return self.admin.put(f"/manage/routes/{tenant}", json=body)

    def create_client(self, *tenants: str) -> httpx.Response:
        response = self.admin.post("/manage/clients",
                                   json={"displayName": "Teams Patients", "allowedTenants": list(tenants) or ["*"]})
        if response.status_code == 201:
            register_sensitive(response.json()["clientSecret"])
        return response

    def onboard(self, tenant: str, fhir_base_url: str, **route_fields: Any) -> tuple[str, str]:
        """A route for ``tenant`` and a client allowed every tenant: ``(client_id, secret)``."""
        route = self.put_route(tenant, fhir_base_url, **route_fields)
        assert route.status_code in (200, 201), route.text
        created = self.create_client("*")
        assert created.status_code == 201, created.text
        return created.json()["clientId"], created.json()["clientSecret"]

    def add_secret(self, client_id: str) -> httpx.Response:
        response = self.admin.post(f"/manage/clients/{client_id}/secrets")
        if response.status_code == 201:
            register_sensitive(response.json()["clientSecret"])
        return response

    # -- a client's traffic --------------------------------------------------------------------------------
    def token_response(self, client_id: str, secret: str, tenant: str, http: httpx.Client | None = None,
                       ) -> httpx.Response:
        return (http or self.http).post("/oauth2/token", auth=(client_id, secret),
                                        data={"grant_type": "client_credentials", "scope": tenant})

    def token(self, client_id: str, secret: str, tenant: str) -> str:
        response = self.token_response(client_id, secret, tenant)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        register_sensitive(token)
        return token

    def read(self, token: str, path: str = "Patient/1", http: httpx.Client | None = None) -> httpx.Response:
        return (http or self.http).get(f"/fhir/{path}", headers={"Authorization": f"Bearer {token}",
                                                                 "Accept": "application/fhir+json"})


def upstream_route(tenant: str, secret: str) -> dict:
    """A route body whose provider secret (OAuth client credentials) goes to Key Vault."""
    register_sensitive(secret)
    return {"fhirBaseUrl": "http://127.0.0.1:9/stu3", "fhirVersion": "STU3", "displayName": f"cc {tenant[:8]}",
            "upstreamAuth": {"type": "clientCredentials", "tokenUrl": "http://127.0.0.1:9/token",
                             "clientId": "gateway", "clientSecret": secret, "scope": "system/*.read"}}


def problem(response: httpx.Response, status: int) -> dict:
    """Assert an admin problem+json answer of ``status`` and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def unavailable(response: httpx.Response) -> dict:
    """503 problem+json with ``Retry-After``: the admin API's answer to a store outage."""
    body = problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    return body


def operation_outcome(response: httpx.Response, status: int) -> dict:
    """Assert a FHIR OperationOutcome answer of ``status``; return its first issue."""
    assert response.status_code == status, response.text
    assert "fhir+json" in response.headers["content-type"], response.headers
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]


def oauth_error(response: httpx.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert response.headers["Cache-Control"] == "no-store"
    return body


class Traffic:
    """Token and proxy requests from a thread, as the reference client sends them, until stopped.

    Bounded in count and time; ``statuses`` counts ``(kind, status)``; a request that raised counts as
    status 0 (the gateway did not answer).
    """

    def __init__(self, gateway: Gateway, client_id: str, secret: str, tenant: str, token: str,
                 max_requests: int = 4000, max_seconds: float = 60.0, timeout: float = HTTP_TIMEOUT) -> None:
        self.gateway = gateway
        self.timeout = timeout
        self.credentials = (client_id, secret, tenant)
        self.token = token
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.statuses: Counter[tuple[str, int]] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-traffic", daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        sent = 0
        with httpx.Client(base_url=self.gateway.base_url, timeout=self.timeout) as http:
            while not self._stop.is_set() and sent < self.max_requests and time.monotonic() < deadline:
                for kind, call in (("token", lambda: self.gateway.token_response(*self.credentials, http=http)),
                                   ("read", lambda: self.gateway.read(self.token, http=http))):
                    try:
                        status = call().status_code
                    except httpx.HTTPError:
                        status = 0
                    self.statuses[(kind, status)] += 1
                    sent += 1

    def count(self) -> int:
        return sum(self.statuses.values())

    def wait_for(self, more: int, timeout: float = 30.0) -> None:
        """Block until ``more`` further requests were answered (the traffic really flows)."""
        target = self.count() + more
        deadline = time.monotonic() + timeout
        while self.count() < target and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.count() >= target, f"traffic stalled: {dict(self.statuses)}"

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(HTTP_TIMEOUT + 5)


@dataclass(frozen=True)
class StoredState:
    """What the stores hold under this test's prefixes."""

    clients: dict[str, Any]
    routes: dict[str, Any]
    secret_names: set[str]
    audit_actions: list[str]

    def verifier_names(self) -> set[str]:
        return {n for n in self.secret_names if "-client-" in n and not deployment_secret(n)}

    def upstream_names(self) -> set[str]:
        return {n for n in self.secret_names if "-upstream-" in n}

    def signing_key_names(self) -> set[str]:
        return {n for n in self.secret_names if "-signing-" in n and not n.endswith("-signing-index")}

    def expected_verifier_names(self, prefix: str) -> set[str]:
        return {f"{prefix}-client-{c.client_id}-{m.secret_id}" for c in self.clients.values() for m in c.secrets}


def stored_state(settings: Settings) -> StoredState:
    """Read Table Storage and Key Vault directly (fresh connections, no cache)."""

    async def read() -> StoredState:
        services = await build_services(settings)
        try:
            clients = {c.client_id: c for c in (await services.clients.list(page_size=1000)).items}
            routes = {r.tenant_id: r for r in (await services.routes.list(page_size=1000)).items}
            prefix = settings.key_vault_secret_prefix + "-"
            names = {s.name for s in await services.secrets.list() if s.name.startswith(prefix)}
            audit = [r.action for r in (await services.audit.query(page_size=1000)).items]
            return StoredState(clients, routes, names, audit)
        finally:
            await services.aclose()

    return asyncio.run(read())


def mint_token(settings: Settings, client_id: str, tenant: str) -> str:
    """A token signed in-process with the gateway's own keys (Key Vault), without asking the host for it,
    so that the host has never looked the tenant's route up."""

    async def mint() -> str:
        services = await build_services(settings)
        try:
            return (await services.token_issuer.issue(client_id=client_id, tenant_id=tenant)).access_token
        finally:
            await services.aclose()

    token = asyncio.run(mint())
    register_sensitive(token)
    return token


def assert_nothing_half_written(state: StoredState, settings: Settings) -> None:
    """Every verifier belongs to a stored secret and vice versa; every upstream secret to a stored route."""
    prefix = settings.key_vault_secret_prefix
    assert state.verifier_names() == state.expected_verifier_names(prefix)
    assert state.upstream_names() == {r.upstream_auth.secret_name for r in state.routes.values()
                                      if r.upstream_auth.secret_name}


class RawProvider:
    """A TCP server on loopback that reads a request head and answers ``payload`` verbatim, then closes.

    For the answers an HTTP server library will not send: a truncated body, a cut status line, a broken
    chunked encoding. ``connections`` counts the connections it accepted.
    """

    def __init__(self) -> None:
        self.payload = b""
        self.stall = 0.0  # seconds to hold the connection open after the payload
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="raw-provider", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(self.payload)
            await writer.drain()
            if self.stall:
                await asyncio.sleep(self.stall)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    def start(self) -> RawProvider:
        self._thread.start()

        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def raw_provider() -> Iterator[RawProvider]:
    server = RawProvider().start()
    yield server
    server.stop()


def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gateway(funchost, azure_settings: Settings, azurite, keyvault) -> Iterator[Callable[..., Gateway]]:
    """``gateway(**settings)``: a local host on this test's stores; services are restarted afterwards."""
    started: list[Gateway] = []

    def start(**overrides: str) -> Gateway:
        env = {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": "http://localhost:7071",
               **azurite.settings(), **keyvault.settings(), "TABLE_NAME_PREFIX": azure_settings.table_name_prefix,
               "KEY_VAULT_SECRET_PREFIX": azure_settings.key_vault_secret_prefix, "LOCAL_FUNCTION_KEY": ADMIN_KEY,
               "FHIR_VERSION": "STU3", **overrides}
        gw = Gateway(funchost(env), azure_settings)
        started.append(gw)
        return gw

    try:
        yield start
    finally:
        azurite.start()
        keyvault.start()
        for gw in started:
            gw.close()
            scan_text(gw.host.output(), "funchost (faults)")
