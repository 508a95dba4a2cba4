"""``gateway-admin``: command line for the admin API (``/manage/...``), standard library only.

Usage: ``gateway-admin [--base-url URL] [--key KEY] [--token TOKEN | --audience AUD] [--json] <group> <command> ...``
(or ``python -m gateway.cli``). The base URL and function key default to
``GATEWAY_ADMIN_URL`` and ``GATEWAY_ADMIN_KEY``. When the gateway requires an
Entra ID token (``ADMIN_AUTH_AUDIENCE``), give it with ``--token`` /
``GATEWAY_ADMIN_TOKEN``, or name the audience with ``--audience`` /
``GATEWAY_ADMIN_AUDIENCE`` and the CLI asks the Azure CLI for one
(``az account get-access-token --resource <audience>``, as the signed-in user
or service principal). Output is a readable table, or
the API's JSON with ``--json``. Exit codes: 0 success, 1 the API refused or
failed (its problem title and detail are printed), 2 usage error, 3 the API
could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import Request, urlopen

SECRET_WARNING = ("WARNING: this client secret is shown only once and cannot be recovered. "
                  "Store it now (e.g. in your own key vault).")
USER_AGENT = "gateway-admin/1.0"


class ApiError(Exception):
    """The API answered with an error status (problem details in ``problem``)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.problem = problem


class Unreachable(Exception):
    pass


class TokenUnavailable(Exception):
    """No Entra ID access token could be obtained from the Azure CLI."""


AZ_TIMEOUT_SECONDS = 60.0


