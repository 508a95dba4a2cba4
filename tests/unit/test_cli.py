"""The admin CLI against the admin API served over a real loopback socket (in-memory stores)."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway import cli
from gateway.http import Headers, Request
from gateway.services import Services
from tests.support.constants import TENANT
from tests.support.surfaces import dispatch

KEY = "cli-test-key"


class AdminServer:
    """A loopback HTTP server that checks the function key like the host and dispatches to the admin API."""

    def __init__(self, services: Services, loop: asyncio.AbstractEventLoop) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("x-functions-key") != KEY:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = self.path.split("?")[0]
                request = Request(self.command, f"http://127.0.0.1:{outer.port}{self.path}",
                                  Headers(list(self.headers.items())),
                                  {"path": path.removeprefix("/manage/")}, body)
                response = asyncio.run_coroutine_threadsafe(dispatch(request, services), loop).result(30)
                self.send_response(response.status)
                for name, value in response.headers.items_all():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
async def server(services):
    srv = AdminServer(services, asyncio.get_running_loop())
    yield srv
    await asyncio.to_thread(srv.stop)


async def run_cli(server: AdminServer, *argv: str, key: str = KEY) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(cli.main, ["--base-url", f"http://127.0.0.1:{server.port}", "--key", key, *argv],
                                   out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def test_onboarding_flow_with_tables(server):
    code, out, _ = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/fhir",
                                 "--fhir-version", "STU3", "--display-name", "Contoso")
    assert code == 0 and "created" in out and "Contoso" in out
    code, out, _ = await run_cli(server, "routes", "list")
    assert code == 0 and "TENANT" in out and TENANT in out

    code, out, err = await run_cli(server, "clients", "create", "--name", "Teams", "--tenant", TENANT)
    assert code == 0 and "clientSecret" in out and "shown only once" in err
    client_id = next(line.split()[1] for line in out.splitlines() if line.startswith("clientId"))
    first_secret_id = next(line.split()[1] for line in out.splitlines() if line.startswith("secretId"))

    code, out, err = await run_cli(server, "secrets", "add", client_id)
    assert code == 0 and "shown only once" in err
    code, out, err = await run_cli(server, "secrets", "add", client_id)
    assert code == 1 and "409 Conflict" in err and "revoke one first" in err

    code, out, _ = await run_cli(server, "secrets", "revoke", client_id, first_secret_id)
    assert code == 0
    code, out, _ = await run_cli(server, "clients", "update", client_id, "--disable")
    assert code == 0 and "enabled" in out and "no" in out
    code, out, _ = await run_cli(server, "clients", "get", client_id)
    assert code == 0 and first_secret_id not in out and "SECRET ID" in out

    code, out, _ = await run_cli(server, "audit")
    assert code == 0 and "client.update" in out and "secret.revoke" in out and "WHO" in out
    assert KEY not in out


async def test_json_output(server):
    code, out, err = await run_cli(server, "--json", "clients", "create", "--name", "T", "--tenant", "*")
    payload = json.loads(out)
    assert code == 0 and payload["clientSecret"] and "shown only once" in err
    code, out, _ = await run_cli(server, "--json", "clients", "list")
    assert [c["clientId"] for c in json.loads(out)["items"]] == [payload["clientId"]]
    code, out, _ = await run_cli(server, "--json", "signing-keys", "rotate")
    assert code == 0 and json.loads(out)["kid"]


async def test_validation_errors_print_field_messages(server):
    code, _, err = await run_cli(server, "clients", "create", "--name", "x", "--tenant", "not-a-guid")
    assert code == 1 and "422" in err and "allowedTenants/0" in err
    code, _, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "ftp://127.0.0.1/f",
                                 "--fhir-version", "R4")
    assert code == 1 and "fhirBaseUrl" in err


async def test_routes_put_says_whether_the_version_was_verified_and_verify_checks_it_again(server, services):
    from gateway.outbound.transport import MockTransport, UpstreamResponse

    stated = {"fhirVersion": "4.0.1"}
    services.use_transport(MockTransport(lambda sent: UpstreamResponse(200, [], json.dumps(
        {"resourceType": "CapabilityStatement", **stated}).encode(), "")))
    code, _, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/f",
                                 "--fhir-version", "STU3")
    assert code == 1 and "422" in err and "fhirVersion" in err and "4.0.1 (FHIR R4)" in err
    code, out, _ = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/f",
                                 "--fhir-version", "R4", "--require-verified")
    assert code == 0 and "fhirVersion R4: verified (the provider states fhirVersion 4.0.1)" in out
    code, out, _ = await run_cli(server, "routes", "verify", TENANT)
    assert code == 0 and "verified" in out
    stated["fhirVersion"] = "3.0.1"
    code, out, _ = await run_cli(server, "--json", "routes", "verify", TENANT)
    assert code == cli.NOT_VERIFIED and json.loads(out)["status"] == "mismatch"
    del stated["fhirVersion"]
    code, _, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/f",
                                 "--fhir-version", "R4", "--require-verified")
    assert code == 1 and "422" in err


async def test_wrong_key_and_unreachable_host(server):
    code, _, err = await run_cli(server, "clients", "list", key="wrong")
    assert code == 1 and "401" in err and "GATEWAY_ADMIN_KEY" in err
    out, err_io = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(cli.main, ["--base-url", "http://127.0.0.1:9", "clients", "list"],
                                   out=out, err=err_io)
    assert code == 3 and "cannot reach" in err_io.getvalue()


async def test_paged_listing_follows_next_link(server):
    for i in range(5):
        tenant = f"00000000-0000-0000-0000-00000000000{i}"
        code, _, _ = await run_cli(server, "routes", "put", tenant, "--fhir-base-url", "http://127.0.0.1:9/f",
                                   "--fhir-version", "STU3")
        assert code == 0
    code, out, _ = await run_cli(server, "--json", "routes", "list", "--page-size", "2")
    assert len(json.loads(out)["items"]) == 5


def test_missing_base_url_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("GATEWAY_ADMIN_URL", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["clients", "list"])
    assert exit_info.value.code == 2


async def test_route_with_upstream_secret_from_environment_and_body_file(server, monkeypatch, tmp_path):
    monkeypatch.setenv("PROVIDER_SECRET", "provider-s3cret-from-env")
    code, out, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/f",
                                   "--fhir-version", "STU3", "--upstream-auth", "clientCredentials",
                                   "--token-url", "http://127.0.0.1:9/token", "--upstream-client-id", "gw",
                                   "--upstream-secret-env", "PROVIDER_SECRET", "--read-timeout", "12.5")
    assert code == 0, err
    assert "provider-s3cret-from-env" not in out and "upstreamSecretSet  yes" in out
    body = tmp_path / "route.json"
    body.write_text(json.dumps({"fhirBaseUrl": "http://127.0.0.1:9/g", "fhirVersion": "STU3",
                                "upstreamAuth": {"type": "clientCredentials", "tokenUrl": "http://127.0.0.1:9/t",
                                                 "clientId": "gw"}}))
    # another token URL without the secret again: refused (the stored secret is bound to where it goes)
    code, out, err = await run_cli(server, "--json", "routes", "put", TENANT, "--body", str(body))
    assert code == 1 and "422" in err and "upstreamAuth/clientSecret" in err
    body.write_text(json.dumps({"fhirBaseUrl": "http://127.0.0.1:9/g", "fhirVersion": "STU3",
                                "upstreamAuth": {"type": "clientCredentials", "tokenUrl": "http://127.0.0.1:9/token",
                                                 "clientId": "gw"}}))
    code, out, err = await run_cli(server, "--json", "routes", "put", TENANT, "--body", str(body))
    assert code == 0, err
    assert json.loads(out)["upstreamAuth"]["clientSecretSet"] is True
    code, out, _ = await run_cli(server, "routes", "get", TENANT)
    assert code == 0 and "http://127.0.0.1:9/g" in out
    code, out, _ = await run_cli(server, "routes", "delete", TENANT)
    assert code == 0 and "deleted" in out
    code, _, err = await run_cli(server, "routes", "get", TENANT)
    assert code == 1 and "404 Not Found" in err


async def test_client_update_and_delete(server):
    code, out, _ = await run_cli(server, "--json", "clients", "create", "--name", "T", "--tenant", TENANT)
    client_id = json.loads(out)["clientId"]
    other = "11111111-2222-3333-4444-555555555555"
    code, out, _ = await run_cli(server, "--json", "clients", "update", client_id, "--name", "Renamed",
                                 "--tenant", other, "--tenant", TENANT)
    assert code == 0 and json.loads(out)["allowedTenants"] == [other, TENANT]
    code, out, _ = await run_cli(server, "clients", "delete", client_id)
    assert code == 0
    code, out, _ = await run_cli(server, "clients", "list")
    assert code == 0 and "(none)" in out


def test_json_flag_is_accepted_after_the_command():
    from gateway.cli import _flags_first, build_parser

    args = build_parser().parse_args(_flags_first(["--base-url", "http://x", "clients", "list", "--json"]))
    assert args.json is True


async def test_managed_identity_route_without_scope_uses_the_providers_origin(server):
    code, out, err = await run_cli(server, "--json", "routes", "put", TENANT, "--fhir-base-url",
                                   "http://127.0.0.1:9/f", "--fhir-version", "STU3", "--upstream-auth",
                                   "managedIdentity")
    assert code == 0, err
    assert json.loads(out)["upstreamAuth"] == {"type": "managedIdentity", "tokenUrl": None, "clientId": None,
                                               "scope": None, "clientSecretSet": False}
    code, _, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/f",
                                 "--fhir-version", "STU3", "--upstream-auth", "managedIdentity",
                                 "--upstream-scope", "https://vault.azure.net/.default")
    assert code == 1 and "upstreamAuth/scope" in err


async def test_private_key_jwt_routes_and_provider_keys(server):
    code, out, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/stu3",
                                   "--fhir-version", "STU3", "--upstream-auth", "privateKeyJwt",
                                   "--token-url", "http://127.0.0.1:9/auth/token", "--upstream-client-id", "gw",
                                   "--upstream-scope", "system/*.rs", "--upstream-algorithm", "ES384",
                                   "--upstream-key-name", "gateway")
    assert code == 0, err
    assert "privateKeyJwt" in out and "ES384" in out and "gateway" in out
    code, out, _ = await run_cli(server, "provider-keys", "list")
    assert code == 0 and "gateway-es384" in out and "active" in out and "/oauth2/provider-jwks" in out
    code, out, _ = await run_cli(server, "--json", "provider-keys", "rotate", "gateway-es384")
    assert code == 0 and [v["status"] for v in json.loads(out)["versions"]] == ["active", "pending"]
    code, _, err = await run_cli(server, "provider-keys", "rotate", "gateway-rs384")
    assert code == 1 and "404" in err
    code, _, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/stu3",
                                 "--fhir-version", "STU3", "--upstream-auth", "privateKeyJwt", "--token-url",
                                 "http://127.0.0.1:9/auth/token", "--upstream-client-id", "gw",
                                 "--upstream-key-name", "Not_Valid")
    assert code == 1 and "upstreamAuth/keyName" in err
async def test_private_key_jwt_clients_and_scopes(server, tmp_path):
    from tests.unit.oauth.keys import private_jwk, public_jwk, rsa_key

    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [public_jwk(rsa_key(), "cli-1")]}))
    code, out, err = await run_cli(server, "clients", "create", "--name", "Backend", "--tenant", TENANT,
                                   "--jwks-file", str(jwks_file), "--scopes", "system/Patient.read")
    assert code == 0 and "clientSecret" not in out and "shown only once" not in err
    assert "private_key_jwt" in out and "cli-1" in out and "system/Patient.rs" in out
    client_id = next(line.split()[1] for line in out.splitlines() if line.startswith("clientId"))
    code, out, _ = await run_cli(server, "clients", "update", client_id, "--jwks-url",
                                 "http://127.0.0.1:9/jwks.json", "--scopes", "system/*.rs")
    assert code == 0 and "http://127.0.0.1:9/jwks.json" in out and "system/*.rs" in out
    code, _, err = await run_cli(server, "secrets", "add", client_id)
    assert code == 1 and "409" in err and "private_key_jwt" in err

    private_file = tmp_path / "private.json"
    private = private_jwk(rsa_key(), "cli-2")
    private_file.write_text(json.dumps({"keys": [private]}))
    code, _, err = await run_cli(server, "clients", "create", "--name", "Leaky", "--tenant", TENANT,
                                 "--jwks-file", str(private_file))
    assert code == 1 and "422" in err and "'d'" in err and private["d"] not in err


async def test_if_match_guards_route_and_client_changes(server):
    """--if-match is sent as If-Match: a stale ETag changes nothing (412), the current one goes through."""
    code, out, _ = await run_cli(server, "--json", "routes", "put", TENANT, "--fhir-base-url",
                                 "http://127.0.0.1:9/fhir", "--fhir-version", "STU3", "--display-name", "First")
    assert code == 0
    etag = json.loads(out)["etag"]
    stale = '"stale-etag"'
    code, _, err = await run_cli(server, "routes", "put", TENANT, "--fhir-base-url", "http://127.0.0.1:9/fhir",
                                 "--fhir-version", "STU3", "--display-name", "Second", "--if-match", stale)
    assert code == 1 and "412" in err
    code, _, err = await run_cli(server, "routes", "delete", TENANT, "--if-match", stale)
    assert code == 1 and "412" in err
    code, out, _ = await run_cli(server, "--json", "routes", "get", TENANT)
    assert json.loads(out)["displayName"] == "First"
    code, out, _ = await run_cli(server, "routes", "delete", TENANT, "--if-match", etag)
    assert code == 0 and f"deleted route {TENANT}" in out

    code, out, _ = await run_cli(server, "--json", "clients", "create", "--name", "T", "--tenant", TENANT)
    client_id = json.loads(out)["clientId"]
    code, _, err = await run_cli(server, "clients", "update", client_id, "--name", "Renamed", "--if-match", stale)
    assert code == 1 and "412" in err
    code, _, err = await run_cli(server, "clients", "delete", client_id, "--if-match", stale)
    assert code == 1 and "412" in err
    code, out, _ = await run_cli(server, "--json", "clients", "get", client_id)
    assert json.loads(out)["displayName"] == "T"


async def test_ensure_creates_what_a_deployment_lacks_once_and_is_audited(server, services):
    from gateway.stores.memory import MemorySecretStore

    services.secrets = MemorySecretStore(services.clock)  # a new vault: no signing key, no client id key
    code, out, _ = await run_cli(server, "ensure")
    assert code == 0 and "created signing key" in out and "created client id key" in out
    assert [r.action for r in services.audit.records] == ["deployment.ensure"]
    code, out, _ = await run_cli(server, "ensure")
    assert code == 0 and out.strip() == "nothing to create"
    code, out, _ = await run_cli(server, "ensure", "--rebuild-index")
    assert code == 0 and "created legacy client id index" in out
    assert (await services.key_ring.signing_key()).kid
