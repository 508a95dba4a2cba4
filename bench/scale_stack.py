"""The scale benchmark's stores: Azurite behind a counting proxy, the Key Vault emulator counting its calls, and
seeding of clients and routes in exactly the shape the admin API writes them.

Seeding writes straight to Azurite and into the emulator's state file (a client created through the API costs a
Key Vault write that rewrites the vault's file, which is quadratic at 50,000 clients), but through the builders
the admin code uses: ``new_client_id`` and the ``Client`` record the admin creates (mapped to its entity by the
store's own ``client_to_entity``), ``verifier_secret`` for the Key Vault secret (sent as the SDK's ``set_secret``
body), the admin's route builder for routes. So the shape cannot drift from what the admin API writes. First
the deployment's ensure step runs (the signing key, the client id key new ids are tagged with); with
``legacy_ids`` the clients get the version-4 UUIDs of versions before tags, and the ensure step runs again after
each seeding to index them, as after an upgrade.

Used by ``bench.scale_bench`` (sizes of 1,000 to 50,000 clients) and by the regression test that runs the same
scenarios at about 2,000 clients.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.azurite import AzuriteProcess, free_port
from devtools.azurite_meter import TableMeter, read_counts
from devtools.keyvault_emulator.vault import Vault
from gateway.admin.clients import new_client_id
from gateway.admin.tenant_routes import RouteSpec, _route_of
from gateway.admin.verifiers import VerifierSecret, verifier_secret
from gateway.clock import SystemClock
from gateway.credentials import hint_of, new_secret
from gateway.stores.models import ALL_TENANTS, Client, ClientAuthentication, SecretMetadata
from gateway.stores.tables.entities import client_to_entity, route_to_entity
from gateway.stores.tables.names import TableNames

SEED_CONCURRENCY = 16
SEED_ATTEMPTS = 5
LEGIT_CLIENTS = 20
"""Clients whose secrets the benchmark keeps (the legitimate traffic); every other secret is thrown away."""
PROVIDER = "https://fhir.example.org/r4"


def tenant_of(index: int) -> str:
    """The tenant GUID of route ``index`` (deterministic, lowercase)."""
    return str(uuid.UUID(int=(0x5CA1E << 100) | index, version=4))


@dataclass
class Seeded:
    """What was seeded: client counts and the legitimate clients' ids and secrets."""

    clients: int = 0
    routes: int = 0
    legit: list[tuple[str, str]] = field(default_factory=list)


def verifier_body(verifier: VerifierSecret) -> dict[str, Any]:
    """The body ``SecretClient.set_secret`` sends for this verifier (Key Vault's ``SecretSetParameters``)."""
    return {"value": verifier.value, "tags": verifier.tags, "contentType": verifier.content_type,
            "attributes": {"enabled": True, "exp": int(verifier.expires_on.timestamp())}}


def client_record(index: int, now: datetime, lifetime_days: int, key: bytes | None) -> tuple[Client, str, str]:
    """Client ``index`` as ``create_client`` makes it: its record, its first secret and that secret's id; its id
    tagged with ``key``, or (None) a version-4 UUID as versions before tags made them."""
    client_id = new_client_id(key) if key is not None else str(uuid.uuid4())
    secret_id, secret = new_secret()
    expires_on = now + timedelta(days=lifetime_days)
    meta = SecretMetadata(secret_id, hint_of(secret), now, expires_on)
    tenants = (ALL_TENANTS,) if index < LEGIT_CLIENTS else (tenant_of(index % 10_000),)
    client = Client(client_id=client_id, display_name=f"scale client {index}", allowed_tenants=tenants,
                    enabled=True, secrets=(meta,), authentication=ClientAuthentication())
    return client, secret, secret_id


