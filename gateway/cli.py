"""``gateway-admin``: command line for the admin API (``/manage/...``), standard library only.

Usage: ``gateway-admin [--base-url URL] [--key KEY] [--token TOKEN | --audience AUD] [--json] <group> <command> ...``
(or ``python -m gateway.cli``). The base URL and function key default to
``GATEWAY_ADMIN_URL`` and ``GATEWAY_ADMIN_KEY``. When the gateway requires an
Entra ID token (``ADMIN_AUTH_AUDIENCE``), give it with ``--token`` /
``GATEWAY_ADMIN_TOKEN``, or name the API's identifier URI (``api://<app id>``) with ``--audience`` /
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from string import Formatter
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


def token_from_azure_cli(audience: str, *,
                         runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> str:
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
AUDIT_COLUMNS = [("timestamp", "WHEN"), ("actor", "WHO (ID)"), ("actorDisplayName", "CLAIMED NAME (UNVERIFIED)"),
                 ("action", "ACTION"), ("targetId", "TARGET"), ("outcome", "OUTCOME"), ("sourceAddress", "FROM"),
                 ("requestId", "REQUEST ID")]


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


# --------------------------------------------------------------------------- request bodies

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


def _route_body(args: argparse.Namespace) -> object:
    """The route to PUT: the JSON of ``--body`` as given (the API validates it), or one built from the flags."""
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
    body["upstreamAuth"] = _upstream_auth(args)
    return body


def _upstream_auth(args: argparse.Namespace) -> dict[str, Any]:
    """The route's ``upstreamAuth`` from the --upstream-* options and --token-url."""
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
    return auth


# --------------------------------------------------------------------------- commands

@dataclass(frozen=True)
class Arg:
    """One argparse argument: its flags (or name) and keyword options."""

    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class OneOf:
    """Mutually exclusive arguments."""

    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Reply:
    """What a command's request brought back, with the command line that asked for it."""

    args: argparse.Namespace
    status: int
    payload: Any
    out: TextIO
    err: TextIO


@dataclass(frozen=True)
class Command:
    """One CLI command: its arguments, the admin API request it makes and how its answer is shown.

    ``path`` is a template whose ``{fields}`` are arguments, percent-encoded as one path segment.
    A ``paged`` command follows ``nextLink`` (up to ``--limit`` items when it has one) and shows
    ``{"items": [...]}``. ``result`` is the JSON printed with ``--json`` (default: the API's payload);
    ``show`` prints the readable form.
    """

    group: str
    name: str | None  # None: the group is the command
    method: str
    path: str
    show: Callable[[Reply], object]
    arguments: tuple[Arg | OneOf, ...] = ()
    help: str | None = None
    body: Callable[[argparse.Namespace], Any] | None = None
    query: Callable[[argparse.Namespace], dict[str, str] | None] | None = None
    paged: bool = False
    result: Callable[[argparse.Namespace, Any], Any] | None = None
    exit_code: Callable[[Any], int] | None = None

    def url_path(self, args: argparse.Namespace) -> str:
        fields = {field: quote(getattr(args, field), safe="")
                  for _, field, _, _ in Formatter().parse(self.path) if field}
        return self.path.format(**fields)

    def request(self, args: argparse.Namespace, api: AdminClient) -> tuple[int, Any]:
        path = self.url_path(args)
        query = self.query(args) if self.query else None
        if self.paged:
            return 200, {"items": api.pages(path, query, limit=getattr(args, "limit", None))}
        body = self.body(args) if self.body else None
        if_match = getattr(args, "if_match", None)  # the commands that take --if-match
        headers = {"If-Match": if_match} if if_match else None
        status, _, payload = api.call(self.method, path, body, headers=headers, query=query)
        return status, payload


def _page_size(args: argparse.Namespace) -> dict[str, str]:
    return {"pageSize": str(args.page_size)}


def _audit_query(args: argparse.Namespace) -> dict[str, str]:
    query = {"pageSize": str(min(args.limit, 1000))}
    if args.since:
        query["since"] = args.since
    if args.until:
        query["until"] = args.until
    return query


def _new_client_body(args: argparse.Namespace) -> dict[str, Any]:
    return {"displayName": args.name, "allowedTenants": args.tenant, "enabled": not args.disabled,
            **_client_extras(args)}


