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
from tests.infra.bicep import INFRA, ROOT
from tests.infra.deployments import app, by_id, mode, render
from tests.infra.evaluate import DeploymentFailed
from tests.infra.test_static_checks import infra_python

MONITOR = INFRA / "core" / "monitor"
QUERIES = MONITOR / "queries"
WORKBOOK = MONITOR / "gateway-workbook.json"
OPERATIONS = ROOT / "docs" / "operations.md"


# ---------------------------------------------------------------- diagnostic settings and workspace
def test_both_apps_key_vault_and_table_service_send_their_logs_to_the_workspace():
    deployment = mode("flex")
    workspace = deployment.one("Microsoft.OperationalInsights/workspaces")
    settings = {by_id(deployment, s.scope).type.rsplit("/", 1)[-1] + ":" + by_id(deployment, s.scope).name: s.properties
                for s in deployment.of_type("Microsoft.Insights/diagnosticSettings")}
    sites = {f"sites:{app(deployment, service).name}" for service in ("api", "admin")}
    vault = f"vaults:{deployment.one('Microsoft.KeyVault/vaults').name}"
    tables = next(k for k in settings if k.startswith("tableServices:"))
    assert set(settings) == {*sites, vault, tables}
    assert "adm" not in tables, "the gateway tables are on the data account"
    for properties in settings.values():
        assert properties["workspaceId"] == workspace.id
    for site in sites:
        assert settings[site]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
        assert settings[site]["metrics"] == [{"category": "AllMetrics", "enabled": True}], "Http5xx for the host alert"
    assert settings[vault]["logs"] == [{"category": "AuditEvent", "enabled": True}]
    assert {log["category"] for log in settings[tables]["logs"]} == {"StorageRead", "StorageWrite", "StorageDelete"}


def test_diagnostics_and_application_insights_share_one_workspace():
    deployment = mode("flex")
    workspace = deployment.one("Microsoft.OperationalInsights/workspaces")
    assert deployment.one("Microsoft.Insights/components").properties["WorkspaceResourceId"] == workspace.id
    existing = "/subscriptions/x/resourceGroups/ops/providers/Microsoft.OperationalInsights/workspaces/central"
    joined = render(existingLogAnalyticsWorkspaceId=existing)
    assert not joined.of_type("Microsoft.OperationalInsights/workspaces")
    assert joined.one("Microsoft.Insights/components").properties["WorkspaceResourceId"] == existing
    assert all(s.properties["workspaceId"] == existing for s in joined.of_type("Microsoft.Insights/diagnosticSettings"))


def test_workspace_retention_and_access_mode_are_parameters():
    deployment = render(logRetentionInDays=180, auditLogRetentionInDays=2555, logAccessResourcePermissionsOnly=False)
    workspace = deployment.one("Microsoft.OperationalInsights/workspaces")
    assert workspace.properties["retentionInDays"] == 180
    assert workspace.properties["features"] == {"enableLogAccessUsingOnlyResourcePermissions": False}
    audit = deployment.one("Microsoft.OperationalInsights/workspaces/tables")
    assert audit.name.endswith("/AzureDiagnostics"), "Key Vault's AuditEvent lands in AzureDiagnostics"
    assert audit.properties == {"plan": "Analytics", "retentionInDays": 180, "totalRetentionInDays": 2555}
    default = mode("flex").one("Microsoft.OperationalInsights/workspaces")
    assert default.properties["features"] == {"enableLogAccessUsingOnlyResourcePermissions": True}
    with pytest.raises(DeploymentFailed, match="logRetentionInDays"):
        render(logRetentionInDays=731)


# ---------------------------------------------------------------- alerts
def log_alerts(deployment=None) -> dict[str, dict]:
    """Name suffix -> properties of each scheduled query rule (log alert)."""
    deployment = deployment or mode("flex")
    prefix = app(deployment, "api").name + "-"
    return {rule.name.removeprefix(prefix): rule.properties
            for rule in deployment.of_type("Microsoft.Insights/scheduledQueryRules")}


def query_file(rule: dict) -> str:
    """The file under queries/ whose text the rule runs (the host-failure query after its placeholders)."""
    query = rule["criteria"]["allOf"][0]["query"]
    for path in QUERIES.glob("*.kql"):
        source = path.read_text(encoding="utf-8")
        if query == source or query.split("\n", 1)[0] == source.split("\n", 1)[0]:
            return path.name
    raise AssertionError(f"no query file for {query[:80]}")


