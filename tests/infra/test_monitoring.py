"""Monitoring in the template: diagnostic settings, alerts, the availability test and the per-tenant workbook.

The KQL of the alerts, the workbook and docs/operations.md runs here for real: the DuckDB KQL engine of
.venv-infra executes each query over synthetic telemetry shaped like Application Insights' tables
(`requests`, `dependencies`, `customMetrics`), one healthy tenant and one whose provider fails, and the
tests assert what an operator or an alert would see. The names the queries use must be those of the
telemetry contract in docs/operations.md.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess

import pytest

from gateway.oauth import authentication, endpoint
from gateway.oauth.errors import InvalidClient, OAuthError
from gateway.proxy import outcomes
from gateway.telemetry import attributes
from gateway.telemetry.recorder import status_outcome
from tests.infra.bicep import INFRA, ROOT, BicepFile
from tests.infra.test_static_checks import infra_python

MONITOR = INFRA / "core" / "monitor"
QUERIES = MONITOR / "queries"
WORKBOOK = MONITOR / "gateway-workbook.json"
OPERATIONS = ROOT / "docs" / "operations.md"


def load(relative: str) -> BicepFile:
    return BicepFile.load(INFRA / relative)


# ---------------------------------------------------------------- diagnostic settings and workspace
def diagnostic_settings() -> dict[str, str]:
    """Scope -> body of each diagnostic setting."""
    found = {}
    for _, entries, body in load("core/monitor/diagnostics.bicep").resources("Microsoft.Insights/diagnosticSettings"):
        found[entries["scope"]] = body
    return found


def test_app_key_vault_and_table_service_send_their_logs_to_the_workspace():
    settings = diagnostic_settings()
    assert set(settings) == {"site", "vault", "storage::tableService"}
    for body in settings.values():
        assert "workspaceId: workspaceId" in body
    assert re.search(r"categoryGroup: 'allLogs'\s*enabled: true", settings["site"])
    assert re.search(r"category: 'AuditEvent'\s*enabled: true", settings["vault"])
    for category in ("StorageRead", "StorageWrite", "StorageDelete"):
        assert re.search(rf"category: '{category}'\s*enabled: true", settings["storage::tableService"])
    text = load("core/monitor/diagnostics.bicep").text
    assert re.search(r"resource tableService 'tableServices' existing = \{\s*name: 'default'", text)


def test_diagnostics_and_application_insights_share_one_workspace():
    main = load("main.bicep").text
    module = re.search(r"module diagnostics 'core/monitor/diagnostics.bicep'[\s\S]*?\n\}", main).group(0)
    assert "workspaceId: monitoring.outputs.logAnalyticsWorkspaceId" in module
    assert "existingLogAnalyticsWorkspaceId: existingLogAnalyticsWorkspaceId" in main
    monitoring = load("core/monitor/monitoring.bicep").text
    assert "WorkspaceResourceId: workspaceId" in monitoring
    assert "output logAnalyticsWorkspaceId string = workspaceId" in monitoring
    assert load("main.bicep").params()["existingLogAnalyticsWorkspaceId"].default == "''"


# ---------------------------------------------------------------- alerts
def log_alerts() -> list[dict[str, str]]:
    text = load("core/monitor/alerts.bicep").text
    block = re.search(r"(?ms)^var logAlerts = \[(.*?)^\]", text).group(1)
    alerts = []
    for entry in re.findall(r"(?ms)^  \{\n(.*?)^  \}", block):
        alerts.append({
            "key": re.search(r"key: '([^']+)'", entry).group(1),
            "query": re.search(r"query: loadTextContent\('([^']+)'\)", entry).group(1),
            "measure": re.search(r"measure: '(\w+)'", entry).group(1),
            "threshold": re.search(r"threshold: (\w+)", entry).group(1),
            "split": re.findall(r"name: '(\w+)'", entry),
        })
    return alerts


def test_every_alert_the_operators_need_exists_and_notifies_the_action_group():
    alerts = load("core/monitor/alerts.bicep")
    keys = {alert["key"] for alert in log_alerts()}
    assert keys == {"gateway-5xx-rate", "provider-failures-per-tenant", "token-failure-spike"}
    metric_alerts = {name: body for name, _, body in alerts.resources("Microsoft.Insights/metricAlerts")}
    assert set(metric_alerts) == {"keyVaultThrottling", "tableThrottling", "metadataTestAlert"}
    assert "metricName: 'ServiceApiResult'" in metric_alerts["keyVaultThrottling"]
    status_429 = r"name: 'StatusCode'\s*operator: 'Include'\s*values: \[\s*'429'"
    assert re.search(status_429, metric_alerts["keyVaultThrottling"])
    assert "metricNamespace: 'Microsoft.Storage/storageAccounts/tableServices'" in metric_alerts["tableThrottling"]
    assert "'ClientThrottlingError'" in metric_alerts["tableThrottling"]
    assert "'ServerBusyError'" in metric_alerts["tableThrottling"]
    for body in metric_alerts.values():
        assert "actionGroupId: actionGroupId" in body
    rules = re.findall(r"(?m)^resource (\w+) 'Microsoft\.Insights/scheduledQueryRules@[\d-]+' = "
                       r"\[for rule in logAlerts: \{", alerts.text)
    assert rules == ["logAlertRules"]
    assert re.search(r"actions: \{\s*actionGroups: \[\s*actionGroupId\s*\]", alerts.text)
    assert "var actionGroupId = empty(existingActionGroupId) ? actionGroup.id : existingActionGroupId" in alerts.text


def test_the_action_group_is_a_parameter():
    main = load("main.bicep")
    assert main.params()["existingActionGroupId"].default == "''"
    assert main.params()["alertEmailAddresses"].default == "[]"
    module = re.search(r"module alerts 'core/monitor/alerts.bicep'[\s\S]*?\n\}", main.text).group(0)
    for param in ("existingActionGroupId", "alertEmailAddresses", "serverErrorRateThresholdPercent",
                  "providerErrorsThreshold", "tokenFailuresThreshold"):
        assert f"{param}: {param}" in module


def test_log_alert_queries_exist_and_the_provider_alert_fires_per_tenant():
    for alert in log_alerts():
        assert (MONITOR / alert["query"]).is_file(), alert["query"]
        assert alert["measure"] in (MONITOR / alert["query"]).read_text(encoding="utf-8")
    provider = next(alert for alert in log_alerts() if alert["key"] == "provider-failures-per-tenant")
    assert provider["split"] == ["tenant"]


def test_the_availability_test_probes_the_public_metadata_url():
    alerts = load("core/monitor/alerts.bicep")
    test = next(body for name, _, body in alerts.resources("Microsoft.Insights/webtests") if name == "metadataTest")
    assert "kind: 'standard'" in test and "RequestUrl: metadataUrl" in test and "HttpVerb: 'GET'" in test
    assert "ExpectedHttpStatusCode: 200" in test and "SSLCheck: true" in test
    assert "'hidden-link:${appInsights.id}': 'Resource'" in test
    alert = next(body for name, _, body in alerts.resources("Microsoft.Insights/metricAlerts")
                 if name == "metadataTestAlert")
    assert "'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'" in alert
    assert "webTestId: metadataTest.id" in alert
    assert "metadataUrl: '${baseUrl}/fhir/metadata'" in load("main.bicep").text


# ---------------------------------------------------------------- workbook
def workbook() -> dict:
    return json.loads(WORKBOOK.read_text(encoding="utf-8"))


def workbook_queries() -> dict[str, str]:
    return {item["name"]: item["content"]["query"] for item in workbook()["items"] if item["type"] == 3}


def test_the_template_deploys_the_workbook():
    text = load("core/monitor/workbook.bicep").text
    assert "serializedData: loadTextContent('gateway-workbook.json')" in text
    assert "sourceId: appInsights.id" in text and "kind: 'shared'" in text
    assert "name: guid(appInsights.id, 'gateway-tenants-workbook')" in text
    assert "module workbook 'core/monitor/workbook.bicep'" in load("main.bicep").text
    document = workbook()
    assert document["version"] == "Notebook/1.0"
    parameters = next(item for item in document["items"] if item["type"] == 9)["content"]["parameters"]
    assert [p["name"] for p in parameters] == ["TimeRange", "Tenant"]
    views = {"tenants", "outcomes", "providers", "provider-metrics", "proxy-metrics", "tokens"}
    assert views <= set(workbook_queries())
    for item in document["items"]:
        if item["type"] == 3:
            assert item["content"]["timeContextFromParameter"] == "TimeRange", item["name"]


# ---------------------------------------------------------------- telemetry contract
def contract() -> dict[str, set[str]]:
    """From docs/operations.md: request dimensions, metric names and metric dimensions."""
    section = OPERATIONS.read_text(encoding="utf-8").split("### Telemetry contract", 1)[1].split("###", 1)[0]
    request_dims: set[str] = set()
    metrics: set[str] = set()
    metric_dims: set[str] = set()
    for kind, name, dims in re.findall(r"(?m)^\| (request|dependency|metric) \| (.+?) \| (.+?) \|$", section):
        names = set(re.findall(r"`([^`]+)`", dims))
        if kind == "request":
            request_dims |= names
        elif kind == "metric":
            metrics |= set(re.findall(r"`([^`]+)`", name))
            metric_dims |= names
    return {"request": request_dims, "metrics": metrics, "metric": metric_dims}


def all_queries() -> dict[str, str]:
    queries = {path.name: path.read_text(encoding="utf-8") for path in QUERIES.glob("*.kql")}
    queries.update({f"workbook:{name}": query for name, query in workbook_queries().items()})
    return queries


def test_the_contract_is_the_one_the_telemetry_code_emits():
    expected = contract()
    assert expected["request"] == {"tenant.id", "client.id", "fhir.resource_type", "fhir.interaction",
                                   "gateway.outcome"}
    assert expected["metrics"] == {"gateway.token.requests", "gateway.proxy.requests", "gateway.proxy.duration",
                                   "gateway.provider.duration", "gateway.provider.errors", "gateway.auth.lockouts",
                                   "gateway.cache.requests"}
    assert expected["metric"] == {"tenant", "outcome", "cache", "result"}


@pytest.mark.parametrize("name", sorted(all_queries()))
def test_queries_use_only_names_of_the_contract(name):
    query = all_queries()[name]
    expected = contract()
    used = set(re.findall(r"\bname == '([^']+)'", query))
    for listed in re.findall(r"\bname in \(([^)]*)\)", query):
        used |= set(re.findall(r"'([^']+)'", listed))
    if "customMetrics" in query:
        assert used, "a metric query names its metrics"
    assert used <= expected["metrics"], used - expected["metrics"]
    dimensions = set(re.findall(r"customDimensions\['([^']+)'\]", query))
    table = query.split("\n", 1)[0] if not query.startswith("//") else \
        next(line for line in query.splitlines() if line and not line.startswith(("//", "let")))
    allowed = expected["metric"] if table.strip().startswith("customMetrics") else expected["request"]
    assert dimensions <= allowed, dimensions - allowed


def proxy_outcomes() -> set[str]:
    """Every outcome the proxy names (``gateway.proxy.outcomes``)."""
    return {value for name, value in vars(outcomes).items() if name.isupper() and isinstance(value, str)}


def token_outcomes() -> set[str]:
    """Every outcome the token endpoint names: its own words and the OAuth error codes (``gateway.oauth``)."""
    codes, classes = set(), [OAuthError]
    while classes:
        cls = classes.pop()
        codes.add(cls.error)
        classes.extend(cls.__subclasses__())
    return codes | {endpoint.ISSUED, endpoint.STORE_UNAVAILABLE}


def documented_outcomes(bullet: str) -> set[str]:
    """The outcome names in one bullet ("- Proxy", "- Token endpoint", ...) of the contract's outcome list."""
    section = OPERATIONS.read_text(encoding="utf-8").split("### Telemetry contract", 1)[1].split("###", 1)[0]
    text = re.search(rf"(?ms)^- {bullet}(.*?)(?=^- |\Z)", section).group(1)
    return {name for name in re.findall(r"`([^`]+)`", text) if re.fullmatch(r"[a-z][a-z_-]*(-[A-Za-z]+)?", name)}


