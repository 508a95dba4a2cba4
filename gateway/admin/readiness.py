"""What a deployment creates before its first request (``POST /manage/ensure``, ``gateway-admin ensure``).

Workers only read what they need from Key Vault and Table Storage, found by name; they never create it (their
identity has the *User* roles only) and never list a store to find it. So the deployment (and ``make run``)
runs this once, and again after an upgrade; it is idempotent, and each step costs a read when it is done:

- the token signing key and its index (``gateway.tokens.key_admin``): created, or indexed from the keys an
  earlier version left in the vault (one listing of the vault, then never again);
- the client id key (``gateway.oauth.client_ids``) new client ids are tagged with;
- the index of client ids issued without a tag (``gateway.stores.legacy_ids``), from one listing of the
  clients; ``rebuild_index`` writes it again (after clients were imported with ids of their own).

Listings go a page at a time and a page the store refuses for its rate is asked again after a pause, from
where the listing was (never from the start). What was done is returned by name, for the caller to report.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.admin.access import Actor
from gateway.admin.audit_trail import record
from gateway.admin.writes import may_write, store_call
from gateway.oauth.client_ids import is_tagged_shape
from gateway.services import Services
from gateway.stores.errors import StoreThrottled, StoreUnavailable
from gateway.stores.protocols import ClientStore

logger = logging.getLogger("gateway.admin")

PAGE_SIZE = 1000
PAGE_ATTEMPTS = 8


async def _page_with_retries(clients: ClientStore, continuation: str | None) -> tuple[list[str], str | None]:
    for attempt in range(PAGE_ATTEMPTS):
        try:
            page = await clients.list(page_size=PAGE_SIZE, continuation=continuation)
        except StoreUnavailable as error:
            if attempt + 1 == PAGE_ATTEMPTS:
                raise
            await asyncio.sleep(error.retry_after if isinstance(error, StoreThrottled) else 2.0 ** attempt)
            continue
        return [client.client_id for client in page.items], page.continuation
    raise AssertionError("unreachable")  # pragma: no cover


async def untagged_client_ids(clients: ClientStore) -> list[str]:
    """The ids of every client not issued with a tag (one listing, page by page, resumed where it stopped)."""
    found: list[str] = []
    continuation: str | None = None
    while True:
        ids, continuation = await _page_with_retries(clients, continuation)
        found.extend(client_id for client_id in ids if not is_tagged_shape(client_id))
        if continuation is None:
            return found


async def ensure_deployment(services: Services, *, rebuild_index: bool = False) -> list[str]:
    """Create what is missing; the names of what was created (empty when everything was there)."""
    done: list[str] = []
    created = await services.signing_key_admin.ensure()
    if created is not None:
        done.append(f"signing key {created.kid}")
    if await services.client_id_keys.ensure():
        done.append("client id key")
    legacy = services.legacy_ids
    if legacy is not None and (rebuild_index or await legacy.load() is None):
        written = await legacy.write(await untagged_client_ids(services.clients))
        done.append(f"legacy client id index ({written} ids)")
    for what in done:
        logger.info("ensure: created %s", what)
    return done


async def ensure(services: Services, actor: Actor, *, rebuild_index: bool = False) -> list[str]:
    """The admin operation: :func:`ensure_deployment`, 503 when a store cannot be reached, audited when it
    created anything."""
    may_write()
    done = await store_call(ensure_deployment(services, rebuild_index=rebuild_index))
    if done:
        await record(services, actor, "deployment.ensure", "deployment", "", created=done)
    return done
