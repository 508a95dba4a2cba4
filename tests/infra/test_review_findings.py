"""Findings of the infrastructure review, each held by a test.

- custom domains work per plan (site-scoped certificate on Flex Consumption) and redeployments never
  switch TLS off on the live binding;
- the documented federated credential matches the OIDC subject the deploy job really sends;
- SCM and FTP basic publishing credentials are disabled;
- parameter bounds are the bounds gateway/config.py accepts, and publicBaseUrl must be https;
- the login host comes from environment(), and the Flex limits are the platform's.
- the basic-publishing-credential policies carry `location` (the resource provider refuses them without it).
"""

from __future__ import annotations

import ast
import json
import re

import pytest
import yaml

from gateway.config import FHIR_VERSIONS, Settings, SettingsError
from tests.infra.bicep import INFRA, ROOT, BicepFile, bicep_files
from tests.infra.test_app_settings import produced_settings

CONFIG = ROOT / "gateway" / "config.py"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def load(relative: str) -> BicepFile:
    return BicepFile.load(INFRA / relative)


# ---------------------------------------------------------------- custom domain per plan, TLS kept on redeploy
def host_name_bindings() -> list[tuple[str, str, str | None, str]]:
    """(file, symbolic name, condition or None, sslState) of every hostNameBindings declaration."""
    found = []
    for path in bicep_files():
        text = BicepFile.load(path).text
        pattern = (r"(?m)^resource\s+(\w+)\s+'Microsoft\.Web/sites/hostNameBindings@[^']+'\s*=\s*"
                   r"(?:if\s*\((.*?)\)\s*)?\{")
        for match in re.finditer(pattern, text):
            body = text[match.end():match.end() + 600]
            ssl = re.search(r"sslState:\s*'(\w+)'", body).group(1)
            found.append((path.relative_to(INFRA).as_posix(), match.group(1), match.group(2), ssl))
    return found


def test_flex_consumption_uses_a_site_scoped_certificate_and_consumption_a_resource_group_one():
    domain = load("app/custom-domain.bicep")
    text = domain.text
    assert "var isFlex = hostingPlan == 'FlexConsumption'" in text
    site_scoped = re.search(r"resource siteCertificate 'Microsoft\.Web/sites/certificates@[\d-]+' = if \(isFlex\) \{"
                            r"\s*parent: site\b", text)
    assert site_scoped, "Flex Consumption binds only certificates scoped to the site"
    assert re.search(r"resource planCertificate 'Microsoft\.Web/certificates@[\d-]+' = if \(!isFlex\) \{", text)
    assert "thumbprint: isFlex ? siteCertificate.properties.thumbprint : planCertificate.properties.thumbprint" in text
    for name in ("siteCertificate", "planCertificate"):
        body = next(b for n, _, b in domain.resources("Microsoft.Web/") if n == name)
        assert "canonicalName: domainName" in body and "serverFarmId: appServicePlanId" in body
    main = load("main.bicep").text
    module = re.search(r"module customDomain 'app/custom-domain.bicep'[\s\S]*?\n\}", main).group(0)
    assert "hostingPlan: hostingPlan" in module
    assert "certificateIssued: customDomainCertificateIssued" in module


def test_a_redeployment_never_declares_the_binding_without_tls():
    """Only the first deployment (certificate not issued yet) binds without TLS; later ones keep SNI."""
    bindings = host_name_bindings()
    disabled = [(f, n, c) for f, n, c, ssl in bindings if ssl == "Disabled"]
    assert disabled == [("app/custom-domain.bicep", "binding", "!certificateIssued")]
    enabled = [(f, n, c) for f, n, c, ssl in bindings if ssl == "SniEnabled"]
    assert enabled == [("app/sni-binding.bicep", "binding", None)]
    main = load("main.bicep")
    assert main.params()["customDomainCertificateIssued"].default == "false"
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["customDomainCertificateIssued"]["value"] == "${GATEWAY_CUSTOM_DOMAIN_CERTIFICATE_ISSUED=false}"


# ---------------------------------------------------------------- GitHub OIDC subject
def documented_federated_credential() -> dict:
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    match = re.search(r"az ad app federated-credential create [^']*--parameters '(\{.*?\})'", doc, re.S)
    assert match, "docs/deploy.md shows the federated credential of the deploy job"
    return json.loads(match.group(1))


