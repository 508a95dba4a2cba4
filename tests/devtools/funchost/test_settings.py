"""local.settings.json loading as Core Tools does it: the environment wins, names only in reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.funchost.settings import SettingsError, load_local_settings


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_values_fill_the_environment_but_never_override_it(tmp_path: Path) -> None:
    path = write(tmp_path, {"IsEncrypted": False, "Values": {"A": "from-file", "B": "from-file"}})
    environ = {"B": "from-env"}
    loaded = load_local_settings(path, environ)
    assert environ == {"A": "from-file", "B": "from-env"}
    assert loaded.applied == ("A",) and loaded.overridden == ("B",)


def test_report_names_settings_but_never_values(tmp_path: Path) -> None:
    path = write(tmp_path, {"Values": {"LOCAL_FUNCTION_KEY": "s3cret-value", "X": "1"}})
    text = load_local_settings(path, {"X": "other-secret"}).describe()
    assert "X" in text and "s3cret-value" not in text and "other-secret" not in text


def test_missing_file_changes_nothing_and_says_so(tmp_path: Path) -> None:
    environ = {"A": "1"}
    loaded = load_local_settings(tmp_path / "local.settings.json", environ)
    assert environ == {"A": "1"} and not loaded.found
    assert "environment only" in loaded.describe()
    assert "environment only" in load_local_settings(None, environ).describe()


def test_non_string_scalars_become_text(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    load_local_settings(write(tmp_path, {"Values": {"N": 3600, "B": True, "E": None}}), environ)
    assert environ == {"N": "3600", "B": "true", "E": ""}


def test_local_http_port(tmp_path: Path) -> None:
    path = write(tmp_path, {"Values": {}, "Host": {"LocalHttpPort": 7072}})
    assert load_local_settings(path, {}).local_http_port == 7072


@pytest.mark.parametrize(("document", "message"), [
    ({"Values": {"A": {"nested": 1}}}, "Values.A"),
    ({"Values": ["A"]}, "Values"),
    ({"IsEncrypted": True, "Values": {}}, "IsEncrypted"),
    ({"Values": {}, "Host": {"LocalHttpPort": "x"}}, "LocalHttpPort"),
    (["not", "an", "object"], "top level"),
])
def test_unusable_files_are_refused_with_the_reason_and_change_nothing(
        tmp_path: Path, document: object, message: str) -> None:
    environ = {"KEEP": "1"}
    with pytest.raises(SettingsError, match=message):
        load_local_settings(write(tmp_path, document), environ)
    assert environ == {"KEEP": "1"}


def test_invalid_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text("{ not json", encoding="utf-8")
    with pytest.raises(SettingsError, match="JSON"):
        load_local_settings(path, {})


def test_repository_sample_settings_load(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[3] / "local.settings.sample.json"
    environ: dict[str, str] = {}
    loaded = load_local_settings(sample, environ)
    assert loaded.found and environ["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert loaded.local_http_port == 7071
