"""`make run`: the whole gateway on this machine, with everything it needs.

Starts Azurite (Table Storage), the Key Vault emulator, the demo provider FHIR
server, a second demo provider in SMART Backend Services mode (it trusts the
gateway's ``/oauth2/provider-jwks``) and the local Functions host serving the
function folders; seeds three demo tenant routes (the second a ``privateKeyJwt``
route to the Backend Services provider, the third an R4 route that DSTU2 and STU3
clients read through the version bridge) and a demo client through the admin
operations; prints the URLs, the demo credentials and a copy-paste walk-through. Ctrl-C or SIGTERM
stops every process it started; ``python -m devtools.run --stop`` (``make
stop``) does the same from another shell.

Settings come from ``local.settings.json`` (copied from the sample when
missing); a variable already set in the environment wins, as with Core Tools.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
# Overridable so that tests can run a second, isolated stack beside a developer's.
STATE_DIR = Path(os.environ.get("LOCAL_STATE_DIR", ROOT / ".local")).resolve()
PID_FILE = STATE_DIR / "run.pids"
DEMO_FILE = STATE_DIR / "demo-client.json"
DEMO_TENANT = "de000000-0000-4000-8000-0000000000d1"
DEMO_PATIENT = "demo-patient-1"
DEMO_PROVIDER_PORT = int(os.environ.get("DEMO_PROVIDER_PORT", "8081"))
DEMO_BACKEND_TENANT = "de000000-0000-4000-8000-0000000000d2"
DEMO_BRIDGED_TENANT = "de000000-0000-4000-8000-0000000000d3"
DEMO_BACKEND_PROVIDER_PORT = int(os.environ.get("DEMO_BACKEND_PROVIDER_PORT", "8082"))
# Lifetime of the Backend Services provider's tokens: short, so that the gateway signs an assertion often.
DEMO_BACKEND_TOKEN_LIFETIME = os.environ.get("DEMO_BACKEND_TOKEN_LIFETIME", "300")


@dataclass
class Service:
    name: str
    args: list[str]
    port: int
    process: subprocess.Popen | None = None


def load_local_settings() -> dict[str, str]:
    """local.settings.json Values under the environment (the environment wins, as with Core Tools)."""
    path = ROOT / "local.settings.json"
    if not path.exists():
        shutil.copyfile(ROOT / "local.settings.sample.json", path)
        print(f"created {path.name} from local.settings.sample.json")
    values = {k: str(v) for k, v in json.loads(path.read_text())["Values"].items()}
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return {k: os.environ[k] for k in values}


def public_base(values: dict[str, str]) -> str:
    return values.get("PUBLIC_BASE_URL", "http://localhost:7071").rstrip("/")


def port_of(url: str, default: int) -> int:
    return urlsplit(url).port or default


def wait_for_port(service: Service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process is not None and service.process.poll() is not None:
            raise SystemExit(f"{service.name} exited with code {service.process.returncode}; see its output above")
        try:
            with socket.create_connection(("127.0.0.1", service.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{service.name} did not start listening on port {service.port} within {timeout:.0f}s")


def ensure_port_free(service: Service) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", service.port)) == 0:
            raise SystemExit(f"port {service.port} ({service.name}) is already in use: is `make run` already "
                             f"running? Stop it with `make stop`.")


def start(service: Service) -> None:
    ensure_port_free(service)
    service.process = subprocess.Popen([sys.executable, *service.args], cwd=ROOT, env=os.environ.copy(),
                                       start_new_session=True)
    wait_for_port(service)
    print(f"  {service.name:<16} listening on 127.0.0.1:{service.port}")


def stop_all(services: list[Service]) -> None:
    for service in reversed(services):
        proc = service.process
        if proc is not None and proc.poll() is None:
            proc.terminate()
    for service in reversed(services):
        proc = service.process
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    PID_FILE.unlink(missing_ok=True)


def write_pid_file(services: list[Service]) -> None:
    """Record this process (which `make stop` signals) and its children (killed only if it is gone)."""
    children = [s.process.pid for s in services if s.process is not None]
    PID_FILE.write_text(json.dumps({"run": os.getpid(), "children": children}))


def stop_from_pid_file(timeout: float = 20.0) -> int:
    """Ask a running `make run` to stop (SIGTERM), as Ctrl-C would; clean up its children if it died."""
    if not PID_FILE.exists():
        print("nothing to stop")
        return 0
    state = json.loads(PID_FILE.read_text())
    try:
        os.kill(state["run"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(state["run"], 0)
            time.sleep(0.2)
    except ProcessLookupError:
        pass
    for pid in state.get("children", []):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue
    PID_FILE.unlink(missing_ok=True)
    print("stopped")
    return 0


async def seed(settings_values: dict[str, str]) -> dict[str, str]:
    """Create (or reuse) the demo route and client through the admin operations."""
    from devtools.seed import seed_demo

    return await seed_demo(DEMO_TENANT, f"http://127.0.0.1:{DEMO_PROVIDER_PORT}", DEMO_FILE,
                           backend_tenant=DEMO_BACKEND_TENANT,
                           backend_provider_root=f"http://127.0.0.1:{DEMO_BACKEND_PROVIDER_PORT}",
                           bridged_tenant=DEMO_BRIDGED_TENANT)


def walkthrough(settings_values: dict[str, str], demo: dict[str, str]) -> str:
    base = settings_values.get("PUBLIC_BASE_URL", "http://localhost:7071").rstrip("/")
    key = settings_values.get("LOCAL_FUNCTION_KEY", "")
    version = settings_values.get("FHIR_VERSION", "STU3").upper()
    return f"""
