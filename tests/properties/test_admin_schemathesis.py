"""OpenAPI-driven fuzzing of the admin API with chained scenarios.

``tests/e2e/test_admin_e2e.py`` fuzzes every operation on its own (examples, coverage and fuzzing
phases). This run adds what single requests cannot reach: schemathesis' *stateful* phase, walking
OpenAPI links the test adds to the served document (create client -> read / patch / add secret ->
revoke secret -> delete client; put route -> read -> delete), plus a fuzzing pass with another seed.
Checks include ``use_after_free`` (a deleted resource stays gone) and ``ensure_resource_availability``
(a created resource can be read at once), on the local host over Azurite and the Key Vault emulator.

Seen on this machine: 18 of 18 links followed, about 1,300 requests in all, in about 20 s.
``ADMIN_STATEFUL_EXAMPLES`` (default 12) and ``ADMIN_STATEFUL_SEED`` tune it; HYPOTHESIS_PROFILE=deep
multiplies the examples like the rest of this folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_admin_e2e import KEY, host_env
from tests.fixtures.leaks import register_sensitive
from tests.properties.support import DEEP_FACTOR, PROFILE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = int(os.environ.get("ADMIN_STATEFUL_EXAMPLES", "12")) * (DEEP_FACTOR if PROFILE == "deep" else 1)
SEED = os.environ.get("ADMIN_STATEFUL_SEED", "7031")  # not the e2e run's seed: other inputs
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance", "negative_data_rejection", "unsupported_method", "use_after_free",
          "ensure_resource_availability"]

CLIENT_ID = "$response.body#/clientId"
LINKS: dict[tuple[str, str], dict[str, dict]] = {
    ("/manage/clients", "post"): {
        "GetClient": {"operationId": "getClient", "parameters": {"clientId": CLIENT_ID}},
        "UpdateClient": {"operationId": "updateClient", "parameters": {"clientId": CLIENT_ID}},
        "AddSecret": {"operationId": "addSecret", "parameters": {"clientId": CLIENT_ID}},
        "RevokeFirstSecret": {"operationId": "revokeSecret",
                              "parameters": {"clientId": CLIENT_ID, "secretId": "$response.body#/secretId"}},
        "DeleteClient": {"operationId": "deleteClient", "parameters": {"clientId": CLIENT_ID}},
    },
    ("/manage/clients/{clientId}/secrets", "post"): {
        "RevokeSecret": {"operationId": "revokeSecret",
                         "parameters": {"clientId": CLIENT_ID, "secretId": "$response.body#/secretId"}},
        "GetClientAfterSecret": {"operationId": "getClient", "parameters": {"clientId": CLIENT_ID}},
    },
    ("/manage/clients/{clientId}", "get"): {
        "PatchWithEtag": {"operationId": "updateClient",
                          "parameters": {"clientId": CLIENT_ID, "header.If-Match": "$response.body#/etag"}},
        "DeleteWithEtag": {"operationId": "deleteClient",
                           "parameters": {"clientId": CLIENT_ID, "header.If-Match": "$response.body#/etag"}},
        "AddAnotherSecret": {"operationId": "addSecret", "parameters": {"clientId": CLIENT_ID}},
    },
    ("/manage/clients/{clientId}", "patch"): {
        "GetPatchedClient": {"operationId": "getClient", "parameters": {"clientId": CLIENT_ID}},
        "DeletePatchedClient": {"operationId": "deleteClient", "parameters": {"clientId": CLIENT_ID}},
    },
    ("/manage/routes/{tenantId}", "put"): {
        "GetRoute": {"operationId": "getRoute", "parameters": {"tenantId": "$response.body#/tenantId"}},
        "ReplaceRoute": {"operationId": "putRoute", "parameters": {"tenantId": "$response.body#/tenantId",
                                                                   "header.If-Match": "$response.body#/etag"}},
        "DeleteRoute": {"operationId": "deleteRoute", "parameters": {"tenantId": "$response.body#/tenantId"}},
    },
}
SUCCESS = {"post": ("201",), "get": ("200",), "patch": ("200",), "put": ("201", "200")}


def linked_document(document: dict) -> dict:
    """The served OpenAPI document with the links of the chained scenarios added to its success responses."""
    for (path, method), links in LINKS.items():
        for status in SUCCESS[method]:
            document["paths"][path][method]["responses"][status]["links"] = links
    return document


@pytest.mark.timeout(900)  # three schemathesis runs in a row; each has its own 600 s bound
def test_stateful_chains_and_another_seed_find_nothing(azure_settings, azurite, keyvault, funchost, tmp_path):
    register_sensitive(KEY)
    host = funchost(host_env(azure_settings, azurite, keyvault))
    served = httpx.get(f"{host.base_url}/manage/openapi.json", headers={"x-functions-key": KEY}, timeout=30)
    assert served.status_code == 200
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(linked_document(served.json())), encoding="utf-8")
    config = tmp_path / "schemathesis.toml"  # chains long enough for create -> secret -> revoke -> delete
    config.write_text(f"[phases.stateful]\nmax-steps = 10\n[phases.stateful.inference]\nalgorithms = []\n"
                      f"[phases.stateful.generation]\nmax-examples = {EXAMPLES * 8}\n", encoding="utf-8")
    runs = {
        # Every operation again, positive and negative data, with a seed of its own.
        "fuzzing": ["--phases", "fuzzing", "--mode", "all", "--max-examples", str(EXAMPLES)],
        # Chains along the links; valid data, so that each step creates what the next one uses. One run per tag:
        # in a single run the scenarios concentrate on the clients' longer chains and never reach the routes.
        "stateful-clients": ["--phases", "stateful", "--mode", "positive", "--max-examples", str(EXAMPLES * 4),
                             "--include-tag", "clients"],
        "stateful-routes": ["--phases", "stateful", "--mode", "positive", "--max-examples", str(EXAMPLES * 2),
                            "--include-tag", "routes"],
    }
    for name, options in runs.items():
        report = tmp_path / f"{name}.json"
        command = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run", str(schema),
                   "--url", host.base_url, "-H", f"x-functions-key: {KEY}", "--checks", ",".join(CHECKS), *options,
                   "--workers", "1", "--seed", SEED, "--request-timeout", "30", "--report", "json",
                   "--report-json-path", str(report),
                   "--suppress-health-check", "all", "--warnings", "off", "--no-color", "--output-truncate", "true"]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-8000:]
        assert "No issues found" in output, output[-4000:]
        print(output[-2500:])
        if name.startswith("stateful"):  # the chains really ran: (nearly) every added link was followed
            covered = re.search(r"API Links:\s+(\d+) covered / (\d+) selected / (\d+) total", output)
            added = sum(len(links) * len(SUCCESS[method]) for (_, method), links in LINKS.items())
            assert covered and int(covered.group(3)) == added, output[-2500:]
            assert int(covered.group(1)) * 4 >= int(covered.group(2)) * 3, output[-2500:]
    server_errors = [line for line in host.output().splitlines() if re.search(r" 5\d\d [\d.]+ms", line)]
    assert server_errors == []