def _client_update_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
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
    return body


def _show_put_route(reply: Reply) -> None:
    reply.out.write("created\n" if reply.status == 201 else "replaced\n")
    show_route(reply.payload, reply.out)
    check = reply.payload.get("fhirVersionCheck")
    if check is not None:
        show_version_check(check, reply.out)


def show_version_check(check: dict[str, Any], out: TextIO) -> None:
    """What the provider's metadata said of the route's FHIR version (``verified``, ``mismatch``, ``unverified``)."""
    out.write(f"fhirVersion {check['declaredFhirVersion']}: {check['status']} ({check['detail']})\n")


NOT_VERIFIED = 4
"""Exit status of ``routes verify`` when the provider's metadata does not confirm the route's version."""


def _verified(payload: Any) -> int:
    return 0 if payload.get("status") == "verified" else NOT_VERIFIED


def _require_verified(args: argparse.Namespace) -> dict[str, str] | None:
    return {"requireVerified": "true"} if args.require_verified else None


def _show_created_client(reply: Reply) -> None:
    if "clientSecret" not in reply.payload:  # private_key_jwt: no secret to show
        show_client(reply.payload["client"], reply.out)
    else:
        show_new_secret(reply.payload, reply.out, reply.err)


def _said(template: str, field: str) -> Callable[[Reply], object]:
    """Show a one-line confirmation naming the argument ``field``."""
    return lambda reply: reply.out.write(template.format(getattr(reply.args, field)) + "\n")


def _named(key: str, field: str) -> Callable[[argparse.Namespace, Any], Any]:
    """The JSON result ``{key: <argument field>}`` of a command whose API answer has no body."""
    return lambda args, payload: {key: getattr(args, field)}


def _print_json(reply: Reply) -> None:
    reply.out.write(json.dumps(reply.payload, indent=2) + "\n")


def _columns(columns: list[tuple[str, str]]) -> Callable[[Reply], None]:
    return lambda reply: table(reply.payload["items"], columns, reply.out)


IF_MATCH = arg("--if-match")
CLIENT_AUTH_FLAGS = (
    arg("--scopes", help="allowed SMART system scopes, space-separated "
                         "(e.g. 'system/Patient.rs system/Observation.rs'; default system/*.rs)"),
    OneOf((arg("--jwks-url", help="private_key_jwt: the client's JWKS URL (https); the client gets no secret"),
           arg("--jwks-file", help="private_key_jwt: a file with the client's public JWKS; no secret"))),
)
ROUTE_PUT_FLAGS = (
    arg("--body", help="JSON body file ('-' for stdin) instead of the options below"),
    arg("--fhir-base-url"),
    arg("--fhir-version", choices=["DSTU2", "STU3", "R4"]),
    arg("--display-name"),
    arg("--disabled", action="store_true"),
    arg("--allow-writes", action="store_true"),
    arg("--batch-mode", choices=["passthrough", "fanout"], default="passthrough"),
    arg("--private-network", action="store_true"),
    arg("--connect-timeout", type=float),
    arg("--read-timeout", type=float),
    arg("--upstream-auth", choices=["none", "clientCredentials", "managedIdentity", "privateKeyJwt"],
        default="none"),
    arg("--token-url"),
    arg("--upstream-client-id"),
    arg("--upstream-scope"),
    arg("--upstream-secret-env", metavar="VAR", help="name of an environment variable holding the provider "
                                                      "client secret"),
    arg("--upstream-algorithm", choices=["RS384", "ES384"], default="RS384",
        help="privateKeyJwt: the assertion's signature algorithm (default RS384)"),
    arg("--upstream-key-name", metavar="NAME",
        help="privateKeyJwt: sign with this key, bound to the origins it was first used with (default: a key of "
             "the route's own)"),
    arg("--require-verified", action="store_true",
        help="refuse the save unless the provider's metadata confirms --fhir-version (by default a provider "
             "that cannot be read leaves the route unverified; one that contradicts it is always refused)"),
)

def _show_ensured(reply: Reply) -> None:
    created = reply.payload["created"]
    print("\n".join(f"created {what}" for what in created) if created else "nothing to create", file=reply.out)