def test_every_alert_the_operators_need_exists_and_notifies_the_action_group():
    deployment = mode("flex")
    rules = log_alerts(deployment)
    assert set(rules) == {"gateway-error-rate", "provider-failures-per-tenant", "token-failure-spike", "host-failures"}
    action_group = deployment.one("Microsoft.Insights/actionGroups")
    for rule in rules.values():
        assert rule["actions"] == {"actionGroups": [action_group.id]}
    metric_alerts = {a.name.rsplit("-", 2)[-2] + "-" + a.name.rsplit("-", 1)[-1]: a.properties
                     for a in deployment.of_type("Microsoft.Insights/metricAlerts")}
    assert set(metric_alerts) == {"vault-throttling", "table-throttling", "metadata-unavailable"}
    vault = metric_alerts["vault-throttling"]["criteria"]["allOf"][0]
    assert vault["metricName"] == "ServiceApiResult"
    assert vault["dimensions"] == [{"name": "StatusCode", "operator": "Include", "values": ["429"]}]
    table = metric_alerts["table-throttling"]["criteria"]["allOf"][0]
    assert table["metricNamespace"] == "Microsoft.Storage/storageAccounts/tableServices"
    assert set(table["dimensions"][0]["values"]) == {"ClientThrottlingError", "ServerBusyError"}
    for alert in metric_alerts.values():
        assert alert["actions"] == [{"actionGroupId": action_group.id}]


def test_the_action_group_has_receivers_or_the_deployment_fails():
    deployment = mode("flex")
    receivers = deployment.one("Microsoft.Insights/actionGroups").properties["emailReceivers"]
    assert [r["emailAddress"] for r in receivers] == ["oncall@hospital.example", "security@hospital.example"]
    assert all(r["useCommonAlertSchema"] for r in receivers)
    with pytest.raises(DeploymentFailed, match="alertEmailAddresses or existingActionGroupId"):
        render(alertEmailAddresses="")
    with pytest.raises(DeploymentFailed, match="alertEmailAddresses or existingActionGroupId"):
        render(alertEmailAddresses=" , ")
    existing = "/subscriptions/x/resourceGroups/ops/providers/Microsoft.Insights/actionGroups/on-call"
    joined = render(alertEmailAddresses="", existingActionGroupId=existing)
    assert not joined.of_type("Microsoft.Insights/actionGroups")
    assert all(rule["actions"] == {"actionGroups": [existing]} for rule in log_alerts(joined).values())
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["alertEmailAddresses"]["value"] == "${GATEWAY_ALERT_EMAILS}"
    assert parameters["existingActionGroupId"]["value"] == "${GATEWAY_ACTION_GROUP_ID}"


def test_each_log_alert_runs_its_query_file_and_splits_provider_failures_per_tenant():
    for name, rule in log_alerts().items():
        criterion = rule["criteria"]["allOf"][0]
        assert criterion["metricMeasureColumn"] in (QUERIES / query_file(rule)).read_text(encoding="utf-8"), name
    provider = log_alerts()["provider-failures-per-tenant"]["criteria"]["allOf"][0]
    assert provider["dimensions"] == [{"name": "tenant", "operator": "Include", "values": ["*"]}]


def test_the_host_failure_alert_reads_the_workspace_and_exists_only_where_sites_emit_metrics():
    deployment = mode("flex")
    rule = log_alerts(deployment)["host-failures"]
    assert rule["scopes"] == [deployment.one("Microsoft.OperationalInsights/workspaces").id]
    query = rule["criteria"]["allOf"][0]["query"]
    for service in ("api", "admin"):
        assert json.dumps(app(deployment, service).id.lower()) in query
    assert f"'{deployment.one('Microsoft.Insights/components').id.lower()}'" in query
    assert rule["windowSize"] == "PT15M"
    assert "host-failures" not in log_alerts(mode("consumption")), "Linux Consumption emits no site metrics"


def test_no_alert_or_workbook_count_relies_on_sampled_rows_alone():
    """The distro samples traces: counts of requests are sum(itemCount), or the unsampled metrics."""
    for name, query in all_queries().items():
        if name == "host-failures.kql" or "requests" in query or "dependencies" in query:
            assert "count()" not in query and "countif(" not in query, name