def test_the_operations_doc_names_every_outcome_the_code_emits_and_no_other():
    assert documented_outcomes("Proxy") == proxy_outcomes()
    assert {endpoint.ISSUED, endpoint.STORE_UNAVAILABLE, InvalidClient.error} <= documented_outcomes("Token endpoint")
    assert documented_outcomes("Token endpoint") <= token_outcomes()
    assert documented_outcomes("Metadata and admin") == {status_outcome(status) for status in (200, 404, 500)}


@pytest.mark.parametrize("query", ["which-tenant-is-failing.kql", "why-is-the-tenant-failing.kql"])
def test_the_operations_doc_shows_the_two_queries_as_they_are_in_the_repository(query):
    doc = OPERATIONS.read_text(encoding="utf-8")
    blocks = re.findall(r"```kql\n(.*?)```", doc, re.S)
    assert (QUERIES / query).read_text(encoding="utf-8") in blocks
    assert f"infra/core/monitor/queries/{query}" in doc


# ---------------------------------------------------------------- the KQL, run over synthetic telemetry
_ENGINE = r"""
import json, sys
import duckdb_kql

con = duckdb_kql.connect()
con.sql('''CREATE TABLE requests (timestamp TIMESTAMP, name VARCHAR, url VARCHAR, resultCode VARCHAR,
           duration DOUBLE, success BOOLEAN, operation_Id VARCHAR, customDimensions JSON)''')
con.sql('''CREATE TABLE dependencies (timestamp TIMESTAMP, operation_Id VARCHAR, target VARCHAR, type VARCHAR,
           resultCode VARCHAR, success BOOLEAN, duration DOUBLE)''')
con.sql('''CREATE TABLE customMetrics (timestamp TIMESTAMP, name VARCHAR, valueSum DOUBLE, valueCount BIGINT,
           customDimensions JSON)''')
data = json.loads(sys.argv[1])
for table, rows in data["tables"].items():
    for row in rows:
        columns = ", ".join(row)
        recent = "now()::TIMESTAMP - INTERVAL 5 MINUTE"
        marks = ", ".join(recent if value == "$recent" else "?" for value in row.values())
        values = [json.dumps(v) if isinstance(v, dict) else v for v in row.values() if v != "$recent"]
        con.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
results = {}
for name, query in data["queries"].items():
    try:
        relation = duckdb_kql.kql(con, query)
        results[name] = {"columns": relation.columns, "rows": [list(map(str, row)) for row in relation.fetchall()]}
    except Exception as error:
        results[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
print(json.dumps(results))
"""

