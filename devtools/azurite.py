"""Azurite's Table service for development and tests, from the project's node_modules.

Azurite (https://github.com/Azure/Azurite) is Microsoft's storage emulator; the
version is pinned in package.json / package-lock.json. This module starts
``node_modules/.bin/azurite-table`` on loopback with its data under a folder
(default ``.local/azurite``, git-ignored), waits until the port answers, and
stops it again. Use it as a library::

    with AzuriteProcess(port=10002, location=Path(".local/azurite")) as azurite:
        print(azurite.connection_string)

or from the command line (``make run`` does): ``python -m devtools.azurite --port 10002``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 10002
DEFAULT_LOCATION = ROOT / ".local" / "azurite"
LOG_NAME = "azurite-table.log"

# The well-known development account of Azurite (documented, not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteError(RuntimeError):
    """Azurite could not be installed, started or reached; the message says why (with its output)."""


def connection_string(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> str:
    """Connection string of Azurite's well-known account with the Table endpoint on ``host:port``."""
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint=http://{host}:{port}/{ACCOUNT_NAME};")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def create_gateway_tables(connection_string: str, prefix: str) -> tuple[str, ...]:
    """Create the gateway's tables for ``prefix`` where missing (what the Bicep template does in Azure; workers
    never create tables): for fixtures that are not inside an event loop. Returns the names."""
    from azure.data.tables import TableServiceClient

    from gateway.stores.tables.names import TableNames

    names = TableNames.for_prefix(prefix).all()
    with TableServiceClient.from_connection_string(connection_string) as service:
        for name in names:
            service.create_table_if_not_exists(name)
    return names


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_installed(root: Path = ROOT, *, install: bool = True) -> Path:
    """Path of ``azurite-table`` under ``root/node_modules``; runs ``npm ci`` first when it is missing."""
    if shutil.which("node") is None:
        raise AzuriteError("node is not on PATH: install Node.js 18 or later (Azurite runs on it)")
    executable = root / "node_modules" / ".bin" / "azurite-table"
    if executable.exists():
        return executable
    if not install:
        raise AzuriteError(f"{executable} is missing: run `npm ci` in {root}")
    npm = shutil.which("npm")
    if npm is None:
        raise AzuriteError("npm is not on PATH: install Node.js with npm to get Azurite (`npm ci`)")
    print(f"installing Azurite with `npm ci` in {root} ...", file=sys.stderr, flush=True)
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=root, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0 or not executable.exists():
        raise AzuriteError(f"`npm ci` failed (exit {result.returncode}):\n{result.stdout[-2000:]}"
                           f"{result.stderr[-2000:]}")
    return executable


class AzuriteProcess:
    """One Azurite Table service process on ``host:port`` with its data in ``location``.

    ``start()`` waits until the port answers (or raises :class:`AzuriteError`
    with Azurite's output); ``stop()`` ends it gracefully so that its data is
    saved, and a later ``start()`` serves the same data on the same port.
    """

    def __init__(self, port: int = DEFAULT_PORT, location: Path | str = DEFAULT_LOCATION, *,
                 host: str = "127.0.0.1", root: Path = ROOT, in_memory: bool = False) -> None:
        self.port = port
        self.host = host
        self.location = Path(location)
        self.root = root
        self.in_memory = in_memory
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def connection_string(self) -> str:
        return connection_string(self.port, self.host)

    @property
    def table_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def log_path(self) -> Path:
        return self.location / LOG_NAME

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self, executable: Path) -> list[str]:
        args = [str(executable), "--tableHost", self.host, "--tablePort", str(self.port),
                "--skipApiVersionCheck", "--disableProductStyleUrl", "--disableTelemetry", "--loose", "--silent"]
        # Azurite refuses --location together with --inMemoryPersistence (its log still goes to ``location``).
        args += ["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.location)]
        return args

    def start(self, timeout: float = 30.0) -> AzuriteProcess:
        """Start Azurite and wait until it accepts connections."""
        with self._lock:
            if self.running:
                return self
            executable = ensure_installed(self.root)
            if port_answers(self.host, self.port):
                raise AzuriteError(f"port {self.host}:{self.port} is already in use; stop what listens there "
                                   "or choose another port")
            self.location.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    self.command(executable), cwd=self.location, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    self.process = None
                    raise AzuriteError(f"Azurite exited with code {code} at start:\n{self._log_tail()}")
                if port_answers(self.host, self.port):
                    return self
                time.sleep(0.05)
            self._terminate()
            raise AzuriteError(f"Azurite did not answer on {self.host}:{self.port} within {timeout:.0f} s:\n"
                               f"{self._log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Azurite (SIGINT, its graceful close that saves the data; SIGKILL after ``timeout``). Idempotent."""
        with self._lock:
            self._terminate(timeout)

    def _terminate(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            # Azurite's table main handles SIGINT only (closes the server and saves its LokiJS database).
            os.killpg(process.pid, signal.SIGINT)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        # The listening socket is gone once the process is; wait for the port to be free for a restart.
        deadline = time.monotonic() + timeout
        while port_answers(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:] or "(no output)"
        except OSError:
            return "(no output)"

    def __enter__(self) -> AzuriteProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Azurite's Table service on loopback until Ctrl-C/SIGTERM.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"table port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="listening address (default 127.0.0.1)")
    parser.add_argument("--location", type=Path, default=DEFAULT_LOCATION,
                        help="data folder (default .local/azurite)")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    azurite = AzuriteProcess(args.port, args.location, host=args.host)
    try:
        azurite.start()
    except AzuriteError as error:
        print(f"azurite: {error}", file=sys.stderr)
        return 1
    print(f"Azurite Table service on {azurite.table_endpoint} (data in {azurite.location})", flush=True)
    print(f"TABLES_CONNECTION_STRING={azurite.connection_string}", flush=True)
    try:
        while not stopping.is_set():
            if not azurite.running:
                print(f"azurite: exited unexpectedly:\n{azurite._log_tail()}", file=sys.stderr)
                return 1
            stopping.wait(0.5)
    finally:
        azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