GROUPS: dict[str, str] = {
    "routes": "tenant routes",
    "clients": "OAuth clients",
    "secrets": "client secrets",
    "signing-keys": "token signing keys",
    "provider-keys": "keys that sign assertions to providers (privateKeyJwt)",
    "audit": "audit trail, newest first",
    "openapi": "print the OpenAPI document",
    "ensure": "create what workers need and never create themselves (deployments run it)",
}

COMMANDS: tuple[Command, ...] = (
    Command("routes", "list", "GET", "/manage/routes", _columns(ROUTE_COLUMNS),
            (arg("--page-size", type=int, default=100),), query=_page_size, paged=True),
    Command("routes", "get", "GET", "/manage/routes/{tenant_id}", lambda r: show_route(r.payload, r.out),
            (arg("tenant_id"),)),
    Command("routes", "put", "PUT", "/manage/routes/{tenant_id}", _show_put_route,
            (arg("tenant_id"), *ROUTE_PUT_FLAGS, IF_MATCH),
            help="create or replace a tenant's route (--fhir-version: the provider's; checked against its metadata)",
            body=_route_body, query=_require_verified),
    Command("routes", "verify", "POST", "/manage/routes/{tenant_id}/verify",
            lambda r: show_version_check(r.payload, r.out), (arg("tenant_id"),),
            help=f"check a route's FHIR version against its provider's metadata now (exit status {NOT_VERIFIED} "
                 "unless verified)", exit_code=_verified),
    Command("routes", "delete", "DELETE", "/manage/routes/{tenant_id}", _said("deleted route {}", "tenant_id"),
            (arg("tenant_id"), IF_MATCH), result=_named("deleted", "tenant_id")),
    Command("clients", "list", "GET", "/manage/clients",
            lambda r: table([{**c, "secretCount": len(c["secrets"])} for c in r.payload["items"]],
                            CLIENT_COLUMNS, r.out),
            (arg("--page-size", type=int, default=100),), query=_page_size, paged=True),
    Command("clients", "get", "GET", "/manage/clients/{client_id}", lambda r: show_client(r.payload, r.out),
            (arg("client_id"),)),
    Command("clients", "create", "POST", "/manage/clients", _show_created_client,
            (arg("--name", required=True),
             arg("--tenant", action="append", required=True, help="allowed tenant GUID or '*' (repeat)"),
             arg("--disabled", action="store_true"), *CLIENT_AUTH_FLAGS),
            help="create a client; prints its first secret once (none with --jwks-url / --jwks-file: "
                 "private_key_jwt)", body=_new_client_body),
    Command("clients", "update", "PATCH", "/manage/clients/{client_id}", lambda r: show_client(r.payload, r.out),
            (arg("client_id"), arg("--name"),
             arg("--tenant", action="append", help="replaces the allowed tenants (repeat)"),
             OneOf((arg("--enable", dest="enabled", action="store_const", const=True),
                    arg("--disable", dest="enabled", action="store_const", const=False,
                        help="kill switch: no new tokens, existing ones stop within about a minute"))),
             *CLIENT_AUTH_FLAGS, IF_MATCH),
            body=_client_update_body),
    Command("clients", "delete", "DELETE", "/manage/clients/{client_id}", _said("deleted client {}", "client_id"),
            (arg("client_id"), IF_MATCH), result=_named("deleted", "client_id")),
    Command("secrets", "add", "POST", "/manage/clients/{client_id}/secrets",
            lambda r: show_new_secret(r.payload, r.out, r.err), (arg("client_id"),),
            help="add a secret (at most two active); prints it once"),
    Command("secrets", "revoke", "DELETE", "/manage/clients/{client_id}/secrets/{secret_id}",
            _said("revoked secret {}", "secret_id"), (arg("client_id"), arg("secret_id")),
            result=_named("revoked", "secret_id")),
    Command("ensure", None, "POST", "/manage/ensure", _show_ensured,
            (arg("--rebuild-index", action="store_true",
                 help="write the legacy client id index again (after importing clients with ids of their own)"),),
            query=lambda a: {"rebuildIndex": "true"} if a.rebuild_index else {},
            help="create the signing key, the client id key and the legacy client id index when missing"),
    Command("signing-keys", "list", "GET", "/manage/signing-keys", _columns(KEY_COLUMNS)),
    Command("signing-keys", "rotate", "POST", "/manage/signing-keys",
            lambda r: table([r.payload], KEY_COLUMNS, r.out)),
    Command("provider-keys", "list", "GET", "/manage/provider-keys",
            lambda r: show_provider_keys(r.payload.get("items", [r.payload]), r.out)),
    Command("provider-keys", "rotate", "POST", "/manage/provider-keys/{name}/rotate",
            lambda r: show_provider_keys(r.payload.get("items", [r.payload]), r.out),
            (arg("name", help="e.g. gateway-rs384"),),
            help="add a version: published now, signs after the activation delay"),
    Command("audit", None, "GET", "/manage/audit", _columns(AUDIT_COLUMNS),
            (arg("--since", help="ISO 8601, inclusive"), arg("--until", help="ISO 8601, exclusive"),
             arg("--limit", type=int, default=100)), query=_audit_query, paged=True),
    Command("openapi", None, "GET", "/manage/openapi.json", _print_json),
)