HEALTHY = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
FAILING = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"


def _request(method: str, path: str, status: int, duration: float, operation: str, **dimensions: str) -> dict:
    """A gateway request span as Application Insights stores it, named and described as the telemetry code
    does (``gateway.telemetry``: route template, interaction, resource type)."""
    fhir = {"fhir.interaction": attributes.interaction(method, path)} if path.startswith("/fhir/") else {}
    if path.startswith("/fhir/") and attributes.resource_type(path):
        fhir["fhir.resource_type"] = attributes.resource_type(path)
    return {"timestamp": "$recent", "name": f"{method} {attributes.route_template(path)}",
            "url": f"https://gw.example{attributes.route_template(path)}", "resultCode": str(status),
            "duration": duration, "success": status < 400, "operation_Id": operation,
            "customDimensions": {**fhir, **dimensions}}


WRONG_SECRET_REASON = "wrong secret"
WRONG_SECRET = f"{InvalidClient.error} ({WRONG_SECRET_REASON})"
"""The token endpoint's outcome for a wrong secret (``gateway.oauth.endpoint``: the error code, then the reason);
its metric keeps the error code alone."""


def test_the_synthetic_token_outcome_is_the_one_the_endpoint_writes():
    assert f'AuthenticationFailed("{WRONG_SECRET_REASON}")' in inspect.getsource(authentication)
    assert endpoint.refused_outcome(WRONG_SECRET_REASON) == WRONG_SECRET


