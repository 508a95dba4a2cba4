"""HTTP layer of the emulator: the Key Vault auth challenge, routing and Key Vault's JSON shapes.

Implements the Secrets operations of the Key Vault data-plane REST API
(https://learn.microsoft.com/rest/api/keyvault/secrets): set, get (latest with
or without a trailing slash, or by version), list and list versions (paged with
``maxresults`` and ``nextLink``), update attributes, delete (soft), get and
list deleted, purge, recover. Errors are ``{"error": {"code", "message",
"innererror"?}}`` with Key Vault's status codes.

Authentication (https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses):
a request without a bearer token gets ``401`` and the challenge
``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
resource="https://vault.azure.net"``; clients then repeat it with a token. Any
well-formed bearer token (RFC 6750 §2.1) is accepted: this is a development
emulator that authenticates nobody.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from typing import Any

from aiohttp import web

from devtools.keyvault_emulator.vault import Secret, Vault, VaultError, Version, bad_parameter

CHALLENGE_TENANT = "7a0c4d7e-3b1f-4c55-9e0a-5d2f6b8c1e90"
CHALLENGE = (f'Bearer authorization="https://login.microsoftonline.com/{CHALLENGE_TENANT}", '
             'resource="https://vault.azure.net"')
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 25
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*)$", re.IGNORECASE)
_API_VERSION = re.compile(r"^(\d+\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?)$")
_JSON = "application/json; charset=utf-8"
VAULT_KEY = web.AppKey("vault", Vault)
LOCK_KEY = web.AppKey("lock", asyncio.Lock)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return web.Response(status=status, body=body, headers={"Content-Type": _JSON, **(headers or {})})


def _error(exc: VaultError, headers: dict[str, str] | None = None) -> web.Response:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.inner:
        error["innererror"] = {"code": exc.inner}
    return _json(exc.status, {"error": error}, headers)


def _base(request: web.Request) -> str:
    return f"https://{request.host}"


def _attributes(vault: Vault, version: Version) -> dict[str, Any]:
    attrs: dict[str, Any] = {"enabled": version.enabled}
    if version.nbf is not None:
        attrs["nbf"] = version.nbf
    if version.exp is not None:
        attrs["exp"] = version.exp
    attrs.update(created=version.created, updated=version.updated,
                 recoveryLevel=vault.recovery_level, recoverableDays=vault.recoverable_days)
    return attrs


def _properties(vault: Vault, version: Version, secret_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": secret_id, "attributes": _attributes(vault, version)}
    if version.tags:
        body["tags"] = version.tags
    if version.content_type is not None:
        body["contentType"] = version.content_type
    return body


def _bundle(request: web.Request, vault: Vault, secret: Secret, version: Version, *,
            value: bool) -> dict[str, Any]:
    body = _properties(vault, version, f"{_base(request)}/secrets/{secret.name}/{version.version}")
    return {"value": version.value, **body} if value else body


def _deleted(request: web.Request, vault: Vault, secret: Secret, *, item: bool) -> dict[str, Any]:
    secret_id = (f"{_base(request)}/secrets/{secret.name}" if item
                 else f"{_base(request)}/secrets/{secret.name}/{secret.latest.version}")
    return {"recoveryId": f"{_base(request)}/deletedsecrets/{secret.name}",
            "deletedDate": secret.deleted_date, "scheduledPurgeDate": secret.scheduled_purge_date,
            **_properties(vault, secret.latest, secret_id)}


def _page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    """One page of a listing; ``nextLink`` carries an opaque ``$skiptoken`` (null on the last page)."""
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
    chunk, end = items[start:start + size], start + size
    next_link = None
    if end < len(items):
        skip = base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).rstrip(b"=").decode()
        api = request.query.get("api-version", "")
        next_link = f"{_base(request)}{request.path}?api-version={api}&$skiptoken={skip}&maxresults={size}"
    return _json(200, {"value": chunk, "nextLink": next_link})


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise bad_parameter("The request body is not valid JSON") from None


def _not_allowed(request: web.Request, allowed: str) -> web.Response:
    return _error(VaultError(405, "MethodNotAllowed", f"The method {request.method} is not allowed on this resource"),
                  {"Allow": allowed})


async def handle(request: web.Request) -> web.StreamResponse:
    """Challenge, api-version, then dispatch on the path; every VaultError becomes Key Vault's error body."""
    request_headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-keyvault-service-version": "emulator",
                       "Cache-Control": "no-cache"}
    client_request_id = request.headers.get("x-ms-client-request-id")
    if client_request_id:
        request_headers["x-ms-client-request-id"] = client_request_id[:128]
    auth = request.headers.get("Authorization")
    if not auth:
        return _error(VaultError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."),
                      {"WWW-Authenticate": CHALLENGE, **request_headers})
    if not _BEARER.match(auth):
        return _error(VaultError(401, "Unauthorized", "AKV10022: Invalid bearer token."),
                      {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"', **request_headers})
    try:
        api_version = request.query.get("api-version")
        if not api_version:
            raise bad_parameter("The 'api-version' query parameter is missing.")
        if not _API_VERSION.match(api_version):
            raise bad_parameter(f"The specified version ({api_version[:40]}) is not recognized.")
        response = await _dispatch(request)
    except VaultError as exc:
        response = _error(exc)
    response.headers.update(request_headers)
    return response


async def _dispatch(request: web.Request) -> web.Response:
    vault, lock = request.app[VAULT_KEY], request.app[LOCK_KEY]
    parts = request.path.split("/")[1:]
    if parts and parts[-1] == "" and len(parts) in (2,):
        parts = parts[:-1]  # "/secrets/" and "/deletedsecrets/" list like their bare forms
    method = request.method
    collection, rest = (parts[0], parts[1:]) if parts else ("", [])

    if collection == "secrets":
        if not rest:
            if method != "GET":
                return _not_allowed(request, "GET")
            items = [_properties(vault, s.latest, f"{_base(request)}/secrets/{s.name}") for s in vault.list_active()]
            return _page(request, items)
        name = rest[0]
        if len(rest) == 1 or (len(rest) == 2 and rest[1] == ""):
            if method == "GET":
                return _get(request, vault, name, None)
            if method == "PUT" and len(rest) == 1:
                body = await _body(request)
                async with lock:
                    secret, version = vault.set(name, body)
                    await _persist(vault)
                return _json(200, _bundle(request, vault, secret, version, value=True))
            if method == "PATCH" and len(rest) == 2:
                return await _update(request, vault, lock, name, None)
            if method == "DELETE" and len(rest) == 1:
                async with lock:
                    secret = vault.delete(name)
                    await _persist(vault)
                return _json(200, _deleted(request, vault, secret, item=False))
            return _not_allowed(request, "GET, PUT, DELETE" if len(rest) == 1 else "GET, PATCH")
        if len(rest) == 2 and rest[1] == "versions":
            if method != "GET":
                return _not_allowed(request, "GET")
            try:
                secret = vault.active(name)
            except VaultError as exc:
                if exc.status != 404:
                    raise
                return _page(request, [])
            items = [_properties(vault, v, f"{_base(request)}/secrets/{secret.name}/{v.version}")
                     for v in secret.versions]
            return _page(request, items)
        if len(rest) == 2:
            if method == "GET":
                return _get(request, vault, name, rest[1])
            if method == "PATCH":
                return await _update(request, vault, lock, name, rest[1])
            return _not_allowed(request, "GET, PATCH")

    if collection == "deletedsecrets":
        if not rest:
            if method != "GET":
                return _not_allowed(request, "GET")
            return _page(request, [_deleted(request, vault, s, item=True) for s in vault.list_deleted()])
        name = rest[0]
        if len(rest) == 1:
            if method == "GET":
                return _json(200, _deleted(request, vault, vault.deleted(name), item=False))
            if method == "DELETE":
                async with lock:
                    vault.purge(name)
                    await _persist(vault)
                return web.Response(status=204)
            return _not_allowed(request, "GET, DELETE")
        if len(rest) == 2 and rest[1] == "recover":
            if method != "POST":
                return _not_allowed(request, "POST")
            async with lock:
                secret = vault.recover(name)
                await _persist(vault)
            return _json(200, _bundle(request, vault, secret, secret.latest, value=False))

    raise VaultError(404, "NotFound", f"The resource {request.path[:200]} does not exist in this key vault.")


async def _persist(vault: Vault) -> None:
    """Write the state (caller holds the lock, so writes keep their order); reads go on meanwhile."""
    await asyncio.to_thread(vault.write, vault.snapshot())


def _get(request: web.Request, vault: Vault, name: str, version_id: str | None) -> web.Response:
    secret, version = vault.version(name, version_id)
    if not version.enabled:
        raise VaultError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
    return _json(200, _bundle(request, vault, secret, version, value=True))


async def _update(request: web.Request, vault: Vault, lock: asyncio.Lock, name: str,
                  version_id: str | None) -> web.Response:
    body = await _body(request)
    async with lock:
        secret, version = vault.update(name, version_id, body)
        await _persist(vault)
    return _json(200, _bundle(request, vault, secret, version, value=False))


def make_app(vault: Vault) -> web.Application:
    """The emulator's aiohttp application serving ``vault``."""
    app = web.Application(client_max_size=1 << 20)
    app[VAULT_KEY] = vault
    app[LOCK_KEY] = asyncio.Lock()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
