"""The gateway as it was before the proxy's hot path was split into stages and sped up, for before/after runs.

:func:`baseline_tree` extracts a commit's tree from the git history into a temporary directory (by default
the parent of the first commit whose ``gateway/proxy/forward.py`` has the self-rendering ``_Refused``; with
no such commit yet, ``HEAD``), and :class:`BaselineHost` runs the local Functions host from that tree, its
own ``gateway`` package first on ``sys.path`` (the working directory is the extracted tree), next to this
tree's host on the same Azurite and Key Vault emulator. The benchmarks interleave requests to both, so
both see the same machine state, and print the medians side by side.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.http_clients import stop_server

REPO = Path(__file__).resolve().parents[1]
MARKER_FILE = "gateway/proxy/forward.py"
MARKER = "class _Refused"
START_SECONDS = 60


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def baseline_commit(requested: str | None = None) -> str:
    """``requested``, else the parent of the first commit with the staged proxy, else ``HEAD`` (short hash)."""
    if requested:
        return _git("rev-parse", "--short", requested)
    introduced = _git("log", "--reverse", f"-S{MARKER}", "--format=%H", "--", MARKER_FILE).splitlines()
    return _git("rev-parse", "--short", f"{introduced[0]}^" if introduced else "HEAD")


def baseline_tree(commit: str) -> Path:
    """``commit``'s tree in a new temporary directory (the caller removes it)."""
    destination = Path(tempfile.mkdtemp(prefix="gateway-baseline-"))
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
    return destination


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BaselineHost:
    """A local Functions host serving the function folders of ``root`` with that tree's own ``gateway``."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "FUNCTIONS_WORKER_RUNTIME": "python",
                    "PYTHONPATH": str(root), **env}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> BaselineHost:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devtools.funchost", "--root", str(self.root), "--port", str(self.port),
             "--no-settings"], cwd=self.root, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SystemExit(f"the baseline host exited with {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.close()
        raise SystemExit("the baseline host did not start")

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_server(process)
