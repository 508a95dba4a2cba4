"""``python -m devtools.demo_provider``: ready line, real traffic, clean stop on SIGTERM/SIGINT, clear CLI errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "devtools.demo_provider", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def ready_url(proc: subprocess.Popen[str]) -> str:
    line = proc.stdout.readline()
    assert line.startswith("demo-provider ready http://127.0.0.1:"), line + proc.stderr.read()
    return line.split()[-1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_cleanly_on_signal(process, signum):
    proc = start("--port", "0")
    process.append(proc)
    url = ready_url(proc)
    with urllib.request.urlopen(f"{url}/stu3/Patient/demo-patient-1?gender=secret-value", timeout=10) as response:
        assert response.status == 200 and json.load(response)["id"] == "demo-patient-1"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "demo-provider stopped" in out
    assert "GET /stu3/Patient/demo-patient-1 200" in err and "secret-value" not in err  # no query values logged


def test_base_url_option_is_used_in_links(process):
    proc = start("--port", "0", "--quiet", "--base-url", "http://provider.test:9000")
    process.append(proc)
    url = ready_url(proc)
    with urllib.request.urlopen(f"{url}/dstu2/Coverage?patient=demo-patient-1", timeout=10) as response:
        bundle = json.load(response)
    assert bundle["entry"][0]["fullUrl"] == "http://provider.test:9000/dstu2/Coverage/demo-patient-1-cov-1"
    proc.terminate()
    proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_a_busy_port_is_a_clear_error(process):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = start("--port", str(busy.getsockname()[1]))
        process.append(proc)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "cannot listen on 127.0.0.1:" in err and "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--latency-ms", "-1"], "--latency-ms must not be negative"),
    (["--port", "70000"], "--port must be between 0 and 65535"),
    (["--base-url", "provider.test"], "--base-url must be an absolute http(s) URL"),
    (["--port", "eighty"], "invalid int value"),
])
def test_bad_options_are_refused(process, args, message):
    proc = start(*args)
    process.append(proc)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and message in err