def synthetic_telemetry() -> dict[str, list[dict]]:
    """A healthy tenant (40 reads, 200) and a failing one (30 searches answered 503 by its provider: forwarded
    as they are), 60 token requests refused for a wrong secret, and the metrics the same traffic produces.
    Outcomes are the code's own (``gateway.proxy.outcomes``, ``gateway.oauth.errors``)."""
    requests, dependencies, metrics = [], [], []
    for i in range(40):
        requests.append(_request("GET", f"/fhir/Patient/{i}", 200, 40.0 + i, f"ok-{i}", **{
            "tenant.id": HEALTHY, "client.id": "teams", "gateway.outcome": outcomes.FORWARDED}))
        dependencies.append({"timestamp": "$recent", "operation_Id": f"ok-{i}", "target": "fhir.healthy.example",
                             "type": "HTTP", "resultCode": "200", "success": True, "duration": 30.0})
    for i in range(30):
        requests.append(_request("GET", "/fhir/Observation", 503, 900.0, f"bad-{i}", **{
            "tenant.id": FAILING, "client.id": "teams", "gateway.outcome": outcomes.FORWARDED}))
        dependencies.append({"timestamp": "$recent", "operation_Id": f"bad-{i}", "target": "fhir.failing.example",
                             "type": "HTTP", "resultCode": "503", "success": False, "duration": 850.0})
    for i in range(60):
        requests.append(_request("POST", "/oauth2/token", 401, 5.0, f"tok-{i}", **{
            "client.id": "teams", "gateway.outcome": WRONG_SECRET}))
    metrics += [
        {"timestamp": "$recent", "name": "gateway.provider.errors", "valueSum": 30.0, "valueCount": 30,
         "customDimensions": {"tenant": FAILING}},
        {"timestamp": "$recent", "name": "gateway.provider.duration", "valueSum": 25500.0, "valueCount": 30,
         "customDimensions": {"tenant": FAILING}},
        {"timestamp": "$recent", "name": "gateway.provider.duration", "valueSum": 1200.0, "valueCount": 40,
         "customDimensions": {"tenant": HEALTHY}},
        {"timestamp": "$recent", "name": "gateway.proxy.requests", "valueSum": 40.0, "valueCount": 40,
         "customDimensions": {"tenant": HEALTHY, "outcome": outcomes.FORWARDED}},
        {"timestamp": "$recent", "name": "gateway.proxy.requests", "valueSum": 30.0, "valueCount": 30,
         "customDimensions": {"tenant": FAILING, "outcome": outcomes.FORWARDED}},
        {"timestamp": "$recent", "name": "gateway.token.requests", "valueSum": 60.0, "valueCount": 60,
         "customDimensions": {"outcome": InvalidClient.error}},
        {"timestamp": "$recent", "name": "gateway.auth.lockouts", "valueSum": 3.0, "valueCount": 3,
         "customDimensions": {}},
    ]
    return {"requests": requests, "dependencies": dependencies, "customMetrics": metrics}


