"""Smoke test of a running gateway (deployed, or ``make run`` locally).

    python -m devtools.smoke_test --base-url https://<app>.azurewebsites.net \\
        --function-key <key> --client-id <id> --client-secret <secret> --tenant <tenant GUID> [--patient-id <id>]

Every option can come from the environment instead (``SMOKE_BASE_URL``,
``SMOKE_FUNCTION_KEY``, ``SMOKE_CLIENT_ID``, ``SMOKE_CLIENT_SECRET``,
``SMOKE_TENANT``, ``SMOKE_PATIENT_ID``, ``SMOKE_ADMIN_TOKEN``); prefer it for the secret, which a
command line shows to other users of the machine.

Steps, one ``PASS``/``FAIL``/``SKIP`` line each, exit status 1 if any failed:

1. ``GET /fhir/metadata`` unauthenticated: ``fhirVersion`` present and the
   oauth-uris extension (SMART App Launch, ``rest.security``) names
   ``<base>/oauth2/token``.
2. ``GET /fhir/.well-known/smart-configuration``: ``token_endpoint`` is that
   URL and ``jwks_uri`` is present.
3. ``POST /oauth2/token``: client credentials grant (RFC 6749 §4.4) with
   ``client_secret_post`` (§2.3.1, as the Teams Patients app sends it) and
   ``scope=<tenant>``: ``access_token``, ``token_type`` Bearer, ``expires_in``.
4. ``GET /manage/routes/<tenant>`` with the function key (and, where the admin
   API verifies Entra ID tokens, ``--admin-token``: an access token for its
   audience, e.g. ``az account get-access-token --resource <audience>``): the
   tenant's route exists (skipped without a key).
5. One proxied read with the token (RFC 6750 §2.1): ``GET /fhir/Patient/<id>``,
   or ``GET /fhir/Patient?_count=1`` without a patient id.

Neither the client secret nor the access token is ever printed; failures
report the status and the error code, never a response body (it may carry PHI).
Standard library only, so it runs wherever Python does.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote, urlencode

OAUTH_URIS_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
FHIR_ACCEPT = "application/fhir+json, application/json+fhir;q=0.9, application/json;q=0.8"
USER_AGENT = "gateway-smoke-test/1"

ENVIRONMENT = {
    "base_url": "SMOKE_BASE_URL",
    "function_key": "SMOKE_FUNCTION_KEY",
    "admin_token": "SMOKE_ADMIN_TOKEN",
    "client_id": "SMOKE_CLIENT_ID",
    "client_secret": "SMOKE_CLIENT_SECRET",
    "tenant": "SMOKE_TENANT",
    "patient_id": "SMOKE_PATIENT_ID",
}


class StepFailed(Exception):
    """A check did not hold; the message is the short reason printed after FAIL."""


class StepSkipped(Exception):
    """A check could not apply (no function key...); the message says why."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or StepFailed naming what came instead."""
        try:
            document = json.loads(self.body)
        except ValueError:
            raise StepFailed(f"HTTP {self.status}: the body is not JSON "
                             f"(Content-Type {self.headers.get('content-type', 'none')})") from None
        if not isinstance(document, dict):
            raise StepFailed(f"HTTP {self.status}: the body is JSON but not an object")
        return document


