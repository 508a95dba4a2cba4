"""What a deployment creates before its first request (``POST /manage/ensure``, ``gateway-admin ensure``).

Workers only read what they need from Key Vault and Table Storage, found by name; they never create it (their
identity has the *User* roles only) and never list a store to find it. So the deployment (and ``make run``)
runs this once, and again after an upgrade; it is idempotent, and each step costs a read when it is done:

- the token signing key and its index (``gateway.tokens.key_admin``): created, or indexed from the keys an
  earlier version left in the vault (one listing of the vault, then never again);
- the client id key (``gateway.oauth.client_ids``) new client ids are tagged with;
- the index of client ids issued without a tag (``gateway.stores.legacy_ids``), from one listing of the
  clients; ``rebuild_index`` writes it again (after clients were imported with ids of their own).

The tables themselves are the deployment's (the Bicep template; ``make run`` and the test fixtures create
them locally). Listings go a page at a time and a page the store refuses for its rate is asked again after a
pause, from where the listing was (never from the start). What was done is returned by name, for the caller
to report.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from gateway.admin.actor import Actor
from gateway.admin.audit_trail import AuditTrail
from gateway.admin.openapi_parts import json_body
from gateway.admin.operation import Audited, Call, Operation
from gateway.admin.problems import bad_request
from gateway.admin.requests import check_body_size
from gateway.admin.writes import may_write, store_call
from gateway.http import Response, json_response
from gateway.oauth.client_ids import is_tagged_shape
from gateway.stores.errors import StoreThrottled, StoreUnavailable
from gateway.stores.legacy_ids import LegacyClientIds
from gateway.stores.protocols import ClientStore

if TYPE_CHECKING:  # imports cryptography: the admin function loads it only when it creates a key
    from gateway.tokens.keys import SigningKeyInfo

logger = logging.getLogger("gateway.admin")

PAGE_SIZE = 1000
PAGE_ATTEMPTS = 8


class FirstSigningKey(Protocol):
    """The signing keys' admin side (``gateway.tokens.key_admin.SigningKeyAdmin``)."""

    async def ensure(self) -> SigningKeyInfo | None: ...


class FirstClientIdKey(Protocol):
    """The client id key (``gateway.oauth.client_ids.ClientIdKeys``)."""

    async def ensure(self) -> bool: ...


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


class Deployment:
    """What workers need and never create: the first signing key (``signing_keys``), the client id key
    (``client_id_keys``), the index of untagged client ids (``legacy_ids`` over ``clients``); audited in
    ``audit``."""

    def __init__(self, *, signing_keys: FirstSigningKey, client_id_keys: FirstClientIdKey,
                 legacy_ids: LegacyClientIds | None, clients: ClientStore, audit: AuditTrail) -> None:
        self._signing_keys = signing_keys
        self._client_id_keys = client_id_keys
        self._legacy_ids = legacy_ids
        self._clients = clients
        self._audit = audit

    async def ensure(self, *, rebuild_index: bool = False) -> list[str]:
        """Create what is missing; the names of what was created (empty when everything was there). The
        deployment's tools call it directly; the admin API through :meth:`ensure_audited`."""
        done: list[str] = []
        created = await self._signing_keys.ensure()
        if created is not None:
            done.append(f"signing key {created.kid}")
        if await self._client_id_keys.ensure():
            done.append("client id key")
        legacy = self._legacy_ids
        if legacy is not None and (rebuild_index or await legacy.load() is None):
            written = await legacy.write(await untagged_client_ids(self._clients))
            done.append(f"legacy client id index ({written} ids)")
        for what in done:
            logger.info("ensure: created %s", what)
        return done

    async def ensure_audited(self, actor: Actor, *, rebuild_index: bool = False) -> list[str]:
        """The admin operation: :meth:`ensure`, 503 when a store cannot be reached, audited when it created
        anything."""
        may_write()
        done = await store_call(self.ensure(rebuild_index=rebuild_index))
        if done:
            await self._audit.record(actor, "deployment.ensure", "deployment", "", created=done)
        return done


# -- HTTP --------------------------------------------------------------------------------------------------------

async def ensure(call: Call, deployment: Deployment) -> Response:
    check_body_size(call)
    rebuild = call.request.query_value("rebuildIndex")
    if rebuild not in (None, "true", "false"):
        raise bad_request("rebuildIndex must be true or false.", "rebuildIndex")
    done = await deployment.ensure_audited(call.actor, rebuild_index=rebuild == "true")
    return json_response(200, {"created": done})


SCHEMAS: dict[str, Any] = {
    "EnsureResult": {
        "type": "object",
        "required": ["created"],
        "properties": {
            "created": {"type": "array", "items": {"type": "string"},
                        "description": "What was missing and was created (empty when nothing was)."},
        },
    },
}

OPERATIONS: tuple[Operation[Deployment], ...] = (
    Operation("POST", "/manage/ensure", Deployment, ensure, "ensureDeployment",
              "Create what workers need before traffic and never create themselves: the signing key and its index, "
              "the client id key, the legacy client id index. Idempotent; deployments run it.", "signing-keys",
              {"200": json_body("EnsureResult", "What was created.")}, errors=("413",), parameters=("rebuildIndex",),
              audit=Audited("deployment.ensure", "deployment")),
)
