"""Routes of the Keys operations the gateway needs (https://learn.microsoft.com/rest/api/keyvault/keys).

Create and rotate (a new version), get (latest with or without a trailing
slash, or by version), list and list versions, update (attributes, tags,
``key_ops``), sign and verify a digest, delete (soft), get and list deleted,
purge, recover. A key answers as Key Vault's ``KeyBundle``: ``key`` is the
public JWK with ``kid`` = ``<vault>/keys/<name>/<version>``, ``attributes``
carry Unix seconds and the recovery level. Private key material is never in
a response (no export, no backup).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from devtools.keyvault_emulator import crypto
from devtools.keyvault_emulator.keys import Key, Keys, KeyVersion
from devtools.keyvault_emulator.protocol import (
    KEYS_KEY,
    add_deleted_item_routes,
    attributes,
    base,
    body_of,
    change,
    deletion,
    json_response,
    page,
    versions_page,
)

# A version segment is any name but the fixed sub-resources beside it.
VERSION = "{version:(?!(?:versions|create|rotate)$)[^/]+}"
routes = web.RouteTableDef()


def _kid(request: web.Request, key: Key, version: KeyVersion | None = None) -> str:
    kid = f"{base(request)}/keys/{key.name}"
    return f"{kid}/{version.version}" if version is not None else kid


def _attributes(keys: Keys, version: KeyVersion) -> dict[str, Any]:
    return attributes(keys, version, exportable=False)


def _item(keys: Keys, version: KeyVersion, kid: str) -> dict[str, Any]:
    """``KeyItem``: what listings show (no key material)."""
    body: dict[str, Any] = {"kid": kid, "attributes": _attributes(keys, version)}
    if version.tags:
        body["tags"] = version.tags
    return body


def _bundle(request: web.Request, keys: Keys, key: Key, version: KeyVersion) -> dict[str, Any]:
    """``KeyBundle``: the public JWK, attributes and tags of one version."""
    body: dict[str, Any] = {"key": keys.public_jwk(key, version, _kid(request, key, version)),
                            "attributes": _attributes(keys, version)}
    if version.tags:
        body["tags"] = version.tags
    return body


def _deleted(request: web.Request, keys: Keys, key: Key, *, item: bool) -> dict[str, Any]:
    body = (_item(keys, key.latest, _kid(request, key)) if item
            else _bundle(request, keys, key, key.latest))
    return {**deletion(request, "deletedkeys", key), **body}


async def _new_version(request: web.Request, name: str, spec: crypto.KeySpec,
                       body: dict[str, Any]) -> web.Response:
    keys = request.app[KEYS_KEY]
    pem = await asyncio.to_thread(crypto.generate, spec)  # RSA 4096 takes a while: off the event loop
    key, version = await change(request, keys, lambda: keys.create(name, body, spec, pem))
    return json_response(200, _bundle(request, keys, key, version))


@routes.post("/keys/{name}/create")
async def create_key(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    spec, body = request.app[KEYS_KEY].prepare(name, await body_of(request))
    return await _new_version(request, name, spec, body)


@routes.post("/keys/{name}/rotate")
async def rotate_key(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    spec, body = request.app[KEYS_KEY].rotation_body(name)
    return await _new_version(request, name, spec, body)


@routes.get("/keys", allow_head=False)
@routes.get("/keys/", allow_head=False)
async def list_keys(request: web.Request) -> web.Response:
    keys = request.app[KEYS_KEY]
    return page(request, keys.list_active(), lambda k: _item(keys, k.latest, _kid(request, k)))


@routes.get("/keys/{name}/versions", allow_head=False)
async def list_key_versions(request: web.Request) -> web.Response:
    keys = request.app[KEYS_KEY]
    return versions_page(request, keys, lambda key, v: _item(keys, v, _kid(request, key, v)))


@routes.get("/keys/{name}", allow_head=False)
@routes.get("/keys/{name}/", allow_head=False)
@routes.get(f"/keys/{{name}}/{VERSION}", allow_head=False)
async def get_key(request: web.Request) -> web.Response:
    keys = request.app[KEYS_KEY]
    key, version = keys.version(request.match_info["name"], request.match_info.get("version"))
    return json_response(200, _bundle(request, keys, key, version))


@routes.patch("/keys/{name}/")
@routes.patch(f"/keys/{{name}}/{VERSION}")
async def update_key(request: web.Request) -> web.Response:
    keys = request.app[KEYS_KEY]
    body = await body_of(request)
    key, version = await change(
        request, keys, lambda: keys.update(request.match_info["name"], request.match_info.get("version"), body))
    return json_response(200, _bundle(request, keys, key, version))


@routes.post("/keys/{name}//sign")
@routes.post(f"/keys/{{name}}/{VERSION}/sign")
async def sign(request: web.Request) -> web.Response:
    keys = request.app[KEYS_KEY]
    body = await body_of(request)
    key, version, signature = keys.sign(request.match_info["name"], request.match_info.get("version"), body)
    return json_response(200, {"kid": _kid(request, key, version), "value": crypto.b64url(signature)})


@routes.post("/keys/{name}//verify")
@routes.post(f"/keys/{{name}}/{VERSION}/verify")
async def verify(request: web.Request) -> web.Response:
    keys = request.app[KEYS_KEY]
    body = await body_of(request)
    _, _, valid = keys.verify(request.match_info["name"], request.match_info.get("version"), body)
    return json_response(200, {"value": valid})


@routes.delete("/keys/{name}")
async def delete_key(request: web.Request) -> web.Response:
    keys = request.app[KEYS_KEY]
    key = await change(request, keys, lambda: keys.delete(request.match_info["name"]))
    return json_response(200, _deleted(request, keys, key, item=False))


add_deleted_item_routes(
    routes, "deletedkeys", KEYS_KEY,
    show_deleted=lambda request, key, listed: _deleted(request, request.app[KEYS_KEY], key, item=listed),
    show_recovered=lambda request, key: _bundle(request, request.app[KEYS_KEY], key, key.latest))