def test_the_documented_federated_credential_matches_what_the_deploy_job_sends():
    """A job with `environment: X` gets the subject repo:<org>/<repo>:environment:X, whatever the ref."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    deploy = workflow["jobs"]["deploy"]
    environment = deploy.get("environment")
    environment = environment["name"] if isinstance(environment, dict) else environment
    assert environment, "the deploy job runs in a GitHub environment (one stable OIDC subject for every tag)"
    credential = documented_federated_credential()
    assert credential["subject"] == f"repo:<org>/<repo>:environment:{environment}"
    assert credential["issuer"] == "https://token.actions.githubusercontent.com"
    assert credential["audiences"] == ["api://AzureADTokenExchange"]
    assert deploy["permissions"]["id-token"] == "write"
    comments = "\n".join(line for line in WORKFLOW.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    assert f"repo:<org>/<repo>:environment:{environment}" in comments
    assert "federated credential for this repository's tags" not in comments


# ---------------------------------------------------------------- basic publishing credentials
def test_scm_and_ftp_basic_publishing_credentials_are_disabled():
    host = load("core/host/functions.bicep")
    policies = {entries["name"]: body for _, entries, body in host.resources("basicPublishingCredentialsPolicies")}
    assert set(policies) == {"'scm'", "'ftp'"}
    for body in policies.values():
        assert re.search(r"properties: \{\s*allow: false\s*\}", body)
        assert "location: location" in body, "Azure/bicep-types-az#1527: refused without location"
    # children of the function app itself
    site = next(body for name, _, body in host.resources("Microsoft.Web/sites@") if name == "site")
    assert site.count("'basicPublishingCredentialsPolicies'") == 2


# ---------------------------------------------------------------- parameter bounds = gateway/config.py
def _constant(node: ast.AST, constants: dict[str, ast.AST]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name):
        return _constant(constants[node.id], constants)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_constant(node.operand, constants)
    if isinstance(node, ast.BinOp):
        left, right = _constant(node.left, constants), _constant(node.right, constants)
        operations = {ast.LShift: lambda a, b: a << b, ast.Mult: lambda a, b: a * b, ast.Add: lambda a, b: a + b,
                      ast.Sub: lambda a, b: a - b, ast.Pow: lambda a, b: a ** b}
        return operations[type(node.op)](left, right)
    raise AssertionError(f"cannot read the bound {ast.dump(node)} of gateway/config.py")


def config_integer_bounds() -> dict[str, tuple[int, int]]:
    """Every ``integer("NAME", low, high)`` of gateway/config.py, read from its source."""
    tree = ast.parse(CONFIG.read_text(encoding="utf-8"))
    constants = {node.targets[0].id: node.value for node in tree.body
                 if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    bounds = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "integer":
            name = node.args[0].value
            bounds[name] = (_constant(node.args[1], constants), _constant(node.args[2], constants))
    assert len(bounds) >= 10, "gateway/config.py reads its integer settings through integer(name, low, high)"
    return bounds


def setting_params() -> dict[str, str]:
    """Setting name -> main.bicep parameter, for settings written as ``string(param)`` or ``param``."""
    entries = load("main.bicep").var_object("gatewayAppSettings")
    params = {}
    for setting, value in entries.items():
        match = re.fullmatch(r"(?:string\((\w+)\)|(\w+))", value)
        if match:
            params[setting] = match.group(1) or match.group(2)
    return params


@pytest.mark.parametrize("setting", sorted(config_integer_bounds()))
def test_integer_parameter_bounds_are_the_bounds_the_app_accepts(setting):
    low, high = config_integer_bounds()[setting]
    param = setting_params().get(setting)
    assert param, f"{setting} is set from a template parameter"
    decorators = load("main.bicep").param_decorators()[param]
    assert (decorators.get("minValue"), decorators.get("maxValue")) == (low, high), \
        f"{param}: @minValue/@maxValue must be {low}/{high} like gateway/config.py"
    # and the app really accepts the edges and refuses one past them
    for accepted in (low, high):
        Settings.from_mapping({**produced_settings(), setting: str(accepted)})
    for refused in (low - 1, high + 1):
        with pytest.raises(SettingsError, match=setting):
            Settings.from_mapping({**produced_settings(), setting: str(refused)})


@pytest.mark.parametrize(("setting", "param"), [("TABLE_NAME_PREFIX", "tableNamePrefix"),
                                                ("KEY_VAULT_SECRET_PREFIX", "keyVaultSecretPrefix")])
def test_prefix_lengths_are_the_lengths_the_app_accepts(setting, param):
    decorators = load("main.bicep").param_decorators()[param]
    assert (decorators.get("minLength"), decorators.get("maxLength")) == (1, 20)
    Settings.from_mapping({**produced_settings(), setting: "g" * 20})
    with pytest.raises(SettingsError, match=setting):
        Settings.from_mapping({**produced_settings(), setting: "g" * 21})


def test_fhir_versions_are_the_versions_the_app_accepts():
    assert load("main.bicep").param_decorators()["fhirVersion"]["allowed"] == list(FHIR_VERSIONS)


def _bicep_condition(expression: str):
    """A Python predicate for a Bicep boolean expression over ``publicBaseUrl`` (ARM string semantics)."""
    python = expression
    for bicep_name, python_name in (("startsWith(", "_starts("), ("endsWith(", "_ends("), ("contains(", "_contains("),
                                    ("length(", "len("), ("empty(", "_empty(")):
        python = python.replace(bicep_name, python_name)
    python = python.replace("||", " or ").replace("&&", " and ")
    python = re.sub(r"!(?!=)", " not ", python)
    helpers = {
        "_starts": lambda text, prefix: text.lower().startswith(prefix.lower()),  # ARM: case-insensitive
        "_ends": lambda text, suffix: text.lower().endswith(suffix.lower()),
        "_contains": lambda text, part: part in text,
        "_empty": lambda text: text == "",
        "len": len,
    }
    code = compile(python, "publicBaseUrlIsValid", "eval")
    return lambda url: eval(code, {"__builtins__": {}}, {**helpers, "publicBaseUrl": url})  # noqa: S307


ACCEPTED_URLS = ["https://fhir.example.org", "https://gw.example.org/tenant-a", "HTTPS://FHIR.EXAMPLE.ORG",
                 "https://fhir.example.org:8443"]
REFUSED_URLS = ["http://fhir.example.org", "fhir.example.org", "ftp://fhir.example.org", "https://",
                "https:///fhir", "https://:443", "https://fhir.example.org?tenant=a", "https://fhir.example.org#top",
                "https://fhir.example.org/", "https://fhir example.org", "javascript:alert(1)"]


def test_public_base_url_must_be_https_or_the_deployment_fails():
    text = load("main.bicep").text
    expression = re.search(r"(?m)^var publicBaseUrlIsValid = (.+)$", text).group(1)
    valid = _bicep_condition(expression)
    assert valid(""), "empty: the default base URL"
    for url in ACCEPTED_URLS:
        assert valid(url), url
        assert Settings.from_mapping({**produced_settings(), "PUBLIC_BASE_URL": url}).public_base_url == url
    for url in REFUSED_URLS:
        assert not valid(url), url
    assert "var checkedPublicBaseUrl = publicBaseUrlIsValid ? publicBaseUrl : fail(" in text
    assert re.search(r"(?m)^var baseUrl = !empty\(checkedPublicBaseUrl\) \? checkedPublicBaseUrl : ", text)


def test_the_template_is_stricter_than_the_app_only_on_trailing_slashes_and_spaces():
    """A trailing slash would double the advertised `//fhir`; no host name has a space (the app accepts both)."""
    valid = _bicep_condition(re.search(r"(?m)^var publicBaseUrlIsValid = (.+)$", load("main.bicep").text).group(1))
    for url in REFUSED_URLS:
        if valid(url):
            continue
        try:
            Settings.from_mapping({**produced_settings(), "PUBLIC_BASE_URL": url})
        except SettingsError:
            continue
        assert url.endswith("/") or " " in url, url


# ---------------------------------------------------------------- login host, Flex limits
LOGIN_HOSTS = ("login.microsoftonline.com", "login.windows.net", "login.microsoftonline.us", "login.chinacloudapi.cn",
               "login.partner.microsoftonline.cn", "sts.windows.net")


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.relative_to(INFRA).as_posix())
def test_no_login_host_is_hard_coded(path):
    text = BicepFile.load(path).text.lower()
    assert not [host for host in LOGIN_HOSTS if host in text]


def test_entra_issuers_are_built_from_the_environment_login_endpoint():
    auth = load("app/auth.bicep").text
    assert "openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'" in auth
    assert "'${environment().authentication.loginEndpoint}${adminAuthTenantId}/v2.0'" in load("main.bicep").text


# Flex Consumption limits (learn.microsoft.com, "Flex Consumption plan hosting": instance memory 512, 2048 or
# 4096 MB; Considerations: "The lowest maximum scale is currently 40. The highest currently supported value is 1000").
FLEX_LIMITS = {
    "maximumInstanceCount": {"minValue": 40, "maxValue": 1000},
    "instanceMemoryMB": {"allowed": [512, 2048, 4096]},
}


@pytest.mark.parametrize("relative", ["main.bicep", "app/api.bicep", "core/host/functions.bicep"])
def test_flex_limits_are_the_platform_limits_at_every_layer(relative):
    decorators = load(relative).param_decorators()
    for param, limits in FLEX_LIMITS.items():
        assert decorators[param] == limits, f"{relative} {param}"
