"""Credentials: compared in constant time, never returned except in the one creation response,
never logged (and the log scanner really fails a run that logs one, host output included)."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

import devtools.funchost.app as funchost_app
import gateway.credentials as credentials
import gateway.oauth.authentication as authentication
from tests.fixtures.leaks import register_sensitive
from tests.security import rawhttp
from tests.support.constants import TENANT_A, TENANT_B

REPO = Path(__file__).resolve().parents[2]
SECRET_WORDS = ("secret", "verifier", "password", "mac", "signature", "digest", "function_key", "master_key")
# Names that contain a secret word but hold public values (ids, names, hints, counts, flags).
PUBLIC_SUFFIXES = ("_id", "_ids", "_name", "_names", "hint", "_set", "_type", "_count", "_url", "secrets",
                   "_on", "_prefix", "_media", "_scheme")
PUBLIC_NAMES = {"old_secret"}  # admin/tenant_routes.py: the Key Vault *name* of a replaced upstream secret


def _names(node: ast.AST) -> list[str]:
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.append(child.id)
        elif isinstance(child, ast.Attribute):
            found.append(child.attr)
    return found


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return (any(w in lowered for w in SECRET_WORDS) and not lowered.endswith(PUBLIC_SUFFIXES)
            and name not in PUBLIC_NAMES)


def test_secret_checks_use_constant_time_comparison():
    check = ast.parse(textwrap.dedent(inspect.getsource(credentials.check_verifier)))
    calls = [n for n in ast.walk(check) if isinstance(n, ast.Call)]
    assert any(isinstance(c.func, ast.Attribute) and c.func.attr == "compare_digest" for c in calls)
    assert not any(isinstance(n, ast.Compare) and {"actual", "expected"} & set(_names(n)) for n in ast.walk(check))
    # The token endpoint checks a presented secret only through the verifier check.
    auth_source = inspect.getsource(authentication)
    assert "check_verifier(" in auth_source
    # The local host compares function keys with compare_digest, against every key.
    allows = inspect.getsource(funchost_app.Keys.allows)
    assert "hmac.compare_digest(candidate, key)" in allows
    assert "candidate ==" not in allows and "== candidate" not in allows and "candidate in" not in allows


def test_no_credential_is_compared_with_equality_anywhere_in_the_gateway():
    offenders = []
    for path in sorted((REPO / "gateway").rglob("*.py")) + [REPO / "devtools/funchost/app.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                operands = [node.left, *node.comparators]
                if any(isinstance(o, ast.Constant) and o.value is None for o in operands):
                    continue
                names = [n for o in operands for n in _names(o) if _is_secret_name(n)]
                if names:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {names}")
    assert offenders == []


@pytest.mark.e2e
async def test_onboarding_flow_never_returns_a_secret_except_in_its_creation_response(start_gateway):
    gw = await start_gateway()
    provider_secret = "prov-" + "Qx7" * 10
    register_sensitive(provider_secret)
    responses: list[tuple[str, httpx.Response]] = []
    creations: dict[str, str] = {}  # label of the creation response -> the secret it may show

    with httpx.Client(base_url=gw.url, headers={"x-functions-key": gw.function_key}, timeout=30) as api:
        def call(label: str, method: str, url: str, **kwargs) -> httpx.Response:
            response = api.request(method, url, **kwargs)
            responses.append((label, response))
            return response

        route_body = {"fhirBaseUrl": gw.provider.base("/tenant-b"), "fhirVersion": "STU3", "displayName": "B",
                      "upstreamAuth": {"type": "clientCredentials", "tokenUrl": gw.provider.base("/token"),
                                       "clientId": "gateway-at-b", "clientSecret": provider_secret}}
        assert call("put route", "PUT", f"/manage/routes/{TENANT_B}", json=route_body).status_code == 201
        assert call("replace route", "PUT", f"/manage/routes/{TENANT_B}", json=route_body).status_code == 200
        call("get route", "GET", f"/manage/routes/{TENANT_B}")
        call("list routes", "GET", "/manage/routes")
        created = call("create client", "POST", "/manage/clients",
                       json={"displayName": "Teams", "allowedTenants": [TENANT_A, TENANT_B]},
                       headers={"X-Forwarded-For": "203.0.113.66"})  # forged: the audit keeps the real hop
        assert created.status_code == 201
        client_id, first = created.json()["clientId"], created.json()["clientSecret"]
        register_sensitive(first)
        creations["create client"] = first
        added = call("add secret", "POST", f"/manage/clients/{client_id}/secrets")
        assert added.status_code == 201
        second = added.json()["clientSecret"]
        register_sensitive(second)
        creations["add secret"] = second
        call("third secret (409)", "POST", f"/manage/clients/{client_id}/secrets")
        call("get client", "GET", f"/manage/clients/{client_id}")
        call("list clients", "GET", "/manage/clients")
        call("patch client", "PATCH", f"/manage/clients/{client_id}", json={"displayName": "Teams Patients"})
        for secret in (first, second):
            issued = call("token", "POST", "/oauth2/token", data={"grant_type": "client_credentials",
                                                                  "scope": TENANT_B}, auth=(client_id, secret))
            assert issued.status_code == 200
            register_sensitive(issued.json()["access_token"])
        token = responses[-1][1].json()["access_token"]
        proxied = call("proxy with upstream auth", "GET", "/fhir/Patient/1",
                       headers={"Authorization": f"Bearer {token}"})
        assert proxied.status_code in (200, 502)  # the stand-in is no OAuth server: a clean 502 at worst
        call("bad client body", "POST", "/manage/clients",
             json={"displayName": first, "allowedTenants": [first], "clientSecret": second})
        call("bad route body", "PUT", f"/manage/routes/{TENANT_A}", json={
            "fhirBaseUrl": "ftp://" + provider_secret, "fhirVersion": "STU3",
            "upstreamAuth": {"type": "clientCredentials", "tokenUrl": "nope", "clientSecret": provider_secret,
                             "extra": first}})
        call("wrong secret", "POST", "/oauth2/token", data={"grant_type": "client_credentials", "scope": TENANT_B,
                                                            "client_id": client_id, "client_secret": first + "x"})
        call("revoke", "DELETE", f"/manage/clients/{client_id}/secrets/{created.json()['secretId']}")
        call("revoked secret", "POST", "/oauth2/token", data={"grant_type": "client_credentials",
                                                              "scope": TENANT_B}, auth=(client_id, first))
        call("rotate key", "POST", "/manage/signing-keys")
        call("list keys", "GET", "/manage/signing-keys")
        call("jwks", "GET", "/oauth2/jwks")
        call("audit", "GET", "/manage/audit")
        call("openapi", "GET", "/manage/openapi.json")
        call("delete route", "DELETE", f"/manage/routes/{TENANT_B}")
        call("delete client", "DELETE", f"/manage/clients/{client_id}")

    everything = {"first client secret": first, "second client secret": second,
                  "provider secret": provider_secret, "function key": gw.function_key}
    assert len(responses) >= 25
    for label, response in responses:
        expected_failure = label == "proxy with upstream auth" and response.status_code == 502
        assert response.status_code < 500 or expected_failure, (label, response.status_code)
        text = response.text + json.dumps(dict(response.headers))
        allowed = creations.get(label)
        for what, value in everything.items():
            if value != allowed:
                assert value not in text, f"{label} returned the {what}"
        if allowed is not None:
            assert response.headers.get("Cache-Control", "").startswith("no-store")
    audit = next(r for label, r in responses if label == "audit").json()
    assert audit["items"], "the onboarding was audited"
    assert {item["sourceAddress"] for item in audit["items"]} == {"127.0.0.1"}
    output = gw.host.output()
    for what, value in everything.items():
        assert value not in output, f"the host logged the {what}"
    # The provider never saw the gateway's client secrets or the function key either.
    seen = json.dumps([(r.path, r.raw_query, r.headers, r.body.decode("latin-1")) for r in gw.provider.requests])
    assert first not in seen and second not in seen and gw.function_key not in seen


LEAKING_TEST = '''
import logging

from gateway.credentials import new_secret


def test_logs_a_client_secret():
    logging.getLogger("gateway.oops").warning("token request client_secret=%s", new_secret()[1])
'''

CLEAN_TEST = '''
import logging


def test_logs_nothing_sensitive():
    logging.getLogger("gateway.fine").warning("token request client_id=abc outcome=invalid_client")
'''

HOST_LEAK_TEST = '''
import httpx

from tests.fixtures.leaks import register_sensitive


def test_the_host_logs_a_registered_value(funchost):
    value = "registered-provider-credential-0042"
    register_sensitive(value)
    host = funchost({"GATEWAY_ENVIRONMENT": "development"})
    httpx.get(f"{host.base_url}/nowhere/{value}", timeout=30)  # the access log prints the path
    host.wait_for_output("/nowhere/", timeout=20)
'''


def run_pytest(tmp_path: Path, source: str, *plugins: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(source, encoding="utf-8")
    args = [sys.executable, "-m", "pytest", str(tmp_path / "test_probe.py"), "-q", "-p", "no:cacheprovider",
            "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path)]
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for plugin in plugins:
        args += ["-p", plugin]
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize("source,leaks", [(LEAKING_TEST, True), (CLEAN_TEST, False)])
def test_the_log_scanner_fails_a_run_that_logs_a_secret(tmp_path, source, leaks):
    result = run_pytest(tmp_path, source, "tests.fixtures.leaks")
    assert (result.returncode != 0) is leaks, result.stdout[-2000:]
    assert ("credentials reached the logs" in result.stdout) is leaks
    if leaks:
        assert "client secret …" in result.stdout  # reported redacted, the scanner names what leaked


@pytest.mark.e2e
def test_the_log_scanner_sees_the_local_hosts_output(tmp_path):
    result = run_pytest(tmp_path, HOST_LEAK_TEST, "tests.fixtures.leaks", "tests.fixtures.funchost")
    assert result.returncode != 0, result.stdout[-2000:]
    assert "credentials reached the logs" in result.stdout and "funchost" in result.stdout
    assert "registered credential …0042" in result.stdout


def test_raw_http_helper_is_loopback_only():
    with pytest.raises(AssertionError):
        rawhttp.connect("http://example.com:80")


@pytest.mark.parametrize("swap", ["post", "basic"])
async def test_a_secret_sent_as_the_client_id_is_never_logged(services, caplog, swap):
    """A client that swaps its id and secret must not get its secret written to the token endpoint's log."""
    from gateway.credentials import new_secret
    from tests.support.oauth import basic, post_form, token_request
    from tests.support.surfaces import respond
    from tests.unit.oauth.helpers import add_client

    secret = await add_client(services, "swapped")
    register_sensitive(secret)
    if swap == "post":
        req = token_request(post_form(secret, "swapped"))
    else:
        req = token_request({"grant_type": "client_credentials", "scope": TENANT_A},
                            headers={"Authorization": basic(secret, "swapped")})
    caplog.set_level("INFO")
    response = await respond(req, services)
    assert response.status == 401
    other = new_secret()[1]  # any secret-shaped value, not only a known one
    register_sensitive(other)
    await respond(token_request(post_form(other, "x")), services)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "token request" in logged
    assert secret not in logged and other not in logged