@dataclass
class SmokeTest:
    """The five checks against one gateway; :meth:`run` prints one line per step."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    tenant: str
    function_key: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    patient_id: str | None = None
    timeout: float = 30.0
    ca_bundle: str | None = None
    out: TextIO = sys.stdout
    access_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        context = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else None
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoRedirect())

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    # ------------------------------------------------------------------ plumbing
    def _request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                 body: bytes | None = None) -> Reply:
        request = urllib.request.Request(f"{self.base_url}{path}", data=body, method=method,
                                         headers={"User-Agent": USER_AGENT, **(headers or {})})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Reply(response.status, _lower(response.headers), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, _lower(error.headers), error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise StepFailed(f"no answer from {self.base_url}: {reason}") from None

    # ------------------------------------------------------------------ steps
    def check_metadata(self) -> str:
        reply = self._request("GET", "/fhir/metadata", headers={"Accept": FHIR_ACCEPT})
        _expect_status(reply, 200)
        document = reply.json()
        if document.get("resourceType") not in ("CapabilityStatement", "Conformance"):
            raise StepFailed(f"resourceType is {document.get('resourceType')!r}, not CapabilityStatement/Conformance")
        version = document.get("fhirVersion")
        if not version:
            raise StepFailed("fhirVersion is missing")
        token = _oauth_uri(document, "token")
        if token is None:
            raise StepFailed("rest.security has no oauth-uris token URL")
        if token.rstrip("/") != self.token_url:
            raise StepFailed(f"token URL is {token}, expected {self.token_url}")
        return f"{document['resourceType']} fhirVersion {version}, token URL {token}"

    def check_smart_configuration(self) -> str:
        reply = self._request("GET", "/fhir/.well-known/smart-configuration", headers={"Accept": "application/json"})
        _expect_status(reply, 200)
        document = reply.json()
        endpoint = document.get("token_endpoint")
        if not endpoint:
            raise StepFailed("token_endpoint is missing")
        if endpoint.rstrip("/") != self.token_url:
            raise StepFailed(f"token_endpoint is {endpoint}, expected {self.token_url}")
        if not document.get("jwks_uri"):
            raise StepFailed("jwks_uri is missing")
        return f"token_endpoint and jwks_uri {document['jwks_uri']}"

    def check_token(self) -> str:
        form = urlencode({"grant_type": "client_credentials", "client_id": self.client_id,
                          "client_secret": self.client_secret, "scope": self.tenant}).encode()
        reply = self._request("POST", "/oauth2/token", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        if reply.status != 200:
            error = _field(reply, "error")
            raise StepFailed(f"HTTP {reply.status}" + (f" error={error}" if error else ""))
        document = reply.json()
        token = document.get("access_token")
        if not isinstance(token, str) or not token:
            raise StepFailed("access_token is missing")
        if str(document.get("token_type", "")).lower() != "bearer":
            raise StepFailed(f"token_type is {document.get('token_type')!r}, expected Bearer")
        expires_in = document.get("expires_in")
        if not isinstance(expires_in, int) or expires_in <= 0:
            raise StepFailed(f"expires_in is {expires_in!r}, expected a positive integer")
        self.access_token = token
        return f"Bearer token for tenant {self.tenant}, expires_in {expires_in}"

    def check_admin_route(self) -> str:
        if not self.function_key:
            raise StepSkipped("no function key given")
        headers = {"x-functions-key": self.function_key, "Accept": "application/json"}
        if self.admin_token:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        reply = self._request("GET", f"/manage/routes/{quote(self.tenant, safe='')}", headers=headers)
        if reply.status == 404:
            raise StepFailed(f"no route for tenant {self.tenant}")
        _expect_status(reply, 200)
        upstream = reply.json().get("fhirBaseUrl")
        return f"route for tenant {self.tenant}" + (f" -> {upstream}" if upstream else "")

    def check_proxied_read(self) -> str:
        if not self.access_token:
            raise StepFailed("not attempted: no access token (the token step failed)")
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": FHIR_ACCEPT}
        if self.patient_id:
            path, expected = f"/fhir/Patient/{quote(self.patient_id, safe='')}", "Patient"
        else:
            path, expected = "/fhir/Patient?_count=1", "Bundle"
        reply = self._request("GET", path, headers=headers)
        if reply.status != 200:
            raise StepFailed(f"GET {path}: HTTP {reply.status}{_outcome_code(reply)}")
        kind = reply.json().get("resourceType")
        if kind != expected:
            raise StepFailed(f"GET {path}: resourceType {kind!r}, expected {expected}")
        return f"GET {path} -> {kind}"

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("metadata", self.check_metadata),
            ("smart-configuration", self.check_smart_configuration),
            ("token", self.check_token),
            ("admin-route", self.check_admin_route),
            ("proxied-read", self.check_proxied_read),
        ]

    def run(self) -> bool:
        """Run every step (a failure does not stop the later ones); True when none failed."""
        ok = True
        for name, step in self.steps():
            try:
                detail = step()
            except StepSkipped as skipped:
                self._print("SKIP", name, str(skipped))
            except StepFailed as failed:
                ok = False
                self._print("FAIL", name, str(failed))
            except (AttributeError, KeyError, TypeError, ValueError) as error:  # a document of an unexpected shape
                ok = False
                self._print("FAIL", name, f"unexpected response ({type(error).__name__})")
            else:
                self._print("PASS", name, detail)
        self._print("PASS" if ok else "FAIL", "summary", "all checks passed" if ok else "at least one check failed")
        return ok

    def _print(self, verdict: str, name: str, detail: str) -> None:
        for secret in (self.client_secret, self.access_token, self.function_key, self.admin_token):
            if secret:
                detail = detail.replace(secret, "***")
        print(f"{verdict} {name}: {detail}", file=self.out, flush=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is reported as what it is, never followed with the credentials."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()} if headers else {}


def _expect_status(reply: Reply, status: int) -> None:
    if reply.status != status:
        raise StepFailed(f"HTTP {reply.status}, expected {status}{_outcome_code(reply)}")


def _field(reply: Reply, name: str) -> str | None:
    try:
        document = json.loads(reply.body)
    except ValueError:
        return None
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else None


def _outcome_code(reply: Reply) -> str:
    """`` (issue code x)`` of an OperationOutcome, or the OAuth ``error`` of a 401, else nothing."""
    try:
        document = json.loads(reply.body)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    issues = document.get("issue")
    if isinstance(issues, list) and issues and isinstance(issues[0], dict) and issues[0].get("code"):
        return f" (issue code {issues[0]['code']})"
    error = _field(reply, "error")
    return f" (error {error})" if error else ""


def _oauth_uri(document: Mapping[str, Any], name: str) -> str | None:
    """The ``name`` URI of the oauth-uris extension in ``rest[].security`` (SMART App Launch 1.0 §Conformance)."""
    for rest in document.get("rest") or []:
        for extension in ((rest.get("security") or {}).get("extension") or []):
            if extension.get("url") != OAUTH_URIS_EXTENSION:
                continue
            for inner in extension.get("extension") or []:
                if inner.get("url") == name:
                    return inner.get("valueUri") or inner.get("valueUrl")
    return None


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.smoke_test", description=__doc__.split("\n\n")[0],
                                     epilog="Every option also reads SMOKE_<OPTION> from the environment.")
    parser.add_argument("--base-url", help="public base URL of the gateway (SMOKE_BASE_URL)")
    parser.add_argument("--function-key",
                        help="function key for the admin API; that step is skipped without it (SMOKE_FUNCTION_KEY)")
    parser.add_argument("--admin-token",
                        help="Entra ID access token for the admin API where it checks them; prefer SMOKE_ADMIN_TOKEN")
    parser.add_argument("--client-id", help="client id of a test client (SMOKE_CLIENT_ID)")
    parser.add_argument("--client-secret", help="its secret; prefer SMOKE_CLIENT_SECRET")
    parser.add_argument("--tenant", help="tenant GUID the client may use, with a route (SMOKE_TENANT)")
    parser.add_argument("--patient-id",
                        help="Patient id to read; without it, a Patient search with _count=1 (SMOKE_PATIENT_ID)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("--ca-bundle", help="PEM file of CAs to trust (default: the system's)")
    args = parser.parse_args(argv)
    for attribute, variable in ENVIRONMENT.items():
        if not getattr(args, attribute) and environ.get(variable):
            setattr(args, attribute, environ[variable])
    missing = [f"--{name.replace('_', '-')}" for name in ("base_url", "client_id", "client_secret", "tenant")
               if not getattr(args, name)]
    if missing:
        parser.error(f"missing {', '.join(missing)} (or their SMOKE_* environment variables)")
    return args


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         out: TextIO | None = None) -> int:
    args = parse_args(argv, os.environ if environ is None else environ)
    smoke = SmokeTest(base_url=args.base_url, client_id=args.client_id, client_secret=args.client_secret,
                      tenant=args.tenant, function_key=args.function_key, admin_token=args.admin_token,
                      patient_id=args.patient_id,
                      timeout=args.timeout, ca_bundle=args.ca_bundle, out=out or sys.stdout)
    return 0 if smoke.run() else 1


if __name__ == "__main__":
    sys.exit(main())