def runnable(query: str) -> str:
    """A workbook query as the workbook runs it: all tenants selected; `render` only draws."""
    query = query.replace("{Tenant}", "'*'")
    return "\n".join(line for line in query.splitlines() if not line.strip().startswith("| render"))


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    queries = {name: runnable(query) for name, query in all_queries().items()}
    queries["why-is-the-tenant-failing.kql"] = queries["why-is-the-tenant-failing.kql"].replace("<tenant id>", FAILING)
    healthy_only = synthetic_telemetry()
    payload = {"tables": synthetic_telemetry(), "queries": queries}
    output = subprocess.run([infra_python(), "-c", _ENGINE, json.dumps(payload)], capture_output=True, text=True,
                            timeout=300, check=False)
    assert output.returncode == 0, output.stderr[-3000:]
    found = json.loads(output.stdout)
    # the same alert queries over healthy traffic only: nothing may fire
    healthy_only["requests"] = [r for r in healthy_only["requests"] if r["resultCode"] == "200"]
    healthy_only["customMetrics"] = [m for m in healthy_only["customMetrics"]
                                     if m["customDimensions"].get("tenant") != FAILING
                                     and m["name"] not in ("gateway.auth.lockouts", "gateway.token.requests")]
    calm = subprocess.run([infra_python(), "-c", _ENGINE, json.dumps({"tables": healthy_only, "queries": {
        f"calm:{alert['query']}": (MONITOR / alert["query"]).read_text(encoding="utf-8") for alert in log_alerts()}})],
        capture_output=True, text=True, timeout=300, check=False)
    assert calm.returncode == 0, calm.stderr[-3000:]
    found.update(json.loads(calm.stdout))
    return found


