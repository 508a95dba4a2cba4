"""``python -m bench`` selects benchmarks and passes flags on; ``bench.load``'s flags stay bounded."""

from __future__ import annotations

import pytest

import bench.__main__ as entry
from bench.load import parse_args
from bench.load_workload import DATA_MIX, batch_bundle, data_request, percentile, tenant_id


@pytest.fixture
def calls(monkeypatch):
    seen: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(entry, "run", lambda name, args: seen.append((name, args)) or 0)
    return seen


def test_no_argument_runs_every_benchmark_in_order(calls):
    assert entry.main([]) == 0
    assert calls == [(name, []) for name in entry.BENCHMARKS]
    assert {"host_bench", "token_bench", "client_auth_timing", "client_assertion_bench", "proxy_bench", "hop_floor",
            "entry_bench", "cold_start", "telemetry_bench", "provider_assertion_bench", "response_policy",
            "http_clients", "table_stores", "scale_bench", "load", "scope_check_bench", "proxy_stages",
            "conversion_bench"} == set(entry.BENCHMARKS)


def test_load_alone_gets_its_flags(calls):
    assert entry.main(["load", "--quick", "--requests", "2000"]) == 0
    assert calls == [("load", ["--quick", "--requests", "2000"])]


def test_several_names_run_with_their_defaults(calls):
    assert entry.main(["token_bench", "load"]) == 0
    assert calls == [("token_bench", []), ("load", [])]


def test_unknown_benchmark_is_refused(calls, capsys):
    assert entry.main(["--quick"]) == 2
    assert entry.main(["nope"]) == 2
    assert calls == []
    assert "choose from" in capsys.readouterr().err


def test_load_defaults_are_the_issue_figures_and_quick_is_smaller():
    full = parse_args([])
    assert (full.requests, full.concurrency, full.tenants, full.routes_stored, full.tenants_in_use) == (
        10_000, 50, 20, 10_000, 3_000)
    quick = parse_args(["--quick", "--concurrency", "5"])
    assert quick.requests < full.requests and quick.routes_stored < full.routes_stored
    assert quick.concurrency == 5


@pytest.mark.parametrize("flags", [["--requests", "0"], ["--concurrency", "5000"], ["--requests", "10000000"],
                                   ["--routes-stored", "-1"], ["--max-seconds", "0"]])
def test_load_refuses_unbounded_or_empty_runs(flags):
    with pytest.raises(SystemExit):
        parse_args(flags)


def test_workload_shapes():
    assert len({tenant_id(i) for i in range(10_000)}) == 10_000
    assert set(DATA_MIX) == {"read", "search", "post_search", "batch"}
    assert len(__import__("json").loads(batch_bundle("demo-patient-1"))["entry"]) == 6
    form = data_request("post_search", 0)
    assert (form.method, form.path, form.content_type) == ("POST", "Patient/_search",
                                                           "application/x-www-form-urlencoded")
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0 and percentile([1.0, 2.0], 1.0) == 2.0
    assert percentile([], 0.99) == 0.0