_BY_NAME = {(command.group, command.name): command for command in COMMANDS}


def run(args: argparse.Namespace, api: AdminClient, out: TextIO, err: TextIO) -> int:
    """Make the command's request and print its answer: readable, or the JSON with ``--json``."""
    command = _BY_NAME[(args.group, getattr(args, "command", None))]
    status, payload = command.request(args, api)
    reply = Reply(args, status, payload, out, err)
    code = command.exit_code(payload) if command.exit_code else 0
    if not args.json:
        command.show(reply)
        return code
    result = command.result(args, payload) if command.result else payload
    out.write(json.dumps(result, indent=2) + "\n")
    if isinstance(result, dict) and "clientSecret" in result:
        err.write(SECRET_WARNING + "\n")
    return code


def _add_arguments(parser: argparse.ArgumentParser, arguments: tuple[Arg | OneOf, ...]) -> None:
    for argument in arguments:
        if isinstance(argument, OneOf):
            group = parser.add_mutually_exclusive_group()
            for choice in argument.args:
                group.add_argument(*choice.flags, **choice.options)
        else:
            parser.add_argument(*argument.flags, **argument.options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-admin", description="Administer the interop partner gateway.")
    parser.add_argument("--base-url", default=os.environ.get("GATEWAY_ADMIN_URL"),
                        help="gateway base URL (env GATEWAY_ADMIN_URL), e.g. https://<app>.azurewebsites.net")
    parser.add_argument("--key", default=os.environ.get("GATEWAY_ADMIN_KEY"),
                        help="admin_fn function key (env GATEWAY_ADMIN_KEY)")
    parser.add_argument("--token", default=os.environ.get("GATEWAY_ADMIN_TOKEN"),
                        help="Entra ID access token for the admin API (env GATEWAY_ADMIN_TOKEN)")
    parser.add_argument("--audience", default=os.environ.get("GATEWAY_ADMIN_AUDIENCE"),
                        help="the admin API's identifier URI api://<app id> (env GATEWAY_ADMIN_AUDIENCE): without "
                             "--token, get a token with `az account get-access-token --resource <audience>`")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    groups = parser.add_subparsers(dest="group", required=True)
    subcommands: dict[str, Any] = {}
    for group, help_text in GROUPS.items():
        group_parser = groups.add_parser(group, help=help_text)
        if any(command.name for command in COMMANDS if command.group == group):
            subcommands[group] = group_parser.add_subparsers(dest="command", required=True)
        else:
            subcommands[group] = group_parser
    for command in COMMANDS:
        target = subcommands[command.group]
        if command.name is not None:
            target = target.add_parser(command.name, **({"help": command.help} if command.help else {}))
        _add_arguments(target, command.arguments)
    return parser


def _flags_first(argv: list[str]) -> list[str]:
    """Accept the flag ``--json`` anywhere (``clients list --json``), not only before the command."""
    if "--json" in argv and "--" not in argv:
        argv = ["--json", *(a for a in argv if a != "--json")]
    return argv


def _report(error: ApiError, args: argparse.Namespace, err: TextIO) -> None:
    """The API's problem title, detail and field errors, with a hint for an authentication refusal."""
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
        _report(error, args, err)
        return 1
    except Unreachable as error:
        err.write(f"error: {error}\n")
        return 3
    except (OSError, ValueError) as error:
        err.write(f"error: {type(error).__name__}: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