class ScaleStack:
    """Azurite (in memory) behind a :class:`TableMeter`, and the Key Vault emulator, in ``workdir``."""

    def __init__(self, workdir: Path, prefix: str = "scale", *, emulator_args: tuple[str, ...] = (),
                 legacy_ids: bool = False) -> None:
        from tests.fixtures.keyvault import KeyVaultEmulator

        self.workdir = workdir
        self.prefix = prefix
        self.azurite = AzuriteProcess(free_port(), workdir / "azurite", in_memory=True)
        self.meter: TableMeter | None = None
        self.vault = KeyVaultEmulator(workdir / "keyvault", None, *emulator_args)
        self.seeded = Seeded()
        self.legacy_ids = legacy_ids
        self._id_key: bytes | None = None

    # -- lifetime ---------------------------------------------------------------------------------------------
    def start(self) -> ScaleStack:
        self.azurite.start()
        upstream = self.azurite.table_endpoint.rsplit("/", 1)[0]
        self.meter = TableMeter(upstream, self.prefix).start_in_thread()
        self.vault.start()
        return self

    async def ensure(self) -> None:
        """What the deployment creates, as after a deploy or an upgrade: the tables, then its ensure step
        (``gateway.admin.readiness``): the signing key, the client id key, the legacy client id index (written
        again when there are legacy ids)."""
        from gateway.config import Settings
        from gateway.services import build_services

        services = await build_services(Settings.from_mapping(self.settings()), create_tables=True)
        try:
            await services.admin_api.deployment.ensure(rebuild_index=self.legacy_ids and self.seeded.clients > 0)
            self._id_key = await services.client_id_keys.minting_key()
        finally:
            await services.aclose()

    def stop(self) -> None:
        self.vault.stop()
        if self.meter is not None:
            self.meter.stop_thread()
        self.azurite.stop()

    def settings(self, **overrides: str) -> dict[str, str]:
        """The gateway's settings: Table calls through the meter, Key Vault on the emulator."""
        assert self.meter is not None
        return {"GATEWAY_ENVIRONMENT": "development", "PUBLIC_BASE_URL": "http://localhost:7071",
                "TABLES_CONNECTION_STRING": self.meter.connection_string, **self.vault.settings(),
                "TABLE_NAME_PREFIX": self.prefix, "KEY_VAULT_SECRET_PREFIX": self.prefix, **overrides}

    def counters(self) -> Counters:
        assert self.meter is not None
        return Counters(f"http://127.0.0.1:{self.meter.port}", self.vault.url, self.vault.ca_bundle)

    # -- seeding ----------------------------------------------------------------------------------------------
    async def _insert(self, table: str, entities: list[dict[str, Any]]) -> None:
        from azure.data.tables.aio import TableServiceClient

        service = TableServiceClient.from_connection_string(self.azurite.connection_string)
        try:
            client = service.get_table_client(table)
            try:
                await client.create_table()
            except Exception:  # noqa: BLE001 - it exists
                pass
            queue = iter(entities)

            async def insert_all() -> None:
                for entity in queue:
                    for attempt in range(SEED_ATTEMPTS):  # a busy Azurite may drop a connection
                        try:
                            await client.upsert_entity(entity)
                            break
                        except Exception:  # noqa: BLE001 - retried, then raised
                            if attempt + 1 == SEED_ATTEMPTS:
                                raise
                            await asyncio.sleep(0.5 * (attempt + 1))

            await asyncio.gather(*(insert_all() for _ in range(SEED_CONCURRENCY)))
        finally:
            await service.close()

    async def seed_clients(self, total: int, lifetime_days: int = 180) -> None:
        """Add clients until there are ``total``: their records in Table Storage, their verifiers in the vault
        (written into its state file while it is stopped)."""
        now = SystemClock().now()
        entities, verifiers = [], []
        if self._id_key is None:
            await self.ensure()
        key = None if self.legacy_ids else self._id_key
        for index in range(self.seeded.clients, total):
            client, secret, secret_id = client_record(index, now, lifetime_days, key)
            entities.append(client_to_entity(client, created_on=now, updated_on=now))
            verifiers.append(verifier_secret(self.prefix, client.client_id, secret_id, secret,
                                             now + timedelta(days=lifetime_days)))
            if index < LEGIT_CLIENTS:
                self.seeded.legit.append((client.client_id, secret))
        await self._insert(TableNames.for_prefix(self.prefix).clients, entities)
        self.vault.stop()
        vault = Vault(self.vault.data_dir)
        for verifier in verifiers:
            vault.set(verifier.name, verifier_body(verifier))
        vault.save()
        self.vault.start()
        self.seeded.clients = total
        if self.legacy_ids:
            await self.ensure()  # an upgraded deployment's ensure step indexes the ids issued without a tag

    async def seed_routes(self, total: int) -> None:
        now = SystemClock().now()
        entities = [route_to_entity(_route_of(tenant_of(i), RouteSpec(fhir_base_url=PROVIDER, fhir_version="R4",
                                                                      display_name=f"Hospital {i}"), None),
                                    created_on=now, updated_on=now)
                    for i in range(self.seeded.routes, total)]
        await self._insert(TableNames.for_prefix(self.prefix).routes, entities)
        self.seeded.routes = total


@dataclass(frozen=True)
class Counters:
    """The counts of the Table meter and the Key Vault emulator, read and reset over HTTP (from any process)."""

    meter_url: str
    vault_url: str
    ca_bundle: str

    def _vault(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=self.ca_bundle)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.vault_url}/_emulator/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310 - loopback
            return dict(json.loads(response.read()))

    def reset(self) -> None:
        read_counts(self.meter_url, reset=True)
        self._vault("DELETE", "counts")

    def read(self) -> dict[str, dict[str, int]]:
        return {"table": read_counts(self.meter_url), "vault": self._vault("GET", "counts")}

    def rate_limit(self, calls: int | None, seconds: float = 10) -> None:
        """Key Vault's rate limit on the emulator (None: none)."""
        if calls is None:
            self._vault("DELETE", "rate-limit")
        else:
            self._vault("PUT", "rate-limit", {"calls": calls, "seconds": seconds})
