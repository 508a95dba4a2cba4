"""devtools/azurite.py: Azurite's Table service from node_modules, as a library and as `python -m devtools.azurite`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from devtools.azurite import (
    ACCOUNT_NAME,
    ROOT,
    AzuriteError,
    AzuriteProcess,
    connection_string,
    ensure_installed,
    free_port,
    port_answers,
)

pytestmark = pytest.mark.integration


def test_connection_string_is_the_well_known_account_on_loopback() -> None:
    value = connection_string(10002)
    assert f"AccountName={ACCOUNT_NAME};" in value
    assert value.endswith("TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;")


def test_a_missing_install_is_reported_with_the_command_to_run(tmp_path: Path) -> None:
    with pytest.raises(AzuriteError, match="npm ci"):
        ensure_installed(tmp_path, install=False)


def test_the_project_pins_azurite() -> None:
    assert '"azurite": "3.' in (ROOT / "package.json").read_text()
    assert ensure_installed(ROOT, install=False).name == "azurite-table"


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        azurite = AzuriteProcess(busy.getsockname()[1], tmp_path)
        with pytest.raises(AzuriteError, match="already in use"):
            azurite.start()
        assert not azurite.running


def test_start_stop_start_keeps_the_data_on_the_same_port(tmp_path: Path) -> None:
    azurite = AzuriteProcess(free_port(), tmp_path / "data")
    with azurite:
        with TableServiceClient.from_connection_string(azurite.connection_string) as service:
            service.create_table("kept").create_entity({"PartitionKey": "p", "RowKey": "r", "Value": 42})
        azurite.stop()
        assert not azurite.running and not port_answers("127.0.0.1", azurite.port)
        azurite.start()
        with TableServiceClient.from_connection_string(azurite.connection_string) as service:
            assert service.get_table_client("kept").get_entity("p", "r")["Value"] == 42
    assert not azurite.running
    azurite.stop()  # idempotent


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "devtools.azurite", "--port", str(port), "--location",
                                str(tmp_path / "cli")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_the_command_line_serves_until_sigterm(cli: tuple[subprocess.Popen[str], int]) -> None:
    process, port = cli
    first = process.stdout.readline()
    assert f"http://127.0.0.1:{port}/devstoreaccount1" in first
    assert process.stdout.readline().strip() == f"TABLES_CONNECTION_STRING={connection_string(port)}"
    with TableServiceClient.from_connection_string(connection_string(port)) as service:
        service.create_table("fromcli")
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    assert not port_answers("127.0.0.1", port)


def test_without_node_on_path_the_error_says_to_install_node(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "devtools.azurite", "--port", str(free_port()), "--location",
                             str(tmp_path)], cwd=ROOT, env={"PATH": str(tmp_path)}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "node is not on PATH" in result.stderr and "Traceback" not in result.stderr
