"""azure.yaml, infra/main.parameters.json and the CI workflow parse and agree with infra/main.bicep."""

from __future__ import annotations

import json
import re
import sys

import yaml

from tests.infra.bicep import INFRA, ROOT, BicepFile

MAIN = BicepFile.load(INFRA / "main.bicep")


def test_azure_yaml_publishes_the_repository_root_as_two_python_function_apps():
    document = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    for service in ("api", "admin"):
        assert document["services"][service] == {"project": ".", "language": "python", "host": "function"}
        assert (ROOT / document["services"][service]["project"] / "host.json").is_file()
    assert document["infra"]["path"] == "infra" and document["infra"]["module"] == "main"


def test_azd_service_tag_matches_the_service_name():
    document = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    api = BicepFile.load(INFRA / "app" / "api.bicep")
    assert api.param_decorators()["serviceName"]["allowed"] == sorted(document["services"], key=["api", "admin"].index)
    assert "'azd-service-name': serviceName" in api.text


def test_parameters_file_names_only_parameters_of_main():
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    names = set(document["parameters"])
    assert names <= set(MAIN.params()), f"unknown parameters: {sorted(names - set(MAIN.params()))}"
    required = {name for name, param in MAIN.params().items() if param.default is None}
    assert required <= names, "azd must be able to fill every required parameter"


def test_parameters_file_uses_azd_substitution():
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    assert document["parameters"]["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert document["parameters"]["location"]["value"] == "${AZURE_LOCATION}"
    for name, entry in document["parameters"].items():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", entry["value"]), name


def test_ci_workflow_builds_bicep_runs_make_test_and_deploys_tags_with_oidc():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the bare key `on` as true
    assert "pull_request" in triggers and "v*" in triggers["push"]["tags"]
    test_steps = workflow["jobs"]["test"]["steps"]
    runs = "\n".join(step.get("run", "") for step in test_steps)
    assert "az bicep build --file infra/main.bicep" in runs
    assert re.search(r"(?m)^make test$", runs)
    uses = [step.get("uses", "") for step in test_steps]
    assert any(u.startswith("actions/setup-python") for u in uses)
    assert any(u.startswith("actions/setup-node") for u in uses)
    python = next(step for step in test_steps if step.get("uses", "").startswith("actions/setup-python"))
    # CI tests with the Python of the project's venv (the one running this test), and deploys with the same.
    assert python["with"]["python-version"] == "{}.{}".format(*sys.version_info[:2])
    deploy_python = next(step for step in workflow["jobs"]["deploy"]["steps"]
                         if step.get("uses", "").startswith("actions/setup-python"))
    assert deploy_python["with"]["python-version"] == python["with"]["python-version"]

    deploy = workflow["jobs"]["deploy"]
    assert deploy["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert deploy["needs"] == "test"
    assert deploy["permissions"]["id-token"] == "write"
    login = next(step for step in deploy["steps"] if step.get("uses", "").startswith("azure/login"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}, "OIDC: no client secret"
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert "secrets." not in text, "the workflow stores no secrets"
    assert any("func azure functionapp publish" in step.get("run", "") and "--python" in step.get("run", "")
               for step in deploy["steps"])
