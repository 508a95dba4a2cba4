"""`make run`'s SMART Backend Services tenant end to end: the local Functions host, the Key Vault emulator
(the assertion key lives there) and the demo provider in Backend Services mode, which fetches the gateway's
``/oauth2/provider-jwks``. A read through the second demo tenant works, and keeps working across a key
rotation through the admin API: the new version is published first and signs after the activation delay
(1 s JWKS max-age here), and the provider, meeting the new ``kid``, refetches the JWKS.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.test_make_run import RunProcess, ports_closed, run_env  # noqa: F401 - run_env is a fixture

pytestmark = pytest.mark.e2e


def backend_tenant(process: RunProcess) -> str:
    import re

    match = re.search(r"^\s+Backend tenant\s+(\S+)", process.output, re.MULTILINE)
    assert match, process.output
    return match.group(1)


def test_the_backend_services_tenant_reads_and_keeps_reading_across_a_rotation(run_env):  # noqa: F811
    env = {**run_env, "PROVIDER_JWKS_MAX_AGE_SECONDS": "1", "DEMO_BACKEND_TOKEN_LIFETIME": "1",
           "FHIR_VERSION": "STU3"}
    run = RunProcess(env)
    try:
        banner = run.wait_ready()
        tenant = backend_tenant(run)
        base = banner["fhir_base"].removesuffix("/fhir")
        admin = {"x-functions-key": env.get("LOCAL_FUNCTION_KEY") or _function_key(run)}
        token = requests.post(banner["token_url"], data={
            "grant_type": "client_credentials", "client_id": banner["client_id"],
            "client_secret": banner["secret"], "scope": tenant}, timeout=10)
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}

        def read() -> None:
            patient = requests.get(f"{banner['fhir_base']}/Patient/demo-patient-1", headers=bearer, timeout=15)
            assert patient.status_code == 200, patient.text
            assert patient.json()["id"] == "demo-patient-1"

        read()
        jwks = requests.get(f"{base}/oauth2/provider-jwks", timeout=10)
        assert jwks.status_code == 200 and jwks.headers["Cache-Control"] == "public, max-age=1"
        first = [k["kid"] for k in jwks.json()["keys"]]
        assert len(first) == 1 and not {"d", "p", "q"} & set(jwks.json()["keys"][0])

        rotated = requests.post(f"{base}/manage/provider-keys/gateway-rs384/rotate", headers=admin, timeout=15)
        assert rotated.status_code == 201, rotated.text
        new_kid = next(v["kid"] for v in rotated.json()["versions"] if v["status"] == "pending")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # reads keep working while the new version becomes the signer
            read()
            listed = requests.get(f"{base}/manage/provider-keys", headers=admin, timeout=10).json()["items"]
            statuses = {v["kid"]: v["status"] for k in listed for v in k["versions"]}
            if statuses.get(new_kid) == "active":
                break
            time.sleep(0.5)
        else:
            pytest.fail("the rotated key never became active")
        time.sleep(2.5)  # the provider token (1 s) expires: the next read needs an assertion by the new key
        for _ in range(3):
            read()
            time.sleep(1)
        assert {new_kid, *first} <= {k["kid"] for k in requests.get(f"{base}/oauth2/provider-jwks",
                                                                      timeout=10).json()["keys"]}
        audit = requests.get(f"{base}/manage/audit", headers=admin, timeout=10).json()["items"]
        assert any(r["action"] == "provider-key.rotate" and r["outcome"] == "success" for r in audit)
    finally:
        run.kill()
    assert ports_closed(run_env), "a service outlived make run"


def _function_key(run: RunProcess) -> str:
    import re

    match = re.search(r"x-functions-key: (\S+)\)", run.output)
    assert match, run.output
    return match.group(1)
