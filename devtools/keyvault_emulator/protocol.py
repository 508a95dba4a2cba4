"""Key Vault's wire conventions shared by the emulator's Secrets and Keys routes.

JSON bodies with Key Vault's error shape ``{"error": {"code", "message",
"innererror"?}}`` (https://learn.microsoft.com/rest/api/keyvault/), listings
paged with ``maxresults`` and an opaque ``$skiptoken`` in ``nextLink``, and the
application state the routes share (stores and the one lock that orders
changes and their writes to disk), and the handler pieces both kinds share:
locked changes, version listings, attributes and the deleted-item routes.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from devtools.keyvault_emulator.keys import Keys
from devtools.keyvault_emulator.store import Versioned, VersionedStore
from devtools.keyvault_emulator.vault import Vault, VaultError, bad_parameter

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 25
JSON_TYPE = "application/json; charset=utf-8"
VAULT_KEY = web.AppKey("vault", Vault)
KEYS_KEY = web.AppKey("keys", Keys)
LOCK_KEY = web.AppKey("lock", asyncio.Lock)


class Persistent(Protocol):
    def snapshot(self) -> bytes: ...

    def write(self, snapshot: bytes) -> None: ...


class VersionAttributes(Protocol):
    """What a version's ``attributes`` are made of (times are Unix seconds)."""

    enabled: bool
    exp: int | None
    nbf: int | None
    created: int
    updated: int


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return web.Response(status=status, body=body, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def error_response(exc: VaultError, headers: dict[str, str] | None = None) -> web.Response:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.inner:
        error["innererror"] = {"code": exc.inner}
    return json_response(exc.status, {"error": error}, headers)


def base(request: web.Request) -> str:
    """The vault URL as the caller addressed it (ids and links start with it)."""
    return f"https://{request.host}"


def page[T](request: web.Request, items: Sequence[T],
            render: Callable[[T], dict[str, Any]] | None = None) -> web.Response:
    """One page of a listing; ``nextLink`` carries an opaque ``$skiptoken`` (null on the last page). Only the
    page's items are rendered (``render``; items are the JSON already without it): a page of a large vault costs
    what Key Vault's does, not a pass over the whole vault."""
    raw_size = request.query.get("maxresults")
    try:
        size = DEFAULT_PAGE_SIZE if raw_size in (None, "") else int(raw_size)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_parameter(f"invalid maxresults: expected an integer between 1 and {MAX_PAGE_SIZE}")
    token = request.query.get("$skiptoken")
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["offset"])
        except (ValueError, KeyError, TypeError):
            raise bad_parameter("invalid $skiptoken") from None
        if start < 0:
            raise bad_parameter("invalid $skiptoken")
    end = start + size
    chunk = [render(item) for item in items[start:end]] if render is not None else list(items[start:end])
    next_link = None
    if end < len(items):
        skip = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).rstrip(b"=").decode()
        api = request.query.get("api-version", "")
        next_link = f"{base(request)}{request.path}?api-version={api}&$skiptoken={skip}&maxresults={size}"
    return json_response(200, {"value": chunk, "nextLink": next_link})


async def body_of(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise bad_parameter("The request body is not valid JSON") from None


async def persist(store: Persistent) -> None:
    """Write the state (caller holds the lock, so writes keep their order); reads go on meanwhile."""
    await asyncio.to_thread(store.write, store.snapshot())


async def change[T](request: web.Request, store: Persistent, operation: Callable[[], T]) -> T:
    """Run ``operation`` under the server's lock and write the store's state before letting the lock go."""
    async with request.app[LOCK_KEY]:
        result = operation()
        await persist(store)
    return result


def attributes(store: VersionedStore[Any, Any], version: VersionAttributes, **extra: Any) -> dict[str, Any]:
    """A version's ``attributes``: enabled, nbf/exp when set, times and the vault's recovery settings."""
    attrs: dict[str, Any] = {"enabled": version.enabled}
    if version.nbf is not None:
        attrs["nbf"] = version.nbf
    if version.exp is not None:
        attrs["exp"] = version.exp
    attrs.update(created=version.created, updated=version.updated, recoveryLevel=store.recovery_level,
                 recoverableDays=store.recoverable_days, **extra)
    return attrs


def deletion(request: web.Request, collection: str, item: Versioned[Any]) -> dict[str, Any]:
    """The members a deleted item adds: where to recover it from (``/<collection>/<name>``) and its dates."""
    return {"recoveryId": f"{base(request)}/{collection}/{item.name}", "deletedDate": item.deleted_date,
            "scheduledPurgeDate": item.scheduled_purge_date}


def versions_page[ItemT: Versioned[Any], VersionT](
        request: web.Request, store: VersionedStore[ItemT, VersionT],
        render: Callable[[ItemT, VersionT], dict[str, Any]]) -> web.Response:
    """A page of the versions of the item named in the path; an unknown name lists none, as Key Vault does."""
    try:
        item = store.active(request.match_info["name"])
    except VaultError as exc:
        if exc.status != 404:
            raise
        return page(request, [])
    return page(request, [render(item, version) for version in item.versions])


def add_deleted_item_routes[ItemT: Versioned[Any]](
        routes: web.RouteTableDef, collection: str, store_key: web.AppKey[Any],
        show_deleted: Callable[[web.Request, ItemT, bool], dict[str, Any]],
        show_recovered: Callable[[web.Request, ItemT], dict[str, Any]]) -> None:
    """Add the routes of deleted items under ``/<collection>``: list, get, purge (204) and recover.

    ``show_deleted(request, item, listed)`` answers a deleted item (its short form in a listing);
    ``show_recovered`` answers a recovered one.
    """

    @routes.get(f"/{collection}", allow_head=False)
    @routes.get(f"/{collection}/", allow_head=False)
    async def list_deleted(request: web.Request) -> web.Response:
        store: VersionedStore[ItemT, Any] = request.app[store_key]
        return page(request, [show_deleted(request, item, True) for item in store.list_deleted()])

    @routes.get(f"/{collection}/{{name}}", allow_head=False)
    async def get_deleted(request: web.Request) -> web.Response:
        store: VersionedStore[ItemT, Any] = request.app[store_key]
        return json_response(200, show_deleted(request, store.deleted(request.match_info["name"]), False))

    @routes.delete(f"/{collection}/{{name}}")
    async def purge(request: web.Request) -> web.Response:
        store: VersionedStore[ItemT, Any] = request.app[store_key]
        await change(request, store, lambda: store.purge(request.match_info["name"]))
        return web.Response(status=204)

    @routes.post(f"/{collection}/{{name}}/recover")
    async def recover(request: web.Request) -> web.Response:
        store: VersionedStore[ItemT, Any] = request.app[store_key]
        item = await change(request, store, lambda: store.recover(request.match_info["name"]))
        return json_response(200, show_recovered(request, item))