def token_from_azure_cli(audience: str, *, runner=subprocess.run) -> str:
    """An access token for ``audience`` from ``az account get-access-token --resource`` (the az login session)."""
    az = shutil.which("az")
    if az is None:
        raise TokenUnavailable("the Azure CLI (az) is not installed; install it and run `az login`, "
                               "or pass --token / GATEWAY_ADMIN_TOKEN")
    try:
        completed = runner([az, "account", "get-access-token", "--resource", audience, "--output", "json"],
                           capture_output=True, text=True, timeout=AZ_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise TokenUnavailable(f"az account get-access-token failed: {type(error).__name__}") from None
    if completed.returncode != 0:
        message = (completed.stderr or "").strip().splitlines()
        raise TokenUnavailable("az account get-access-token failed: " + (message[-1][:300] if message else
                                                                          f"exit code {completed.returncode}"))
    try:
        token = json.loads(completed.stdout)["accessToken"]
    except (ValueError, KeyError, TypeError):
        raise TokenUnavailable("az account get-access-token printed no accessToken") from None
    if not isinstance(token, str) or not token:
        raise TokenUnavailable("az account get-access-token printed no accessToken")
    return token


class AdminClient:
    """A minimal client of the admin API over urllib."""

    def __init__(self, base_url: str, key: str | None, *, timeout: float = 30.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
             query: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        data = None
        hdrs = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        if self.key:
            hdrs["x-functions-key"] = self.key
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        request = Request(url, data=data, method=method, headers=hdrs)  # noqa: S310 - http(s) base URL only
        try:
            with urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
                return response.status, dict(response.headers.items()), json.loads(raw) if raw else None
        except HTTPError as error:
            raw = error.read()
            try:
                problem = json.loads(raw) if raw else {}
            except ValueError:
                problem = {}
            if not isinstance(problem, dict):
                problem = {}
            raise ApiError(error.code, problem) from None
        except (URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(f"cannot reach {self.base_url}: {reason}") from None

    def pages(self, path: str, query: dict[str, str] | None = None, limit: int | None = None) -> list[Any]:
        """Every item of a paged listing, following nextLink (up to ``limit`` items)."""
        items: list[Any] = []
        _, _, page = self.call("GET", path, query=query)
        while True:
            items.extend(page["items"])
            if limit is not None and len(items) >= limit:
                return items[:limit]
            link = page.get("nextLink")
            if not link:
                return items
            _, _, page = self.call("GET", self._same_origin(link))

    def _same_origin(self, link: str) -> str:
        """Follow nextLink on our base URL (the key is never sent to another origin)."""
        parts = urlsplit(link)
        return parts.path + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------------- output

def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], out: TextIO) -> None:
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, (_, title) in enumerate(columns)]
    out.write("  ".join(t.ljust(w) for (_, t), w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def record(values: list[tuple[str, Any]], out: TextIO) -> None:
    width = max(len(k) for k, _ in values)
    for key, value in values:
        out.write(f"{key.ljust(width)}  {_cell(value)}\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


ROUTE_COLUMNS = [("tenantId", "TENANT"), ("displayName", "NAME"), ("fhirBaseUrl", "FHIR BASE URL"),
                 ("fhirVersion", "VERSION"), ("enabled", "ENABLED"), ("allowWrites", "WRITES")]
CLIENT_COLUMNS = [("clientId", "CLIENT ID"), ("displayName", "NAME"), ("enabled", "ENABLED"),
                  ("allowedTenants", "TENANTS"), ("secretCount", "SECRETS")]
SECRET_COLUMNS = [("secretId", "SECRET ID"), ("hint", "HINT"), ("createdOn", "CREATED"),
                  ("expiresOn", "EXPIRES"), ("expired", "EXPIRED")]
KEY_COLUMNS = [("kid", "KID"), ("alg", "ALG"), ("status", "STATUS"), ("createdOn", "CREATED"),
               ("retireAfter", "RETIRE AFTER")]
PROVIDER_KEY_COLUMNS = [("name", "NAME"), ("kid", "KID"), ("status", "STATUS"), ("createdOn", "CREATED"),
                        ("activatesOn", "SIGNS FROM"), ("retiresOn", "PUBLISHED UNTIL"), ("jwksUrl", "JWKS URL")]
AUDIT_COLUMNS = [("timestamp", "WHEN"), ("actor", "WHO"), ("action", "ACTION"), ("targetId", "TARGET"),
                 ("outcome", "OUTCOME"), ("sourceAddress", "FROM"), ("requestId", "REQUEST ID")]


def show_route(route: dict[str, Any], out: TextIO) -> None:
    auth = route["upstreamAuth"]
    record([("tenantId", route["tenantId"]), ("displayName", route["displayName"]),
            ("fhirBaseUrl", route["fhirBaseUrl"]), ("fhirVersion", route["fhirVersion"]),
            ("enabled", route["enabled"]), ("allowWrites", route["allowWrites"]),
            ("batchMode", route["batchMode"]), ("privateNetwork", route["privateNetwork"]),
            ("timeouts", route["timeouts"]), ("upstreamAuth", auth["type"]),
            ("upstreamClientId", auth.get("clientId")), ("upstreamTokenUrl", auth.get("tokenUrl")),
            ("upstreamScope", auth.get("scope")), ("upstreamSecretSet", auth.get("clientSecretSet")),
            *((("upstreamAlgorithm", auth.get("algorithm")), ("upstreamKeyName", auth.get("keyName")))
              if auth["type"] == "privateKeyJwt" else ()),
            ("updatedOn", route.get("updatedOn")), ("etag", route.get("etag"))], out)


def show_provider_keys(keys: list[dict[str, Any]], out: TextIO) -> None:
    rows = [{"name": k["name"], "jwksUrl": k["jwksUrl"], **v} for k in keys for v in k["versions"]]
    table(rows, PROVIDER_KEY_COLUMNS, out)


def show_client(client: dict[str, Any], out: TextIO) -> None:
    auth = client.get("authentication") or {"method": "client_secret"}
    jwks = auth.get("jwks")
    record([("clientId", client["clientId"]), ("displayName", client["displayName"]),
            ("enabled", client["enabled"]), ("allowedTenants", client["allowedTenants"]),
            ("allowedScopes", client.get("allowedScopes")), ("authentication", auth["method"]),
            *([("jwksUrl", auth.get("jwksUrl"))] if auth.get("jwksUrl") else []),
            *([("jwksKids", [key.get("kid") for key in jwks.get("keys", [])])] if jwks else []),
            ("updatedOn", client.get("updatedOn")), ("etag", client.get("etag"))], out)
    out.write("\n")
    table(client["secrets"], SECRET_COLUMNS, out)


def show_new_secret(payload: dict[str, Any], out: TextIO, err: TextIO) -> None:
    record([("clientId", payload["clientId"]), ("secretId", payload["secretId"]),
            ("clientSecret", payload["clientSecret"]), ("expiresOn", payload["secretExpiresOn"])], out)
    err.write(SECRET_WARNING + "\n")


# --------------------------------------------------------------------------- commands

def _client_extras(args: argparse.Namespace) -> dict[str, Any]:
    """``allowedScopes`` and a private_key_jwt ``authentication`` from --scopes, --jwks-url or --jwks-file."""
    extras: dict[str, Any] = {}
    if args.scopes is not None:
        extras["allowedScopes"] = args.scopes
    if args.jwks_url is not None:
        extras["authentication"] = {"method": "private_key_jwt", "jwksUrl": args.jwks_url}
    elif args.jwks_file is not None:
        try:
            with open(args.jwks_file, encoding="utf-8") as handle:
                jwks = json.load(handle)
        except (OSError, ValueError) as error:
            raise SystemExit(f"--jwks-file: cannot read a JSON JWKS ({type(error).__name__})") from None
        extras["authentication"] = {"method": "private_key_jwt", "jwks": jwks}
    return extras


def _add_client_auth_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scopes", help="allowed SMART system scopes, space-separated "
                                         "(e.g. 'system/Patient.rs system/Observation.rs'; default system/*.rs)")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--jwks-url", help="private_key_jwt: the client's JWKS URL (https); the client gets no secret")
    keys.add_argument("--jwks-file", help="private_key_jwt: a file with the client's public JWKS; no secret")


def _route_body(args: argparse.Namespace) -> dict[str, Any]:
    if args.body:
        text = sys.stdin.read() if args.body == "-" else open(args.body, encoding="utf-8").read()  # noqa: SIM115
        return json.loads(text)
    if not args.fhir_base_url or not args.fhir_version:
        raise SystemExit("routes put: give --fhir-base-url and --fhir-version, or --body FILE")
    body: dict[str, Any] = {"fhirBaseUrl": args.fhir_base_url, "fhirVersion": args.fhir_version,
                            "displayName": args.display_name or "", "enabled": not args.disabled,
                            "allowWrites": args.allow_writes, "batchMode": args.batch_mode,
                            "privateNetwork": args.private_network}
    timeouts = {k: v for k, v in (("connectSeconds", args.connect_timeout), ("readSeconds", args.read_timeout))
                if v is not None}
    if timeouts:
        body["timeouts"] = timeouts
    auth: dict[str, Any] = {"type": args.upstream_auth}
    if args.upstream_auth == "clientCredentials":
        auth.update(tokenUrl=args.token_url, clientId=args.upstream_client_id)
        if args.upstream_scope:
            auth["scope"] = args.upstream_scope
        if args.upstream_secret_env:
            value = os.environ.get(args.upstream_secret_env)
            if not value:
                raise SystemExit(f"routes put: environment variable {args.upstream_secret_env} is empty")
            auth["clientSecret"] = value
    elif args.upstream_auth == "privateKeyJwt":
        if args.upstream_secret_env:
            raise SystemExit("routes put: privateKeyJwt takes no secret (the gateway signs with its Key Vault key)")
        auth.update(tokenUrl=args.token_url, clientId=args.upstream_client_id, algorithm=args.upstream_algorithm)
        if args.upstream_scope:
            auth["scope"] = args.upstream_scope
        if args.upstream_key_name:
            auth["keyName"] = args.upstream_key_name
    elif args.upstream_auth == "managedIdentity" and args.upstream_scope:
        auth["scope"] = args.upstream_scope  # absent: the provider's origin (the only scope allowed)
    body["upstreamAuth"] = auth
    return body


def run(args: argparse.Namespace, api: AdminClient, out: TextIO, err: TextIO) -> int:
    group, command = args.group, getattr(args, "command", None)
    as_json = args.json

    def emit(payload: Any, render) -> None:
        if as_json:
            out.write(json.dumps(payload, indent=2) + "\n")
        else:
            render(payload)

    if group == "routes":
        path = f"/manage/routes/{quote(args.tenant_id, safe='')}" if command != "list" else "/manage/routes"
        if command == "list":
            items = api.pages(path, {"pageSize": str(args.page_size)})
            emit({"items": items}, lambda p: table(p["items"], ROUTE_COLUMNS, out))
        elif command == "get":
            emit(api.call("GET", path)[2], lambda p: show_route(p, out))
        elif command == "put":
            headers = {"If-Match": args.if_match} if args.if_match else None
            status, _, payload = api.call("PUT", path, _route_body(args), headers=headers)
            emit(payload, lambda p: (out.write("created\n" if status == 201 else "replaced\n"), show_route(p, out)))
        elif command == "delete":
            api.call("DELETE", path, headers={"If-Match": args.if_match} if args.if_match else None)
            emit({"deleted": args.tenant_id}, lambda p: out.write(f"deleted route {args.tenant_id}\n"))
    elif group == "clients":
        path = "/manage/clients" if command in ("list", "create") else \
            f"/manage/clients/{quote(args.client_id, safe='')}"
        if command == "list":
            items = api.pages(path, {"pageSize": str(args.page_size)})
            rows = [{**c, "secretCount": len(c["secrets"])} for c in items]
            emit({"items": items}, lambda p: table(rows, CLIENT_COLUMNS, out))
        elif command == "get":
            emit(api.call("GET", path)[2], lambda p: show_client(p, out))
        elif command == "create":
            body = {"displayName": args.name, "allowedTenants": args.tenant, "enabled": not args.disabled,
                    **_client_extras(args)}
            payload = api.call("POST", path, body)[2]
            if "clientSecret" not in payload:  # private_key_jwt: no secret to show
                emit(payload, lambda p: show_client(p["client"], out))
            else:
                emit(payload, lambda p: show_new_secret(p, out, err))
                if as_json:
                    err.write(SECRET_WARNING + "\n")
        elif command == "update":
            body = {}
            if args.name is not None:
                body["displayName"] = args.name
            if args.tenant:
                body["allowedTenants"] = args.tenant
            if args.enabled is not None:
                body["enabled"] = args.enabled
            body.update(_client_extras(args))
            if not body:
                raise SystemExit("clients update: nothing to change (--name, --tenant, --enable/--disable, "
                                 "--scopes, --jwks-url, --jwks-file)")
            headers = {"If-Match": args.if_match} if args.if_match else None
            emit(api.call("PATCH", path, body, headers=headers)[2], lambda p: show_client(p, out))
        elif command == "delete":
            api.call("DELETE", path, headers={"If-Match": args.if_match} if args.if_match else None)
            emit({"deleted": args.client_id}, lambda p: out.write(f"deleted client {args.client_id}\n"))
    elif group == "secrets":
        base = f"/manage/clients/{quote(args.client_id, safe='')}/secrets"
        if command == "add":
            payload = api.call("POST", base)[2]
            emit(payload, lambda p: show_new_secret(p, out, err))
            if as_json:
                err.write(SECRET_WARNING + "\n")
        elif command == "revoke":
            api.call("DELETE", f"{base}/{quote(args.secret_id, safe='')}")
            emit({"revoked": args.secret_id}, lambda p: out.write(f"revoked secret {args.secret_id}\n"))
    elif group == "signing-keys":
        if command == "list":
            emit(api.call("GET", "/manage/signing-keys")[2], lambda p: table(p["items"], KEY_COLUMNS, out))
        elif command == "rotate":
            emit(api.call("POST", "/manage/signing-keys")[2], lambda p: table([p], KEY_COLUMNS, out))
    elif group == "provider-keys":
        if command == "list":
            payload = api.call("GET", "/manage/provider-keys")[2]
        else:
            payload = api.call("POST", f"/manage/provider-keys/{quote(args.name, safe='')}/rotate")[2]
        emit(payload, lambda p: show_provider_keys(p.get("items", [p]), out))
    elif group == "audit":
        query = {"pageSize": str(min(args.limit, 1000))}
        if args.since:
            query["since"] = args.since
        if args.until:
            query["until"] = args.until
        items = api.pages("/manage/audit", query, limit=args.limit)
        emit({"items": items}, lambda p: table(p["items"], AUDIT_COLUMNS, out))
    elif group == "openapi":
        out.write(json.dumps(api.call("GET", "/manage/openapi.json")[2], indent=2) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-admin", description="Administer the interop partner gateway.")
    parser.add_argument("--base-url", default=os.environ.get("GATEWAY_ADMIN_URL"),
                        help="gateway base URL (env GATEWAY_ADMIN_URL), e.g. https://<app>.azurewebsites.net")
    parser.add_argument("--key", default=os.environ.get("GATEWAY_ADMIN_KEY"),
                        help="admin_fn function key (env GATEWAY_ADMIN_KEY)")
    parser.add_argument("--token", default=os.environ.get("GATEWAY_ADMIN_TOKEN"),
                        help="Entra ID access token for the admin API (env GATEWAY_ADMIN_TOKEN)")
    parser.add_argument("--audience", default=os.environ.get("GATEWAY_ADMIN_AUDIENCE"),
                        help="the admin API's ADMIN_AUTH_AUDIENCE (env GATEWAY_ADMIN_AUDIENCE): without --token, "
                             "get a token with `az account get-access-token --resource <audience>`")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    groups = parser.add_subparsers(dest="group", required=True)

    routes = groups.add_parser("routes", help="tenant routes").add_subparsers(dest="command", required=True)
    listing = routes.add_parser("list")
    listing.add_argument("--page-size", type=int, default=100)
    routes.add_parser("get").add_argument("tenant_id")
    put = routes.add_parser("put", help="create or replace a tenant's route")
    put.add_argument("tenant_id")
    put.add_argument("--body", help="JSON body file ('-' for stdin) instead of the options below")
    put.add_argument("--fhir-base-url")
    put.add_argument("--fhir-version", choices=["DSTU2", "STU3", "R4"])
    put.add_argument("--display-name")
    put.add_argument("--disabled", action="store_true")
    put.add_argument("--allow-writes", action="store_true")
    put.add_argument("--batch-mode", choices=["passthrough", "fanout"], default="passthrough")
    put.add_argument("--private-network", action="store_true")
    put.add_argument("--connect-timeout", type=float)
    put.add_argument("--read-timeout", type=float)
    put.add_argument("--upstream-auth", choices=["none", "clientCredentials", "managedIdentity", "privateKeyJwt"],
                     default="none")
    put.add_argument("--token-url")
    put.add_argument("--upstream-client-id")
    put.add_argument("--upstream-scope")
    put.add_argument("--upstream-secret-env", metavar="VAR",
                     help="name of an environment variable holding the provider client secret")
    put.add_argument("--upstream-algorithm", choices=["RS384", "ES384"], default="RS384",
                     help="privateKeyJwt: the assertion's signature algorithm (default RS384)")
    put.add_argument("--upstream-key-name", metavar="NAME",
                     help="privateKeyJwt: sign with this key (own JWKS URL) instead of the gateway's")
    put.add_argument("--if-match")
    delete = routes.add_parser("delete")
    delete.add_argument("tenant_id")
    delete.add_argument("--if-match")

    clients = groups.add_parser("clients", help="OAuth clients").add_subparsers(dest="command", required=True)
    listing = clients.add_parser("list")
    listing.add_argument("--page-size", type=int, default=100)
    clients.add_parser("get").add_argument("client_id")
    create = clients.add_parser("create", help="create a client; prints its first secret once (none with "
                                               "--jwks-url / --jwks-file: private_key_jwt)")
    create.add_argument("--name", required=True)
    create.add_argument("--tenant", action="append", required=True, help="allowed tenant GUID or '*' (repeat)")
    create.add_argument("--disabled", action="store_true")
    _add_client_auth_flags(create)
    update = clients.add_parser("update")
    update.add_argument("client_id")
    update.add_argument("--name")
    update.add_argument("--tenant", action="append", help="replaces the allowed tenants (repeat)")
    switch = update.add_mutually_exclusive_group()
    switch.add_argument("--enable", dest="enabled", action="store_const", const=True)
    switch.add_argument("--disable", dest="enabled", action="store_const", const=False,
                        help="kill switch: no new tokens, existing ones stop within about a minute")
    _add_client_auth_flags(update)
    update.add_argument("--if-match")
    delete = clients.add_parser("delete")
    delete.add_argument("client_id")
    delete.add_argument("--if-match")

    secrets = groups.add_parser("secrets", help="client secrets").add_subparsers(dest="command", required=True)
    secrets.add_parser("add", help="add a secret (at most two active); prints it once").add_argument("client_id")
    revoke = secrets.add_parser("revoke")
    revoke.add_argument("client_id")
    revoke.add_argument("secret_id")

    keys = groups.add_parser("signing-keys", help="token signing keys").add_subparsers(dest="command",
                                                                                       required=True)
    keys.add_parser("list")
    keys.add_parser("rotate")

    provider_keys = groups.add_parser("provider-keys", help="keys that sign assertions to providers (privateKeyJwt)")
    provider_commands = provider_keys.add_subparsers(dest="command", required=True)
    provider_commands.add_parser("list")
    provider_commands.add_parser("rotate", help="add a version: published now, signs after the activation delay") \
        .add_argument("name", help="e.g. gateway-rs384")

    audit = groups.add_parser("audit", help="audit trail, newest first")
    audit.add_argument("--since", help="ISO 8601, inclusive")
    audit.add_argument("--until", help="ISO 8601, exclusive")
    audit.add_argument("--limit", type=int, default=100)

    groups.add_parser("openapi", help="print the OpenAPI document")
    return parser


def _flags_first(argv: list[str]) -> list[str]:
    """Accept the flag ``--json`` anywhere (``clients list --json``), not only before the command."""
    if "--json" in argv and "--" not in argv:
        argv = ["--json", *(a for a in argv if a != "--json")]
    return argv


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(_flags_first(list(sys.argv[1:] if argv is None else argv)))
    if not args.base_url:
        parser.error("give --base-url or set GATEWAY_ADMIN_URL")
    if urlsplit(args.base_url).scheme not in ("http", "https"):
        parser.error("--base-url must be an http(s) URL")
    token = args.token
    if not token and args.audience:
        try:
            token = token_from_azure_cli(args.audience)
        except TokenUnavailable as error:
            err.write(f"error: cannot get an Entra ID token: {error}\n")
            return 2
    api = AdminClient(args.base_url, args.key, timeout=args.timeout, token=token)
    try:
        return run(args, api, out, err)
    except ApiError as error:
        problem = error.problem
        title = problem.get("title") or f"HTTP {error.status}"
        err.write(f"error: {error.status} {title}")
        if problem.get("detail"):
            err.write(f": {problem['detail']}")
        err.write("\n")
        for item in problem.get("errors") or []:
            if isinstance(item, dict):
                err.write(f"  {item.get('field') or '(body)'}: {item.get('message')}\n")
        if error.status == 401 and str(problem.get("type", "")).endswith(":unauthorized"):
            err.write("  (the admin API needs an Entra ID token: --token / GATEWAY_ADMIN_TOKEN, or --audience / "
                      "GATEWAY_ADMIN_AUDIENCE after `az login`)\n")
        elif error.status == 401:
            err.write("  (check --key / GATEWAY_ADMIN_KEY: the admin_fn function key)\n")
        elif error.status == 403 and (args.token or args.audience):
            err.write("  (the signed-in identity lacks the admin app role)\n")
        return 1
    except Unreachable as error:
        err.write(f"error: {error}\n")
        return 3
    except (OSError, ValueError) as error:
        err.write(f"error: {type(error).__name__}: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
