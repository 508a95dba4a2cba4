"""Routes of the Secrets operations (https://learn.microsoft.com/rest/api/keyvault/secrets).

Set, get (latest with or without a trailing slash, or by version), list and
list versions, update attributes, delete (soft), get and list deleted, purge,
recover; each answers Key Vault's JSON shapes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devtools.keyvault_emulator.protocol import (
    VAULT_KEY,
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
from devtools.keyvault_emulator.vault import Secret, Vault, VaultError, Version

# A version segment is any name but the fixed sub-resources beside it.
VERSION = "{version:(?!versions$)[^/]+}"
routes = web.RouteTableDef()


def _properties(vault: Vault, version: Version, secret_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": secret_id, "attributes": attributes(vault, version)}
    if version.tags:
        body["tags"] = version.tags
    if version.content_type is not None:
        body["contentType"] = version.content_type
    return body


def _bundle(request: web.Request, vault: Vault, secret: Secret, version: Version, *,
            value: bool) -> dict[str, Any]:
    body = _properties(vault, version, f"{base(request)}/secrets/{secret.name}/{version.version}")
    return {"value": version.value, **body} if value else body


def _deleted(request: web.Request, vault: Vault, secret: Secret, *, item: bool) -> dict[str, Any]:
    secret_id = (f"{base(request)}/secrets/{secret.name}" if item
                 else f"{base(request)}/secrets/{secret.name}/{secret.latest.version}")
    return {**deletion(request, "deletedsecrets", secret), **_properties(vault, secret.latest, secret_id)}


@routes.get("/secrets", allow_head=False)
@routes.get("/secrets/", allow_head=False)
async def list_secrets(request: web.Request) -> web.Response:
    vault = request.app[VAULT_KEY]
    return page(request, vault.list_active(),
                lambda s: _properties(vault, s.latest, f"{base(request)}/secrets/{s.name}"))


@routes.get("/secrets/{name}", allow_head=False)
@routes.get("/secrets/{name}/", allow_head=False)
@routes.get(f"/secrets/{{name}}/{VERSION}", allow_head=False)
async def get_secret(request: web.Request) -> web.Response:
    vault = request.app[VAULT_KEY]
    secret, version = vault.version(request.match_info["name"], request.match_info.get("version"))
    if not version.enabled:
        raise VaultError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
    return json_response(200, _bundle(request, vault, secret, version, value=True))


@routes.put("/secrets/{name}")
async def set_secret(request: web.Request) -> web.Response:
    vault = request.app[VAULT_KEY]
    body = await body_of(request)
    secret, version = await change(request, vault, lambda: vault.set(request.match_info["name"], body))
    return json_response(200, _bundle(request, vault, secret, version, value=True))


@routes.patch("/secrets/{name}/")
@routes.patch(f"/secrets/{{name}}/{VERSION}")
async def update_secret(request: web.Request) -> web.Response:
    vault = request.app[VAULT_KEY]
    body = await body_of(request)
    secret, version = await change(
        request, vault, lambda: vault.update(request.match_info["name"], request.match_info.get("version"), body))
    return json_response(200, _bundle(request, vault, secret, version, value=False))


@routes.delete("/secrets/{name}")
async def delete_secret(request: web.Request) -> web.Response:
    vault = request.app[VAULT_KEY]
    secret = await change(request, vault, lambda: vault.delete(request.match_info["name"]))
    return json_response(200, _deleted(request, vault, secret, item=False))


@routes.get("/secrets/{name}/versions", allow_head=False)
async def list_secret_versions(request: web.Request) -> web.Response:
    vault = request.app[VAULT_KEY]
    return versions_page(request, vault, lambda secret, v: _properties(
        vault, v, f"{base(request)}/secrets/{secret.name}/{v.version}"))


add_deleted_item_routes(
    routes, "deletedsecrets", VAULT_KEY,
    show_deleted=lambda request, secret, listed: _deleted(request, request.app[VAULT_KEY], secret, item=listed),
    show_recovered=lambda request, secret: _bundle(request, request.app[VAULT_KEY], secret, secret.latest, value=False))