def rows(result: dict) -> list[dict[str, str]]:
    assert "error" not in result, result.get("error")
    return [dict(zip(result["columns"], row, strict=True)) for row in result["rows"]]


@pytest.mark.parametrize("name", sorted(all_queries()))
def test_every_query_runs(name, results):
    assert "error" not in results[name], results[name].get("error")


def test_which_tenant_is_failing_puts_the_failing_tenant_first(results):
    table = rows(results["which-tenant-is-failing.kql"])
    assert [row["tenant"] for row in table] == [FAILING, HEALTHY]
    assert table[0]["serverErrors"] == "30" and float(table[0]["errorPercent"]) == 100.0
    assert table[1]["serverErrors"] == "0"


def test_why_names_the_outcome_and_the_provider_host_that_failed(results):
    table = rows(results["why-is-the-tenant-failing.kql"])
    assert table[0]["outcome"] == outcomes.FORWARDED and table[0]["status"] == "503"
    assert table[0]["dependencyTarget"] == "fhir.failing.example" and table[0]["dependencyStatus"] == "503"
    assert table[0]["failures"] == "30" and table[0]["interaction"] == "search"
    assert all(row["dependencyTarget"] != "fhir.healthy.example" for row in table)


def _threshold(alert: dict[str, str]) -> float:
    return float(load("main.bicep").params()[alert["threshold"]].default)


@pytest.mark.parametrize("key", ["gateway-5xx-rate", "provider-failures-per-tenant", "token-failure-spike"])
def test_each_log_alert_fires_on_the_incident_and_stays_quiet_on_healthy_traffic(key, results):
    alert = next(alert for alert in log_alerts() if alert["key"] == key)
    threshold = _threshold(alert)
    incident = rows(results[alert["query"].split("/")[-1]])
    firing = [row for row in incident if float(row[alert["measure"]]) > threshold]
    assert firing, f"{key} does not fire on the incident: {incident}"
    if alert["split"]:
        assert [row["tenant"] for row in firing] == [FAILING], "one alert, for the failing tenant only"
    calm = rows(results[f"calm:{alert['query']}"])
    assert not [row for row in calm if float(row[alert["measure"]]) > threshold], f"{key} fires on healthy traffic"


def test_the_workbook_ranks_tenants_and_shows_the_failing_provider(results):
    tenants = rows(results["workbook:tenants"])
    assert tenants[0]["tenant"] == FAILING and tenants[0]["serverErrors"] == "30"
    providers = rows(results["workbook:providers"])
    worst = providers[0]
    assert (worst["tenant"], worst["providerHost"], worst["failed"]) == (FAILING, "fhir.failing.example", "30")
    metrics = {row["tenant"]: row for row in rows(results["workbook:provider-metrics"])}
    assert float(metrics[FAILING]["errors"]) == 30 and float(metrics[FAILING]["avgMs"]) == 850.0
    seen = rows(results["workbook:outcomes"])
    assert {(row["tenant"], row["outcome"], row["status"]) for row in seen} >= {
        (FAILING, outcomes.FORWARDED, "503"), (HEALTHY, outcomes.FORWARDED, "200")}