def test_the_availability_test_probes_the_public_metadata_url():
    deployment = mode("flex")
    test = deployment.one("Microsoft.Insights/webtests")
    assert test.body["kind"] == "standard" and test.properties["Request"]["HttpVerb"] == "GET"
    assert test.properties["Request"]["RequestUrl"] == f"{deployment.outputs['PUBLIC_BASE_URL']}/fhir/metadata"
    assert test.properties["ValidationRules"]["ExpectedHttpStatusCode"] == 200
    assert test.properties["ValidationRules"]["SSLCheck"] is True
    component = deployment.one("Microsoft.Insights/components")
    assert test.body["tags"][f"hidden-link:{component.id}"] == "Resource"
    alert = next(a for a in deployment.of_type("Microsoft.Insights/metricAlerts") if a.name.endswith("unavailable"))
    assert alert.properties["criteria"]["odata.type"] == "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"
    assert alert.properties["criteria"]["webTestId"] == test.id


# ---------------------------------------------------------------- workbook
def workbook() -> dict:
    return json.loads(WORKBOOK.read_text(encoding="utf-8"))


def workbook_queries() -> dict[str, str]:
    return {item["name"]: item["content"]["query"] for item in workbook()["items"] if item["type"] == 3}


def test_the_template_deploys_the_workbook_opening_on_the_component():
    deployment = mode("flex")
    resource = deployment.one("Microsoft.Insights/workbooks")
    component = deployment.one("Microsoft.Insights/components")
    assert resource.properties["sourceId"] == component.id and resource.body["kind"] == "shared"
    document = json.loads(resource.properties["serializedData"])
    assert document["fallbackResourceIds"] == [component.id]
    assert "fallbackResourceIds" not in workbook(), "the deployment sets it, the file cannot know the id"
    assert {k: v for k, v in document.items() if k != "fallbackResourceIds"} == workbook()
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

SCHEMA = {
    "requests": "timestamp TIMESTAMP, name VARCHAR, url VARCHAR, resultCode VARCHAR, duration DOUBLE, success BOOLEAN, "
                "operation_Id VARCHAR, itemCount BIGINT, customDimensions JSON",
    "dependencies": "timestamp TIMESTAMP, operation_Id VARCHAR, target VARCHAR, type VARCHAR, resultCode VARCHAR, "
                    "success BOOLEAN, duration DOUBLE, itemCount BIGINT",
    "customMetrics": "timestamp TIMESTAMP, name VARCHAR, valueSum DOUBLE, valueCount BIGINT, customDimensions JSON",
    "AzureMetrics": "TimeGenerated TIMESTAMP, _ResourceId VARCHAR, MetricName VARCHAR, Total DOUBLE",
    "AppRequests": "TimeGenerated TIMESTAMP, _ResourceId VARCHAR, ResultCode VARCHAR, ItemCount BIGINT, "
                   "Properties JSON",
}
data = json.loads(sys.stdin.read())
results = {}
for scenario, tables in data["scenarios"].items():
    con = duckdb_kql.connect()
    for table, columns in SCHEMA.items():
        con.sql(f"CREATE TABLE {table} ({columns})")
    for table, rows in tables.items():
        for row in rows:
            columns = ", ".join(row)
            recent = "now()::TIMESTAMP - INTERVAL 5 MINUTE"
            marks = ", ".join(recent if value == "$recent" else "?" for value in row.values())
            values = [json.dumps(v) if isinstance(v, dict) else v for v in row.values() if v != "$recent"]
            con.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    for name, query in data["queries"].items():
        try:
            relation = duckdb_kql.kql(con, query)
            found = {"columns": relation.columns, "rows": [list(map(str, row)) for row in relation.fetchall()]}
        except Exception as error:
            found = {"error": f"{type(error).__name__}: {error}"[:500]}
        results[f"{scenario}:{name}"] = found
