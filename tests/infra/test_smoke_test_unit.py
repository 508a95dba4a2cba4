"""devtools/smoke_test.py against a small stand-in gateway on a real loopback socket.

The stand-in answers the five endpoints the smoke test calls, and can be told to misbehave, so
each failure's line can be checked. The test against the real local stack is test_smoke_test.py.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.smoke_test import OAUTH_URIS_EXTENSION, main
from tests.support.constants import TENANT

CLIENT_ID = "client-1"
SECRET = "s1.c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6InRlbmFudCJ9.c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"
KEY = "function-key-that-must-never-be-printed"


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.faults: set[str] = set()
        self.admin_token = ""  # set: the admin route also wants this Entra ID token, as with Entra sign-in

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, document: object, content_type: str = "application/json") -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        base, faults = self.server.base_url, self.server.faults
        path = urlsplit(self.path).path
        if path == "/fhir/metadata" and "shape" in faults:
            self._send(200, {"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2", "rest": ["server"]})
        elif path == "/fhir/metadata":
            token = "https://elsewhere.example/token" if "metadata" in faults else f"{base}/oauth2/token"
            self._send(200, {"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2", "rest": [{
                "mode": "server", "security": {"extension": [{"url": OAUTH_URIS_EXTENSION, "extension": [
                    {"url": "token", "valueUri": token}]}]}}]}, "application/fhir+json")
        elif path == "/fhir/.well-known/smart-configuration":
            self._send(200, {"token_endpoint": f"{base}/oauth2/token", "jwks_uri": f"{base}/oauth2/jwks"})
        elif path == f"/manage/routes/{TENANT}":
            if self.headers.get("x-functions-key") != KEY:
                self._send(401, {"title": "Unauthorized"}, "application/problem+json")
            elif self.server.admin_token and self.headers.get("Authorization") != f"Bearer {self.server.admin_token}":
                self._send(401, {"title": "Unauthorized"}, "application/problem+json")
            else:
                self._send(200, {"tenantId": TENANT, "fhirBaseUrl": "https://provider.example/fhir"})
        elif path.startswith("/fhir/Patient"):
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]})
            elif path == "/fhir/Patient":
                self._send(200, {"resourceType": "Bundle", "type": "searchset", "entry": []})
            else:
                self._send(200, {"resourceType": "Patient", "id": path.rsplit("/", 1)[-1]})
        else:
            self._send(404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})

    def do_POST(self) -> None:  # noqa: N802
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        good = (form.get("grant_type") == ["client_credentials"] and form.get("client_id") == [CLIENT_ID]
                and form.get("client_secret") == [SECRET] and form.get("scope") == [TENANT])
        if not good:
            self._send(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        else:
            self._send(200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def run(base_url: str, *extra: str, secret: str = SECRET, environ: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    argv = ["--base-url", base_url, "--client-id", CLIENT_ID, "--client-secret", secret, "--tenant", TENANT, *extra]
    code = main(argv, environ={} if environ is None else environ, out=out)
    return code, out.getvalue()


def verdicts(output: str) -> dict[str, str]:
    return {line.split(" ", 2)[1].rstrip(":"): line.split(" ", 1)[0] for line in output.splitlines()}


def test_all_steps_pass(stand_in: StandIn):
    code, output = run(stand_in.base_url, "--function-key", KEY, "--patient-id", "p1")
    assert code == 0, output
    assert verdicts(output) == {"metadata": "PASS", "smart-configuration": "PASS", "token": "PASS",
                                "admin-route": "PASS", "proxied-read": "PASS", "summary": "PASS"}
    assert "GET /fhir/Patient/p1 -> Patient" in output


def test_search_without_patient_id_and_skip_without_key(stand_in: StandIn):
    code, output = run(stand_in.base_url)
    assert code == 0, output
    assert verdicts(output)["admin-route"] == "SKIP"
    assert "GET /fhir/Patient?_count=1 -> Bundle" in output


def test_wrong_secret_fails_clearly_and_never_prints_secrets(stand_in: StandIn):
    code, output = run(stand_in.base_url, "--function-key", KEY, secret=SECRET + "x")
    assert code == 1
    lines = verdicts(output)
    assert lines["token"] == "FAIL" and lines["proxied-read"] == "FAIL" and lines["summary"] == "FAIL"
    assert "FAIL token: HTTP 401 error=invalid_client" in output
    assert "no access token" in output
    for secret in (SECRET, TOKEN, KEY):
        assert secret not in output


def test_wrong_token_url_in_metadata_fails_that_step(stand_in: StandIn):
    stand_in.faults.add("metadata")
    code, output = run(stand_in.base_url)
    assert code == 1
    assert "FAIL metadata: token URL is https://elsewhere.example/token, expected" in output
    assert verdicts(output)["token"] == "PASS"


def test_wrong_function_key_fails_the_admin_step(stand_in: StandIn):
    code, output = run(stand_in.base_url, "--function-key", "wrong")
    assert code == 1
    assert "FAIL admin-route: HTTP 401, expected 200" in output


def test_unreachable_gateway_fails_every_step():
    code, output = run("http://127.0.0.1:9")
    assert code == 1
    assert all(verdict in ("FAIL", "SKIP") for verdict in verdicts(output).values())
    assert "no answer from http://127.0.0.1:9" in output


def test_options_come_from_the_environment(stand_in: StandIn):
    out = io.StringIO()
    environ = {"SMOKE_BASE_URL": stand_in.base_url, "SMOKE_CLIENT_ID": CLIENT_ID, "SMOKE_CLIENT_SECRET": SECRET,
               "SMOKE_TENANT": TENANT, "SMOKE_FUNCTION_KEY": KEY, "SMOKE_PATIENT_ID": "p2"}
    assert main([], environ=environ, out=out) == 0, out.getvalue()
    assert "GET /fhir/Patient/p2 -> Patient" in out.getvalue()


def test_missing_options_are_a_usage_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["--base-url", "http://127.0.0.1:9"], environ={})
    assert exit_info.value.code == 2
    assert "--client-id, --client-secret, --tenant" in capsys.readouterr().err


def test_a_document_of_the_wrong_shape_fails_its_step_without_a_traceback(stand_in: StandIn):
    stand_in.faults.add("shape")
    code, output = run(stand_in.base_url)
    assert code == 1
    assert "FAIL metadata: unexpected response (AttributeError)" in output
    assert "Traceback" not in output


def test_an_admin_api_that_verifies_entra_tokens_gets_the_admin_token(stand_in: StandIn):
    stand_in.admin_token = "entra-access-token-that-must-never-be-printed"
    code, output = run(stand_in.base_url, "--function-key", KEY)
    assert code == 1 and "FAIL admin-route: HTTP 401, expected 200" in output
    code, output = run(stand_in.base_url, "--function-key", KEY, environ={"SMOKE_ADMIN_TOKEN": stand_in.admin_token})
    assert code == 0, output
    assert verdicts(output)["admin-route"] == "PASS" and stand_in.admin_token not in output
