"""Static checks of infra/ with the tools of .venv-infra (`make infra-tools`, a dependency of `make test`).

- pycep-parser (0.7 or later) parses every .bicep file, and what it reads (parameters and their bounds,
  resources, modules, outputs) is what the lighter reader of tests/infra/bicep.py reads, so the other
  infra tests stand on a real parse.
- checkov (framework bicep) finds no failed check and no file it cannot parse; every suppression sits in
  infra/checkov.yaml with its reason.
- checkov (framework arm) finds no failed check in what each mode deploys (both plans, with and without
  networkIsolation, hub-and-spoke), with the suppressions of infra/checkov-modes.yaml, each naming when it applies.

The tools live in their own virtual environment because checkov's dependency pins clash with the app's;
the tests drive them as subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.infra.bicep import INFRA, ROOT, BicepFile, bicep_files
from tests.infra.deployments import HUB_AND_SPOKE, render
from tests.infra.evaluate import arm_template

# The Makefile's INFRA_VENV (another interpreter's venv can be checked with `INFRA_VENV=... pytest tests/infra`).
INFRA_VENV = ROOT / os.environ.get("INFRA_VENV", ".venv-infra")
CHECKOV_CONFIG = INFRA / "checkov.yaml"
REQUIREMENTS = ROOT / "requirements-infra.txt"


def infra_python() -> str:
    python = INFRA_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{INFRA_VENV.name} is missing: run `make infra-tools` (`make test` does it first)")
    return str(python)


def pins() -> dict[str, str]:
    return dict(re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+)$", REQUIREMENTS.read_text(encoding="utf-8")))


def run_in_infra_venv(script: str, *args: str) -> str:
    result = subprocess.run([infra_python(), "-c", script, *args], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_infra_tools_are_the_pinned_versions():
    assert {"checkov", "pycep-parser"} <= set(pins())
    installed = json.loads(run_in_infra_venv(
        "import importlib.metadata as m, json\n"
        "print(json.dumps({n: m.version(n) for n in ('checkov', 'pycep-parser')}))"))
    assert installed == {name: pins()[name] for name in ("checkov", "pycep-parser")}
    major, minor = (int(part) for part in installed["pycep-parser"].split(".")[:2])
    assert (major, minor) >= (0, 7), "pycep-parser 0.5.x (checkov's own pin) cannot parse nested child-resource loops"


def test_the_infra_venv_uses_the_python_of_the_project():
    """Same interpreter line as the app's venv (the Makefile builds both from $(PYTHON))."""
    version = run_in_infra_venv("import sys; print(*sys.version_info[:2], sep='.')").strip()
    assert version == "{}.{}".format(*sys.version_info[:2])


# ---------------------------------------------------------------- pycep-parser
_PYCEP = r"""
import json, sys
from pathlib import Path
from pycep import BicepParser

out = {}
for name in sys.argv[1:]:
    try:
        tree = BicepParser().parse(file_path=Path(name))
    except Exception as error:  # report every file, not just the first failure
        out[name] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
        continue
    params = {}
    for param, spec in (tree.get("parameters") or {}).items():
        bounds = {}
        for decorator in spec.get("decorators", []):
            kind = decorator["type"]
            if kind in ("min_value", "max_value", "min_length", "max_length", "allowed"):
                bounds[kind] = decorator["argument"]
        params[param] = bounds
    out[name] = {
        "params": params,
        "resources": sorted(tree.get("resources") or {}),
        "modules": sorted(tree.get("modules") or {}),
        "outputs": sorted(tree.get("outputs") or {}),
    }
print(json.dumps(out, default=str))
"""

_BOUND_NAMES = {"minValue": "min_value", "maxValue": "max_value", "minLength": "min_length",
                "maxLength": "max_length", "allowed": "allowed"}


@pytest.fixture(scope="module")
def pycep_trees() -> dict[str, dict]:
    return json.loads(run_in_infra_venv(_PYCEP, *(str(path) for path in bicep_files())))


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.relative_to(INFRA).as_posix())
def test_pycep_parses_every_bicep_file(path, pycep_trees):
    tree = pycep_trees[str(path)]
    assert "error" not in tree, tree.get("error")


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.relative_to(INFRA).as_posix())
def test_pycep_reads_what_the_test_reader_reads(path, pycep_trees):
    tree = pycep_trees[str(path)]
    bicep = BicepFile.load(path)
    expected = {name: {_BOUND_NAMES[key]: value for key, value in bounds.items()}
                for name, bounds in bicep.param_decorators().items()}
    assert tree["params"] == expected
    declared = re.findall(r"(?m)^resource\s+(\w+)\s", bicep.text)  # top-level resources
    assert set(declared) <= set(tree["resources"])
    assert tree["modules"] == sorted(bicep.modules())
    assert tree["outputs"] == sorted(re.findall(r"(?m)^output\s+(\w+)\s", bicep.text))