print(json.dumps(results))
"""

HEALTHY = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
FAILING = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
DATA_APP = "/subscriptions/s/resourcegroups/rg/providers/microsoft.web/sites/func-gw-x"
ADMIN_APP = "/subscriptions/s/resourcegroups/rg/providers/microsoft.web/sites/func-gwadm-x"
OTHER_APP = "/subscriptions/s/resourcegroups/rg/providers/microsoft.web/sites/someone-elses-app"
COMPONENT = "/subscriptions/s/resourcegroups/rg/providers/microsoft.insights/components/appi-x"


def _request(method: str, path: str, status: int, duration: float, operation: str, item_count: int = 1,
             **dimensions: str) -> dict:
    """A gateway request span as Application Insights stores it, named and described as the telemetry code
    does (``gateway.telemetry``: route template, interaction, resource type); it stands for ``item_count``
    requests after sampling."""
    fhir = {"fhir.interaction": attributes.interaction(method, path)} if path.startswith("/fhir/") else {}
    if path.startswith("/fhir/") and attributes.resource_type(path):
        fhir["fhir.resource_type"] = attributes.resource_type(path)
    return {"timestamp": "$recent", "name": f"{method} {attributes.route_template(path)}",
            "url": f"https://gw.example{attributes.route_template(path)}", "resultCode": str(status),
            "duration": duration, "success": status < 400, "operation_Id": operation, "itemCount": item_count,
            "customDimensions": {**fhir, **dimensions}}


def _dependency(operation: str, target: str, status: int, duration: float, item_count: int = 1) -> dict:
    return {"timestamp": "$recent", "operation_Id": operation, "target": target, "type": "HTTP",
            "resultCode": str(status), "success": status < 400, "duration": duration, "itemCount": item_count}


def _app_request(status: int, outcome: str, item_count: int) -> dict:
    """A gateway request span as the workspace stores it (AppRequests)."""
    return {"TimeGenerated": "$recent", "_ResourceId": COMPONENT, "ResultCode": str(status), "ItemCount": item_count,
            "Properties": {"gateway.outcome": outcome}}


def _http5xx(app_id: str, total: float) -> dict:
    """One Http5xx metric row of an app, as its diagnostic setting writes it (AzureMetrics, upper-case ids)."""
    return {"TimeGenerated": "$recent", "_ResourceId": app_id.upper(), "MetricName": "Http5xx", "Total": total}


WRONG_SECRET_REASON = "wrong secret"
WRONG_SECRET = f"{InvalidClient.error} ({WRONG_SECRET_REASON})"
"""The token endpoint's outcome for a wrong secret (``gateway.oauth.endpoint``: the error code, then the reason);
its metric keeps the error code alone."""


def test_the_synthetic_token_outcome_is_the_one_the_endpoint_writes():
    assert f'AuthenticationFailed("{WRONG_SECRET_REASON}")' in inspect.getsource(authentication)
    assert endpoint.refused_outcome(WRONG_SECRET_REASON) == WRONG_SECRET


def _metric(name: str, value: float, **dimensions: str) -> dict:
    return {"timestamp": "$recent", "name": name, "valueSum": value, "valueCount": int(value),
            "customDimensions": dimensions}


def healthy_traffic() -> dict[str, list[dict]]:
    """400 reads of a healthy tenant sampled 1 in 10 (40 rows of itemCount 10), their metrics, and another app's
    5xx in the same workspace (a shared workspace must not page the gateway's on-call)."""
    requests = [_request("GET", f"/fhir/Patient/{i}", 200, 40.0 + i, f"ok-{i}", 10, **{
        "tenant.id": HEALTHY, "client.id": "teams", "gateway.outcome": outcomes.FORWARDED}) for i in range(40)]
    dependencies = [_dependency(f"ok-{i}", "fhir.healthy.example", 200, 30.0, 10) for i in range(40)]
    metrics = [_metric("gateway.provider.duration", 12000.0, tenant=HEALTHY),
               _metric("gateway.proxy.requests", 400.0, tenant=HEALTHY, outcome=outcomes.FORWARDED),
               _metric("gateway.token.requests", 400.0, outcome=endpoint.ISSUED)]
    return {"requests": requests, "dependencies": dependencies, "customMetrics": metrics,
            "AzureMetrics": [_http5xx(OTHER_APP, 500.0)],
            "AppRequests": [_app_request(200, outcomes.FORWARDED, 10) for _ in range(40)]}


def provider_outage() -> dict[str, list[dict]]:
    """Healthy traffic, plus one hospital whose provider fails: 30 searches answered 503 by the provider (passed
    on as `forwarded`) and 20 that timed out (`provider-timeout`, 504), sampled 1 in 2, and 60 token requests
    refused for a wrong secret. The front end counts exactly the 5xx the gateway recorded."""
    tables = healthy_traffic()
    for i in range(15):
        tables["requests"].append(_request("GET", "/fhir/Observation", 503, 900.0, f"bad-{i}", 2, **{
            "tenant.id": FAILING, "client.id": "teams", "gateway.outcome": outcomes.FORWARDED}))
        tables["dependencies"].append(_dependency(f"bad-{i}", "fhir.failing.example", 503, 850.0, 2))
    for i in range(10):
        tables["requests"].append(_request("GET", "/fhir/Observation", 504, 30000.0, f"slow-{i}", 2, **{
            "tenant.id": FAILING, "client.id": "teams", "gateway.outcome": outcomes.PROVIDER_TIMEOUT}))
    for i in range(60):
        tables["requests"].append(_request("POST", "/oauth2/token", 401, 5.0, f"tok-{i}", 1, **{
            "client.id": "teams", "gateway.outcome": WRONG_SECRET}))
    tables["customMetrics"] += [
        _metric("gateway.provider.errors", 50.0, tenant=FAILING),
        {**_metric("gateway.provider.duration", 42500.0, tenant=FAILING), "valueCount": 50},
        _metric("gateway.proxy.requests", 30.0, tenant=FAILING, outcome=outcomes.FORWARDED),
        _metric("gateway.proxy.requests", 20.0, tenant=FAILING, outcome=outcomes.PROVIDER_TIMEOUT),
        _metric("gateway.token.requests", 60.0, outcome=InvalidClient.error),
        _metric("gateway.auth.lockouts", 3.0)]
    tables["AzureMetrics"].append(_http5xx(DATA_APP, 50.0))
    tables["AppRequests"] += [_app_request(503, outcomes.FORWARDED, 2) for _ in range(15)] + [
        _app_request(504, outcomes.PROVIDER_TIMEOUT, 2) for _ in range(10)]
    return tables


def store_outage() -> dict[str, list[dict]]:
    """Healthy traffic, plus the gateway's own failure: 60 requests (6 rows kept, itemCount 10) answered 503
    because its stores could not be reached, and 2 admin requests that hit a bug (500)."""
    tables = healthy_traffic()
    tables["requests"] += [_request("GET", "/fhir/Patient/1", 503, 8000.0, f"store-{i}", 10, **{
        "tenant.id": HEALTHY, "client.id": "teams", "gateway.outcome": outcomes.STORE_UNAVAILABLE}) for i in range(6)]
    tables["requests"] += [_request("GET", "/manage/routes", 500, 12.0, f"admin-{i}", 1, **{
        "gateway.outcome": status_outcome(500)}) for i in range(2)]
    tables["AzureMetrics"].append(_http5xx(DATA_APP, 60.0))
    tables["AzureMetrics"].append(_http5xx(ADMIN_APP, 2.0))
    tables["AppRequests"] += [_app_request(503, outcomes.STORE_UNAVAILABLE, 10) for _ in range(6)] + [
        _app_request(500, status_outcome(500), 1) for _ in range(2)]
    return tables


def host_outage() -> dict[str, list[dict]]:
    """Healthy traffic, plus 40 requests the front end answered with a 5xx for the data-plane app and 5 for the
    admin app while no gateway code ran (no instance could start): the gateway recorded no 5xx."""
    tables = healthy_traffic()
    tables["AzureMetrics"] += [_http5xx(DATA_APP, 40.0), _http5xx(ADMIN_APP, 5.0),
                               {**_http5xx(DATA_APP, 445.0), "MetricName": "Requests"}]
    return tables


SCENARIOS = {"calm": healthy_traffic, "provider": provider_outage, "store": store_outage, "host": host_outage}


def runnable(query: str) -> str:
    """A query as the workbook or the alert runs it: all tenants selected, `render` left out (it only draws), the
    failing tenant in the why-query, and the host-failure query's apps and component filled in as alerts.bicep
    does."""
    query = query.replace("{Tenant}", "'*'").replace("{apps}", json.dumps([DATA_APP, ADMIN_APP]))
    query = query.replace("{component}", COMPONENT).replace("<tenant id>", FAILING)
    return "\n".join(line for line in query.splitlines() if not line.strip().startswith("| render"))


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    payload = {"scenarios": {name: build() for name, build in SCENARIOS.items()},
               "queries": {name: runnable(query) for name, query in all_queries().items()}}
    output = subprocess.run([infra_python(), "-c", _ENGINE], input=json.dumps(payload), capture_output=True,
                            text=True, timeout=300, check=False)
    assert output.returncode == 0, output.stderr[-3000:]
    return json.loads(output.stdout)


def rows(result: dict) -> list[dict[str, str]]:
    assert "error" not in result, result.get("error")
    return [dict(zip(result["columns"], row, strict=True)) for row in result["rows"]]


@pytest.mark.parametrize("name", sorted(all_queries()))
def test_every_query_runs(name, results):
    for scenario in SCENARIOS:
        assert "error" not in results[f"{scenario}:{name}"], results[f"{scenario}:{name}"].get("error")


def test_which_tenant_is_failing_puts_the_failing_tenant_first_and_counts_sampled_requests(results):
    table = rows(results["provider:which-tenant-is-failing.kql"])
    assert [row["tenant"] for row in table] == [FAILING, HEALTHY]
    assert table[0]["serverErrors"] == "50" and float(table[0]["errorPercent"]) == 100.0
    assert table[1]["requests"] == "400", "40 rows kept of 400 requests"


def test_why_names_the_outcome_and_the_provider_host_that_failed(results):
    table = rows(results["provider:why-is-the-tenant-failing.kql"])
    assert table[0]["outcome"] == outcomes.FORWARDED and table[0]["status"] == "503"
    assert table[0]["dependencyTarget"] == "fhir.failing.example" and table[0]["dependencyStatus"] == "503"
    assert table[0]["failures"] == "30" and table[0]["interaction"] == "search"
    assert {(row["outcome"], row["failures"]) for row in table} == {
        (outcomes.FORWARDED, "30"), (outcomes.PROVIDER_TIMEOUT, "20")}
    assert all(row["dependencyTarget"] != "fhir.healthy.example" for row in table)


def firing(results, rule: str, scenario: str) -> list[dict[str, str]]:
    """The rows of the rule's query that cross its deployed threshold in the scenario."""
    properties = log_alerts()[rule]
    criterion = properties["criteria"]["allOf"][0]
    found = rows(results[f"{scenario}:{query_file(properties)}"])
    return [row for row in found if float(row[criterion["metricMeasureColumn"]]) > criterion["threshold"]]


@pytest.mark.parametrize(("rule", "fires_on"), [
    ("gateway-error-rate", {"store"}),
    ("provider-failures-per-tenant", {"provider"}),
    ("token-failure-spike", {"provider"}),
    ("host-failures", {"host"}),
])
def test_each_alert_fires_on_its_own_incident_only(rule, fires_on, results):
    """One hospital's outage pages through the per-tenant alert, not the gateway's; the gateway's own failure and
    requests that never reached it page through theirs; healthy traffic (with another app's 5xx in a shared
    workspace) pages nobody."""
    fired = {scenario for scenario in SCENARIOS if firing(results, rule, scenario)}
    assert fired == fires_on


def test_the_provider_alert_names_the_failing_tenant_only(results):
    assert [row["tenant"] for row in firing(results, "provider-failures-per-tenant", "provider")] == [FAILING]


def test_the_gateway_error_rate_counts_what_sampling_left_out(results):
    row = rows(results["store:gateway-errors.kql"])[0]
    assert (row["gatewayErrors"], row["total"]) == ("62", "462")
    row = rows(results["provider:gateway-errors.kql"])[0]
    assert row["gatewayErrors"] == "0", "a provider's 503 and timeouts are not the gateway's failures"


def test_the_host_failure_count_is_what_the_front_end_answered_without_the_gateway(results):
    assert float(rows(results["host:host-failures.kql"])[0]["hostFailures"]) == 45.0
    assert float(rows(results["provider:host-failures.kql"])[0]["hostFailures"]) == 0.0
    assert float(rows(results["store:host-failures.kql"])[0]["hostFailures"]) == 0.0


def test_the_workbook_ranks_tenants_and_shows_the_failing_provider(results):
    tenants = rows(results["provider:workbook:tenants"])
    assert tenants[0]["tenant"] == FAILING and tenants[0]["serverErrors"] == "50"
    providers = rows(results["provider:workbook:providers"])
    worst = providers[0]
    assert (worst["tenant"], worst["providerHost"], worst["failed"]) == (FAILING, "fhir.failing.example", "30")
    metrics = {row["tenant"]: row for row in rows(results["provider:workbook:provider-metrics"])}
    assert float(metrics[FAILING]["errors"]) == 50 and float(metrics[FAILING]["avgMs"]) == 850.0
    seen = rows(results["provider:workbook:outcomes"])
    assert {(row["tenant"], row["outcome"], row["status"]) for row in seen} >= {
        (FAILING, outcomes.FORWARDED, "503"), (HEALTHY, outcomes.FORWARDED, "200")}
