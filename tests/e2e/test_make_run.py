"""`make run` end to end: every service starts, the printed walk-through works, a second run reuses state.

Runs `python -m devtools.run` (what `make run` starts) on free ports with its own
state folder, so it never collides with a developer's running stack.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunProcess:
    """`devtools.run` in a subprocess, with its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", "devtools.run"], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 120) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ctrl-C (or `make stop`" in self.output:
                return self.banner()
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.kill()
        pytest.fail(f"make run did not become ready:\n{self.output[-4000:]}")

    def banner(self) -> dict[str, str]:
        fields = {}
        for key, label in (("tenant", "Demo tenant"), ("client_id", "Demo client"), ("secret", "Demo secret"),
                           ("fhir_base", "FHIR base"), ("token_url", "Token URL"), ("bridged", "Bridged tenant")):
            match = re.search(rf"^\s+{label}\s+(\S+)", self.output, re.MULTILINE)
            assert match, f"banner lacks {label}:\n{self.output}"
            fields[key] = match.group(1)
        return fields

    def kill(self) -> None:
        """Stop `make run` as Ctrl-C or `make stop` does, so that it stops every service it started (each runs
        in its own process group: a SIGKILL of this one would orphan them); SIGKILL only if it hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    ports = {name: free_port() for name in ("tables", "vault", "demo", "backend", "host")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update({
        "LOCAL_STATE_DIR": str(tmp_path / "state"),
        "DEMO_PROVIDER_PORT": str(ports["demo"]),
        "DEMO_BACKEND_PROVIDER_PORT": str(ports["backend"]),
        "PUBLIC_BASE_URL": f"http://localhost:{ports['host']}",
        "KEY_VAULT_URL": f"https://localhost:{ports['vault']}",
        "TABLES_CONNECTION_STRING": (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            f"TableEndpoint=http://127.0.0.1:{ports['tables']}/devstoreaccount1;"),
        "PORTS": ",".join(str(p) for p in ports.values()),
    })
    return env


def walk_through(banner: dict[str, str]) -> dict:
    """The printed walk-through: metadata, a token for the demo tenant, the demo patient through the gateway."""
    metadata = requests.get(f"{banner['fhir_base']}/metadata", timeout=10)
    assert metadata.status_code == 200
    token = requests.post(banner["token_url"], data={
        "grant_type": "client_credentials", "client_id": banner["client_id"],
        "client_secret": banner["secret"], "scope": banner["tenant"]}, timeout=10)
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    patient = requests.get(f"{banner['fhir_base']}/Patient/demo-patient-1", headers=bearer, timeout=10)
    assert patient.status_code == 200, patient.text
    assert patient.json()["id"] == "demo-patient-1"
    search = requests.post(f"{banner['fhir_base']}/Patient/_search", data="name:contains=a&_count=2",
                           headers={**bearer, "Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert search.status_code == 200
    next_links = [link["url"] for link in search.json()["link"] if link["relation"] == "next"]
    assert next_links and next_links[0].startswith(banner["fhir_base"])
    bridged_walk_through(banner)
    return metadata.json()


def bridged_walk_through(banner: dict[str, str]) -> None:
    """The walk-through's bridge: the bridged tenant's R4 allergies read by an STU3 client, converted (and valid
    STU3), and by an R4 client as the provider wrote them."""
    from tests.support.validators import validate_stu3

    token = requests.post(banner["token_url"], data={
        "grant_type": "client_credentials", "client_id": banner["client_id"],
        "client_secret": banner["secret"], "scope": banner["bridged"]}, timeout=10).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    stu3 = requests.get(f"{banner['fhir_base']}/STU3/AllergyIntolerance?patient=demo-patient-1", headers=bearer,
                        timeout=10)
    r4 = requests.get(f"{banner['fhir_base']}/R4/AllergyIntolerance?patient=demo-patient-1", headers=bearer,
                      timeout=10)
    assert stu3.status_code == r4.status_code == 200, stu3.text
    converted, original = stu3.json()["entry"][0]["resource"], r4.json()["entry"][0]["resource"]
    assert isinstance(converted["clinicalStatus"], str) and "coding" in original["clinicalStatus"]
    validate_stu3(stu3.json())


def ports_closed(env: dict[str, str]) -> bool:
    for port in env["PORTS"].split(","):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", int(port))) == 0:
                return False
    return True


def test_make_run_serves_the_walk_through_and_reuses_state(run_env):
    first = RunProcess({**run_env, "FHIR_VERSION": "DSTU2"})
    try:
        banner = first.wait_ready()
        metadata = walk_through(banner)
        assert metadata["resourceType"] == "Conformance" and metadata["fhirVersion"] == "1.0.2"
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(30) == 0
    finally:
        first.kill()
    assert ports_closed(run_env), "a service outlived make run"

    second = RunProcess({**run_env, "FHIR_VERSION": "R4"})
    try:
        again = second.wait_ready()
        assert (again["client_id"], again["secret"]) == (banner["client_id"], banner["secret"])
        metadata = walk_through(again)
        assert metadata["fhirVersion"] == "4.0.1"
        stop = subprocess.run([sys.executable, "-m", "devtools.run", "--stop"], cwd=ROOT, env=run_env,
                              capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert second.process.wait(30) == 0
    finally:
        second.kill()
    assert ports_closed(run_env)