Interop partner gateway is running ({version}).
  FHIR base      {base}/fhir
  Metadata       {base}/fhir/metadata
  Token URL      {base}/oauth2/token
  Admin API      {base}/manage/  (x-functions-key: {key})
  Demo tenant    {demo['tenant']}
  Backend tenant {demo['backend_tenant']}   (SMART Backend Services provider, privateKeyJwt route)
  Bridged tenant {demo['bridged_tenant']}   (an R4 route: DSTU2 and STU3 clients converted)
  Version bases  {base}/fhir/DSTU2  {base}/fhir/STU3  {base}/fhir/R4   (each with its metadata)
  Demo client    {demo['client_id']}
  Demo secret    {demo['client_secret']}   (local demo only; stored in .local/demo-client.json)

Walk-through:
  curl -s {base}/fhir/metadata | head -c 600; echo
  TOKEN=$(curl -s -X POST {base}/oauth2/token \\
      -d grant_type=client_credentials -d client_id={demo['client_id']} \\
      --data-urlencode client_secret='{demo['client_secret']}' -d scope={demo['tenant']} \\
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" {base}/fhir/Patient/{DEMO_PATIENT}; echo
  curl -s -H "Authorization: Bearer $TOKEN" -X POST {base}/fhir/Patient/_search \\
      -H 'Content-Type: application/x-www-form-urlencoded' -d 'name:contains=a&_count=2'; echo
  .venv/bin/python -m gateway.cli --base-url {base} --key {key} clients list

SMART Backend Services (the gateway signs assertions with its Key Vault key; the provider on port
{DEMO_BACKEND_PROVIDER_PORT} fetches the public keys from the gateway):
  curl -s {base}/oauth2/provider-jwks; echo
  TOKEN2=$(curl -s -X POST {base}/oauth2/token \
      -d grant_type=client_credentials -d client_id={demo['client_id']} \
      --data-urlencode client_secret='{demo['client_secret']}' -d scope={demo['backend_tenant']} \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN2" {base}/fhir/Patient/{DEMO_PATIENT}; echo
  .venv/bin/python -m gateway.cli --base-url {base} --key {key} provider-keys list
  .venv/bin/python -m gateway.cli --base-url {base} --key {key} provider-keys rotate gateway-rs384

FHIR version bridge (the bridged tenant's provider serves R4; an STU3 or DSTU2 client reads it converted, field by
field, on its own base; the R4 base passes the provider's answer through; writes are refused on a bridged base):
  TOKEN3=$(curl -s -X POST {base}/oauth2/token \
      -d grant_type=client_credentials -d client_id={demo['client_id']} \
      --data-urlencode client_secret='{demo['client_secret']}' -d scope={demo['bridged_tenant']} \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s {base}/fhir/STU3/metadata | head -c 300; echo
  curl -s -H "Authorization: Bearer $TOKEN3" "{base}/fhir/STU3/AllergyIntolerance?patient={DEMO_PATIENT}"; echo
  curl -s -H "Authorization: Bearer $TOKEN3" "{base}/fhir/R4/AllergyIntolerance?patient={DEMO_PATIENT}"; echo
  curl -s -H "Authorization: Bearer $TOKEN3" "{base}/fhir/DSTU2/MedicationOrder?patient={DEMO_PATIENT}&_count=2"; echo
  .venv/bin/python -m gateway.cli --base-url {base} --key {key} routes verify {demo['bridged_tenant']}

Ctrl-C (or `make stop` from another shell) stops everything.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stop", action="store_true", help="stop a running `make run` and exit")
    args = parser.parse_args(argv)
    if args.stop:
        return stop_from_pid_file()

    from devtools.seed import BACKEND_CLIENT_ID

    STATE_DIR.mkdir(parents=True, exist_ok=True)
    ca_bundle_given = "KEY_VAULT_CA_BUNDLE" in os.environ
    values = load_local_settings()
    if not ca_bundle_given:  # the emulator writes its certificate into the state folder
        os.environ["KEY_VAULT_CA_BUNDLE"] = values["KEY_VAULT_CA_BUNDLE"] = str(STATE_DIR / "keyvault" / "cert.pem")
    tables_port = port_of(values.get("TABLES_CONNECTION_STRING", "").split("TableEndpoint=")[-1].split(";")[0],
                          10002)
    vault_port = port_of(values.get("KEY_VAULT_URL", ""), 8443)
    host_port = port_of(values.get("PUBLIC_BASE_URL", ""), 7071)
    services = [
        Service("azurite", ["-m", "devtools.azurite", "--port", str(tables_port),
                            "--location", str(STATE_DIR / "azurite")], tables_port),
        Service("keyvault", ["-m", "devtools.keyvault_emulator", "--port", str(vault_port),
                             "--data-dir", str(STATE_DIR / "keyvault")], vault_port),
        Service("demo-provider", ["-m", "devtools.demo_provider", "--port", str(DEMO_PROVIDER_PORT)],
                DEMO_PROVIDER_PORT),
        Service("demo-provider-bsa", ["-m", "devtools.demo_provider", "--port", str(DEMO_BACKEND_PROVIDER_PORT),
                                      "--backend-client",
                                      f"{BACKEND_CLIENT_ID}={public_base(values)}/oauth2/provider-jwks",
                                      "--token-lifetime", DEMO_BACKEND_TOKEN_LIFETIME],
                DEMO_BACKEND_PROVIDER_PORT),
        Service("functions-host", ["-m", "devtools.funchost", "--root", str(ROOT), "--port", str(host_port)],
                host_port),
    ]

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("starting local services:")
        for service in services[:-1]:
            start(service)
            write_pid_file(services)
        demo = asyncio.run(seed(values))
        start(services[-1])
        write_pid_file(services)
        print(walkthrough(values, demo), flush=True)
        while all(s.process is not None and s.process.poll() is None for s in services):
            time.sleep(0.5)
        failed = [s.name for s in services if s.process is not None and s.process.poll() is not None]
        print(f"stopping: {', '.join(failed)} exited")
        return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        return 0
    finally:
        stop_all(services)


if __name__ == "__main__":
    sys.exit(main())
