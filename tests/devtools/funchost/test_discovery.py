"""Finding function folders and loading them as the Functions host and Python worker do."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from devtools.funchost.discovery import (
    RESERVED_ROUTE_MESSAGE,
    FunctionDef,
    HostConfigError,
    HttpLimits,
    discover,
    read_function_timeout,
    read_http_limits,
    read_route_prefix,
)
from tests.fixtures.funchost import load_in_process

SAMPLE = Path(__file__).resolve().parent / "sample_app"
REPO_ROOT = Path(__file__).resolve().parents[3]


def make_app(tmp_path: Path, functions: dict[str, dict], host: dict | None = None) -> Path:
    (tmp_path / "host.json").write_text(json.dumps(host or {"version": "2.0"}))
    for name, trigger in functions.items():
        folder = tmp_path / name
        folder.mkdir()
        bindings = [{"type": "httpTrigger", "direction": "in", "name": "req", **trigger},
                    {"type": "http", "direction": "out", "name": "$return"}]
        (folder / "function.json").write_text(json.dumps({"bindings": bindings}))
        (folder / "__init__.py").write_text("def main(req):\n    return 'ok'\n")
    return tmp_path


def by_name(functions: list[FunctionDef]) -> dict[str, FunctionDef]:
    return {f.name: f for f in functions}


def test_sample_app_functions_and_their_bindings() -> None:
    prefix, functions = discover(SAMPLE, {})
    found = by_name(functions)
    assert prefix == "api"
    assert "timer_only" not in found and "shared_code" not in found  # not HTTP / not a function
    assert found["keyed"].auth_level == "function"  # the default authLevel
    assert found["noroute"].template is not None and found["noroute"].template.text == "api/noroute"
    assert found["files_wildcard"].methods is None
    assert found["echo_async"].methods == frozenset({"GET", "POST", "HEAD"})
    assert found["files_special"].output_name == "res"


def test_reserved_routes_are_refused_with_the_hosts_message(tmp_path: Path) -> None:
    app = make_app(tmp_path, {"a": {"route": "admin/things"}, "b": {"route": "/Runtime/x"},
                              "administrator": {}, "c": {"route": "manage/{*path}"},
                              "d": {"route": "x/admin"}})
    found = by_name(discover(app, {})[1])
    for name in ("a", "b", "administrator"):  # no route: the function name is the route
        assert found[name].error == RESERVED_ROUTE_MESSAGE and found[name].template is None
    assert found["c"].error is None and found["d"].error is None


def test_the_reserved_check_ignores_the_route_prefix(tmp_path: Path) -> None:
    app = make_app(tmp_path, {"a": {"route": "admin/x"}}, {"version": "2.0"})
    assert discover(app, {})[1][0].error == RESERVED_ROUTE_MESSAGE  # although its URL is /api/admin/x


def test_invalid_templates_names_and_auth_levels_are_in_error(tmp_path: Path) -> None:
    app = make_app(tmp_path, {"bad_route": {"route": "x/{*a}/y"}, "bad_auth": {"authLevel": "system"},
                              "1bad": {"route": "ok"}})
    found = by_name(discover(app, {})[1])
    assert "catch-all" in (found["bad_route"].error or "")
    assert "authLevel" in (found["bad_auth"].error or "")
    assert "not a valid function name" in (found["1bad"].error or "")


def test_skipped_folders_and_non_functions(tmp_path: Path) -> None:
    app = make_app(tmp_path, {"tests": {}, ".hidden": {}, "node_modules": {}, "real": {}})
    (tmp_path / "not_a_function").mkdir()
    assert [f.name for f in discover(app, {})[1]] == ["real"]


def test_disabled_by_function_json_or_app_setting(tmp_path: Path) -> None:
    app = make_app(tmp_path, {"off": {}, "on": {}})
    document = json.loads((app / "off" / "function.json").read_text())
    (app / "off" / "function.json").write_text(json.dumps({**document, "disabled": True}))
    found = by_name(discover(app, {"AzureWebJobs.on.Disabled": "true"})[1])
    assert found["off"].disabled and found["on"].disabled


def test_route_prefix_default_and_empty(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    assert read_route_prefix(tmp_path) == "api"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    assert read_route_prefix(tmp_path) == ""


@pytest.mark.parametrize("content", [None, "{", json.dumps({"version": "1.0"})])
def test_missing_or_invalid_host_json_stops_the_host(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "host.json").write_text(content)
    with pytest.raises(HostConfigError):
        discover(tmp_path, {})


def test_invalid_function_json_is_in_error(tmp_path: Path) -> None:
    make_app(tmp_path, {})
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "function.json").write_text("{ nope")
    assert "function.json is invalid" in (discover(tmp_path, {})[1][0].error or "")


def test_repository_function_folders_are_all_served() -> None:
    prefix, functions = discover(REPO_ROOT, {})
    found = by_name(functions)
    assert prefix == ""
    assert {"admin_fn", "fhir_proxy_fn", "fhir_metadata_fn", "token_fn"} <= set(found)
    assert all(f.error is None for f in functions), [(f.name, f.error) for f in functions if f.error]
    assert found["admin_fn"].auth_level == "function"


def test_the_runtime_loads_each_folder_and_reports_what_it_cannot(tmp_path: Path) -> None:
    """Folder names are unique to this test: the runtime has one ``__app__`` package per process."""
    tag = uuid.uuid4().hex[:8]
    ok, rel, wrong, noentry, missing = (f"{name}_{tag}" for name in ("ok", "rel", "wrong", "noentry", "missing"))
    app = make_app(tmp_path, {ok: {}, rel: {}, wrong: {}, noentry: {}, missing: {}})
    (app / ok / "__init__.py").write_text("async def main(req):\n    return 'ok'\n")
    (app / rel / "texts.py").write_text("TEXT = 'relative'\n")
    (app / rel / "__init__.py").write_text("from . import texts\n\n\ndef main(req):\n    return texts.TEXT\n")
    (app / wrong / "__init__.py").write_text("def main(request):\n    return 'x'\n")
    (app / noentry / "__init__.py").write_text("def run(req):\n    return 'x'\n")
    (app / missing / "__init__.py").write_text("import module_that_does_not_exist\n\n\ndef main(req):\n"
                                               "    return 'x'\n")
    found = load_in_process(app)
    assert found[ok].error is None and found[ok].function_id is not None
    assert found[rel].error is None and found[rel].function_id is not None  # the folder is a package
    assert f"__app__.{rel}.texts" in sys.modules  # imported as the worker names it
    assert "request" in (found[wrong].error or "") and found[wrong].function_id is None
    assert "is not present" in (found[noentry].error or "") and "'main'" in (found[noentry].error or "")
    assert "ModuleNotFoundError" in (found[missing].error or "") and found[missing].function_id is None


def test_http_throttles_from_host_json(tmp_path: Path) -> None:
    assert read_http_limits(REPO_ROOT) == HttpLimits(200, 400)
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    assert read_http_limits(tmp_path) == HttpLimits(-1, -1)
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {
        "maxOutstandingRequests": 0}}}))
    with pytest.raises(HostConfigError, match="maxOutstandingRequests"):
        read_http_limits(tmp_path)


@pytest.mark.parametrize(("value", "seconds"), [
    ("00:02:00", 120.0), ("1.00:00:00", 86400.0), ("00:00:01.5", 1.5), ("-1", None), (None, 300.0)])
def test_function_timeout_from_host_json(tmp_path: Path, value: str | None, seconds: float | None) -> None:
    document = {"version": "2.0"} if value is None else {"version": "2.0", "functionTimeout": value}
    (tmp_path / "host.json").write_text(json.dumps(document))
    assert read_function_timeout(tmp_path) == seconds


def test_invalid_function_timeout_stops_the_host(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "functionTimeout": "2 minutes"}))
    with pytest.raises(HostConfigError, match="functionTimeout"):
        read_function_timeout(tmp_path)