def test_pycep_rejects_broken_bicep():
    """The parse above proves something: a truncated object is refused."""
    script = "from pycep import BicepParser\ntry:\n    BicepParser().parse(text='var a = {\\n')\nexcept Exception:\n" \
             "    print('refused')\nelse:\n    print('accepted')"
    assert run_in_infra_venv(script).strip() == "refused"


# ---------------------------------------------------------------- checkov
def checkov(directory, *extra: str) -> dict:
    result = subprocess.run(
        [str(INFRA_VENV / "bin" / "checkov"), "--config-file", str(CHECKOV_CONFIG), "--directory", str(directory),
         "--output", "json", *extra],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert len(reports) == 1 and reports[0]["check_type"] == "bicep", [r.get("check_type") for r in reports]
    return reports[0]


def test_checkov_finds_no_failed_check_in_infra():
    infra_python()
    report = checkov(INFRA)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['file_path']} {c['resource']}: {c['check_name']}"
              for c in report["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert summary["parsing_errors"] == 0, "checkov skipped files it could not parse"
    assert summary["passed"] > 0 and summary["resource_count"] >= len(bicep_files())


def test_checkov_fails_an_insecure_template(tmp_path):
    """The check above has teeth: the same run flags a storage account that allows HTTP and anonymous blobs."""
    infra_python()
    (tmp_path / "insecure.bicep").write_text(
        "resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        "  name: 'insecure'\n  location: 'westeurope'\n  kind: 'StorageV2'\n"
        "  sku: {\n    name: 'Standard_GRS'\n  }\n"
        "  properties: {\n    supportsHttpsTrafficOnly: false\n    allowBlobPublicAccess: true\n"
        "    minimumTlsVersion: 'TLS1_0'\n  }\n}\n", encoding="utf-8")
    report = checkov(tmp_path)
    assert {c["check_id"] for c in report["results"]["failed_checks"]} >= {"CKV_AZURE_3", "CKV_AZURE_44"}


def test_every_suppression_is_in_the_config_file_with_its_reason():
    config = yaml.safe_load(CHECKOV_CONFIG.read_text(encoding="utf-8"))
    assert config["framework"] == ["bicep"]
    skipped = config.get("skip-check", [])
    assert skipped == sorted(set(skipped), key=skipped.index), "a check is listed twice"
    reasons = dict(re.findall(r"(?m)^\s*-\s*(CKV\w+)\s*#\s*(.+)$", CHECKOV_CONFIG.read_text(encoding="utf-8")))
    assert set(reasons) == set(skipped)
    short = [check for check, reason in reasons.items() if len(reason.split()) < 6]
    assert not short, f"suppressions without a real reason: {short}"
    for path in [*bicep_files(), *INFRA.rglob("*.json")]:
        assert "checkov:skip" not in path.read_text(encoding="utf-8"), f"inline suppression in {path.name}"


# ---------------------------------------------------------------- checkov over what each mode deploys
MODES_CONFIG = INFRA / "checkov-modes.yaml"
RENDERED_MODES = {
    "flex": ({}, False),
    "flex-isolated": ({"networkIsolation": True}, True),
    "consumption": ({"hostingPlan": "Consumption"}, False),
    "hub-and-spoke": (HUB_AND_SPOKE, True),
}
NETWORK_CHECKS = {"CKV_AZURE_35", "CKV_AZURE_59", "CKV_AZURE_109", "CKV_AZURE_189", "CKV_AZURE_222"}


def mode_suppressions() -> list[dict]:
    return yaml.safe_load(MODES_CONFIG.read_text(encoding="utf-8"))["suppressions"]


def applies(suppression: dict, isolated: bool) -> bool:
    return suppression["when"] in ("always", f"networkIsolation={'true' if isolated else 'false'}")


def selects(suppression: dict, resource) -> bool:
    return resource.type == suppression["type"] and (
        "service" not in suppression or resource.body.get("tags", {}).get("azd-service-name") == suppression["service"])


def rendered(name: str):
    """Mode ``name`` deployed, as an ARM template carrying the mode's suppressions on the resources they name."""
    params, isolated = RENDERED_MODES[name]
    deployment = render(**params)
    inline: dict[str, list[str]] = {}
    for suppression in (s for s in mode_suppressions() if applies(s, isolated)):
        for resource in (r for r in deployment.all_resources() if selects(suppression, r)):
            inline.setdefault(resource.id, []).extend(f"{check}: {suppression['reason']}"
                                                      for check in suppression["checks"])
    return arm_template(deployment, inline), deployment


@pytest.fixture(scope="module")
def rendered_reports(tmp_path_factory) -> dict[str, dict]:
    """One checkov run (framework arm) over every mode's rendered template, and the public mode without its
    suppressions (``bare``): results per file."""
    infra_python()
    folder = tmp_path_factory.mktemp("rendered")
    for name in RENDERED_MODES:
        (folder / f"{name}.json").write_text(json.dumps(rendered(name)[0], indent=1), encoding="utf-8")
    (folder / "bare.json").write_text(json.dumps(arm_template(render()), indent=1), encoding="utf-8")
    result = subprocess.run(
        [str(INFRA_VENV / "bin" / "checkov"), "--framework", "arm", "--skip-download", "--directory", str(folder),
         "--output", "json"], capture_output=True, text=True, timeout=600, check=False, cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    per_file: dict[str, dict] = {}
    for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
        for check in report["results"].get(outcome, []):
            name = Path(check["file_path"]).stem
            per_file.setdefault(name, {"passed_checks": [], "failed_checks": [], "skipped_checks": []})
            per_file[name][outcome].append(check)
    return per_file


@pytest.mark.parametrize("name", sorted(RENDERED_MODES))
def test_checkov_finds_no_failed_check_in_what_each_mode_deploys(rendered_reports, name):
    report = rendered_reports[name]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert len(report["passed_checks"]) > 40
    reasons = {c["check_result"]["suppress_comment"] for c in report["skipped_checks"]}
    assert all(len(reason.split()) >= 12 for reason in reasons), reasons


def test_with_isolation_only_the_public_data_plane_skips_a_network_check(rendered_reports):
    report = rendered_reports["flex-isolated"]
    deployment = rendered("flex-isolated")[1]
    skipped = {c["resource"].rsplit(".", 1)[1] for c in report["skipped_checks"] if c["check_id"] in NETWORK_CHECKS}
    data_plane = next(r for r in deployment.of_type("Microsoft.Web/sites")
                      if r.body["tags"]["azd-service-name"] == "api")
    settings = {r.name for r in deployment.of_type("Microsoft.Web/sites/config")}
    assert skipped <= {data_plane.name} | settings, skipped
    passed = {(c["check_id"], c["resource"].rsplit(".", 1)[0]) for c in report["passed_checks"]}
    for check, resource_type in (("CKV_AZURE_35", "Microsoft.Storage/storageAccounts"),
                                 ("CKV_AZURE_59", "Microsoft.Storage/storageAccounts"),
                                 ("CKV_AZURE_109", "Microsoft.KeyVault/vaults"),
                                 ("CKV_AZURE_189", "Microsoft.KeyVault/vaults"),
                                 ("CKV_AZURE_222", "Microsoft.Web/sites")):
        assert (check, resource_type) in passed, check


def test_the_rendered_scan_has_teeth(rendered_reports):
    """Without its suppressions the public mode fails the network checks it suppresses."""
    failed = {c["check_id"] for c in rendered_reports["bare"]["failed_checks"]}
    assert {"CKV_AZURE_35", "CKV_AZURE_59", "CKV_AZURE_109", "CKV_AZURE_189", "CKV_AZURE_222"} <= failed


def test_every_mode_suppression_names_its_condition_and_reason():
    suppressions = mode_suppressions()
    for suppression in suppressions:
        assert suppression["when"] in ("always", "networkIsolation=false", "networkIsolation=true"), suppression
        assert len(suppression["reason"].split()) >= 12, suppression
        assert all(re.fullmatch(r"CKV2?_AZURE_\d+", check) for check in suppression["checks"])
    network_always = [s for s in suppressions if s["when"] != "networkIsolation=false"
                      and set(s["checks"]) & NETWORK_CHECKS and s.get("type") == "Microsoft.Web/sites"]
    assert [s.get("service") for s in network_always] == ["api"], "only the public data plane, in every mode"
