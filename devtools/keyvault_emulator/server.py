"""HTTP layer of the emulator: the Key Vault auth challenge, api-version, routing and error bodies.

The Secrets routes (``secrets_api``) and the Keys routes (``keys_api``) sit on
aiohttp's router; one middleware applies what every request shares, before
routing: errors are ``{"error": {"code", "message", "innererror"?}}`` with Key
Vault's status codes (an unknown path is 404 ``NotFound``, a method the path
does not take 405 ``MethodNotAllowed`` with ``Allow``).

Authentication (https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses):
a request without a bearer token gets ``401`` and the challenge
``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
resource="https://vault.azure.net"``; clients then repeat it with a token. Any
well-formed bearer token (RFC 6750 §2.1) is accepted: this is a development
emulator that authenticates nobody.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from devtools.keyvault_emulator import keys_api, secrets_api
from devtools.keyvault_emulator.keys import Keys
from devtools.keyvault_emulator.meter import METER_KEY, Meter, metered
from devtools.keyvault_emulator.protocol import KEYS_KEY, LOCK_KEY, VAULT_KEY, error_response
from devtools.keyvault_emulator.vault import Vault, VaultError, bad_parameter

CHALLENGE_TENANT = "7a0c4d7e-3b1f-4c55-9e0a-5d2f6b8c1e90"
CHALLENGE = (f'Bearer authorization="https://login.microsoftonline.com/{CHALLENGE_TENANT}", '
             'resource="https://vault.azure.net"')
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*)$", re.IGNORECASE)
_API_VERSION = re.compile(r"^(\d+\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?)$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _check_request(request: web.Request) -> VaultError | None:
    """The challenge for a missing or malformed bearer token, then the api-version check."""
    auth = request.headers.get("Authorization")
    if not auth:
        return VaultError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
    if not _BEARER.match(auth):
        return VaultError(401, "Unauthorized", "AKV10022: Invalid bearer token.", "invalid_token")
    api_version = request.query.get("api-version")
    if not api_version:
        return bad_parameter("The 'api-version' query parameter is missing.")
    if not _API_VERSION.match(api_version):
        return bad_parameter(f"The specified version ({api_version[:40]}) is not recognized.")
    return None


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    refused = _check_request(request)
    if refused is not None:
        if refused.status != 401:
            return error_response(refused)
        challenge = CHALLENGE if refused.inner is None else f'{CHALLENGE}, error="{refused.inner}"'
        refused.inner = None
        return error_response(refused, {"WWW-Authenticate": challenge})
    try:
        return await handler(request)
    except VaultError as exc:
        return error_response(exc)
    except web.HTTPMethodNotAllowed as exc:
        return error_response(
            VaultError(405, "MethodNotAllowed", f"The method {request.method} is not allowed on this resource"),
            {"Allow": ", ".join(sorted(exc.allowed_methods))})
    except web.HTTPNotFound:
        return error_response(
            VaultError(404, "NotFound", f"The resource {request.path[:200]} does not exist in this key vault."))


@web.middleware
async def key_vault_protocol(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Challenge and api-version before routing; Key Vault's error body for every failure; request ids."""
    response = await _answer(request, handler)
    response.headers.update({"x-ms-request-id": str(uuid.uuid4()), "x-ms-keyvault-service-version": "emulator",
                             "Cache-Control": "no-cache"})
    client_request_id = request.headers.get("x-ms-client-request-id")
    if client_request_id:
        response.headers["x-ms-client-request-id"] = client_request_id[:128]
    return response


def make_app(vault: Vault, keys: Keys | None = None, meter: Meter | None = None) -> web.Application:
    """The emulator's aiohttp application serving ``vault``'s secrets and ``keys`` (by default in its folder),
    counted and optionally rate limited by ``meter`` (``devtools.keyvault_emulator.meter``)."""
    app = web.Application(client_max_size=1 << 20, middlewares=[metered, key_vault_protocol])
    app[METER_KEY] = meter if meter is not None else Meter()
    app[VAULT_KEY] = vault
    app[KEYS_KEY] = keys if keys is not None else Keys(vault.data_dir, recoverable_days=vault.recoverable_days,
                                                       purge_protection=vault.purge_protection)
    app[LOCK_KEY] = asyncio.Lock()
    app.router.add_routes(secrets_api.routes)
    app.router.add_routes(keys_api.routes)
    return app
