"""The Bicep app settings and local.settings.sample.json stay in step with gateway/config.py SETTINGS."""

from __future__ import annotations

import json
import re

import pytest

from gateway.config import SETTINGS, Settings
from tests.infra.bicep import INFRA, ROOT, BicepFile, bicep_files
from tests.infra.deployments import BASE, app_settings, render
from tests.infra.evaluate import ENVIRONMENT, TENANT_ID, Unknown

SETTING_NAMES = {spec.name for spec in SETTINGS}
DEFAULTS = {spec.name: spec.default for spec in SETTINGS}

# Read by the code but deliberately absent from the production template.
DEV_ONLY = {
    "TABLES_CONNECTION_STRING": "a connection string carries the account key; Azure uses TABLES_ENDPOINT with the "
                                "managed identity and the account has shared-key access disabled",
    "KEY_VAULT_CA_BUNDLE": "trusts the local emulator's self-signed certificate; "
                           "Key Vault in Azure has a public CA chain",
}
# Development-only values of settings that production sets differently.
PRODUCTION_VALUES = {
    "GATEWAY_ENVIRONMENT": "production",  # `development` allows http and loopback providers
    "KEY_VAULT_CREDENTIAL": "managed-identity",  # `emulator` is a fixed dev token, refused in production
    "KEY_VAULT_VERIFY_CHALLENGE_RESOURCE": "true",  # false only for the emulator (not under vault.azure.net)
}
# The admin API's own Entra ID check: the template always sets it (key-only admin is an explicit choice).
ADMIN_SETTINGS = {"ADMIN_AUTH_AUTHORITY", "ADMIN_AUTH_AUDIENCE", "ADMIN_REQUIRED_ROLE"}
# Settings of the platform, not of gateway/config.py, that the template sets.
PLATFORM = {
    "AzureWebJobsStorage__credential": "identity-based host storage",
    "AzureWebJobsStorage__clientId": "the user-assigned identity of the host storage",
    "AzureWebJobsStorage__blobServiceUri": "host storage: blobs (locks, keys); HTTP triggers need no queue or table",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "telemetry destination",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Entra ID authenticated telemetry",
    "PYTHON_ENABLE_OPENTELEMETRY": "the worker joins the host's OpenTelemetry trace (host.json telemetryMode)",
    "FUNCTIONS_EXTENSION_VERSION": "Consumption (Y1) only; Flex sets the runtime in functionAppConfig",
    "FUNCTIONS_WORKER_RUNTIME": "Consumption (Y1) only",
    "WEBSITE_RUN_FROM_PACKAGE": "Consumption (Y1) only: the package blob URL",
    "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID": "Consumption (Y1) only: identity that reads the package blob",
}
# The issuer and audience of the admin API's own Entra ID token check. The template sets them ahead of
# gateway/config.py (the code that verifies admin tokens arrives separately); once SETTINGS declares them
# the checks below hold them like every other setting.
ADMIN_TOKEN_SETTINGS = {
    "ADMIN_AUTH_AUTHORITY": "Entra ID v2.0 issuer of admin tokens: <loginEndpoint><tenant>/v2.0",
    "ADMIN_AUTH_AUDIENCE": "client id of the admin API's app registration (the `aud` of v2 access tokens)",
}
# Settings of the local tooling in local.settings.sample.json.
LOCAL_ONLY = {
    "FUNCTIONS_WORKER_RUNTIME": "Core Tools need it to pick the Python worker",
    "AzureWebJobsStorage": "Azurite for the host under `func start`",
    "LOCAL_FUNCTION_KEY": "the function key of the project's local host (devtools/funchost)",
}


def template_app_settings() -> dict[str, str]:
    """Every app setting the template writes: the entries of each ``var *AppSettings`` object."""
    settings: dict[str, str] = {}
    for path in bicep_files():
        bicep = BicepFile.load(path)
        for name in bicep.object_vars("AppSettings"):
            for key, value in bicep.var_object(name).items():
                assert key not in settings, f"{key} is set twice in the template"
                settings[key] = value
    return settings


def sample_values() -> dict[str, str]:
    return json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))["Values"]


def test_every_setting_the_code_reads_is_in_the_template_or_declared_dev_only():
    written = template_app_settings()
    missing = SETTING_NAMES - set(written) - set(DEV_ONLY)
    assert not missing, f"settings read by gateway/config.py but absent from the Bicep app settings: {sorted(missing)}"


def test_dev_only_settings_are_absent_from_the_template():
    written = template_app_settings()
    assert DEV_ONLY.keys() <= SETTING_NAMES, "the dev-only list names a setting the code no longer reads"
    assert not (set(written) & set(DEV_ONLY))
    assert "LOCAL_FUNCTION_KEY" not in written, "Azure manages function keys (az functionapp keys list)"
    assert written["KEY_VAULT_CREDENTIAL"] != "'emulator'"


def test_the_template_sets_nothing_unknown():
    unknown = set(template_app_settings()) - SETTING_NAMES - set(PLATFORM) - set(ADMIN_TOKEN_SETTINGS)
    assert not unknown, f"app settings nobody reads: {sorted(unknown)}"


def test_host_storage_and_telemetry_are_identity_based():
    written = template_app_settings()
    assert written["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert "AzureWebJobsStorage" not in written, "a connection string would need a storage key"
    assert all(key.startswith("AzureWebJobsStorage__") for key in written if key.startswith("AzureWebJobsStorage"))
    assert "Authorization=AAD" in written["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]


def test_production_values():
    written = template_app_settings()
    for key, value in PRODUCTION_VALUES.items():
        assert written[key] == f"'{value}'", key


def test_local_sample_lists_every_setting_and_nothing_unknown():
    values = sample_values()
    missing = SETTING_NAMES - set(values)
    assert not missing, f"missing from local.settings.sample.json: {sorted(missing)}"
    unknown = set(values) - SETTING_NAMES - set(LOCAL_ONLY)
    assert not unknown, f"unknown settings in local.settings.sample.json: {sorted(unknown)}"


# ---------------------------------------------------------------- what the template produces, read by the code
# Values only Azure knows, as Azure would fill them in (tests/infra/evaluate.py leaves them unknown).
EXAMPLES = {
    "TABLES_ENDPOINT": "https://stexample.table.core.windows.net/",
    "KEY_VAULT_URL": "https://kv-example.vault.azure.net/",
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
}
LOGIN_ENDPOINT = ENVIRONMENT["authentication"]["loginEndpoint"]


def produced_settings(service: str = "api", **params: object) -> dict[str, str]:
    """The settings gateway/config.py reads, as the template sets them on the ``service`` app for ``params``."""
    settings = app_settings(render(**params), service)
    return {name: EXAMPLES[name] if isinstance(value, Unknown) else value
            for name, value in settings.items() if name in SETTING_NAMES}


def test_template_defaults_equal_the_code_defaults():
    produced = produced_settings()
    differing = {name: (produced[name], DEFAULTS[name]) for name in produced
                 if DEFAULTS.get(name) is not None and name not in PRODUCTION_VALUES and name not in ADMIN_SETTINGS
                 and produced[name] != DEFAULTS[name]}
    assert not differing, f"template default != gateway/config.py default: {differing}"


@pytest.mark.parametrize("service", ["api", "admin"])
def test_template_settings_are_valid_production_settings(service):
    settings = Settings.from_mapping(produced_settings(service))
    assert settings.is_production
    assert settings.public_base_url == render().outputs["PUBLIC_BASE_URL"]
    assert settings.tables_endpoint == "https://stexample.table.core.windows.net"
    assert settings.tables_connection_string is None
    assert settings.key_vault_credential == "managed-identity"
    assert settings.key_vault_ca_bundle is None
    assert settings.azure_client_id == "00000000-0000-0000-0000-000000000001"
    assert settings.admin_required_role == "Gateway.Admin"


def test_both_apps_get_the_same_product_settings_but_their_own_identity():
    data, admin = app_settings(render(), "api"), app_settings(render(), "admin")
    shared = {name for name in SETTING_NAMES if name != "AZURE_CLIENT_ID"} & set(data)
    assert {name: data[name] for name in shared} == {name: admin[name] for name in shared}
    assert data["AZURE_CLIENT_ID"] != admin["AZURE_CLIENT_ID"]


def test_key_only_admin_leaves_the_admin_token_settings_empty():
    base = {k: v for k, v in BASE.items() if k != "adminAuthClientId"}
    produced = app_settings(render(base=base, allowKeyOnlyAdmin=True), "admin")
    assert produced["ADMIN_AUTH_AUTHORITY"] == produced["ADMIN_AUTH_AUDIENCE"] == produced["ADMIN_REQUIRED_ROLE"] == ""


@pytest.mark.parametrize("fhir_version", ["DSTU2", "STU3", "R4"])
def test_an_admin_app_registration_sets_authority_audience_and_role(fhir_version):
    client_id = "6f1c2b4e-0d9a-4c3b-8e7f-2a1b3c4d5e6f"
    produced = produced_settings("admin", adminAuthClientId=client_id, fhirVersion=fhir_version)
    assert produced["ADMIN_AUTH_AUTHORITY"] == f"{LOGIN_ENDPOINT}{TENANT_ID}/v2.0"
    assert produced["ADMIN_AUTH_AUDIENCE"] == client_id, "v2 access tokens carry the client id as aud"
    assert produced["ADMIN_REQUIRED_ROLE"] == "Gateway.Admin"
    settings = Settings.from_mapping(produced)
    assert settings.admin_required_role == "Gateway.Admin"
    assert settings.fhir_version == fhir_version


def test_the_admin_token_authority_follows_the_cloud_and_the_tenant():
    other_tenant = "99999999-8888-7777-6666-555555555555"
    produced = produced_settings("admin", adminAuthTenantId=other_tenant)
    assert produced["ADMIN_AUTH_AUTHORITY"] == f"{LOGIN_ENDPOINT}{other_tenant}/v2.0"
    main = BicepFile.load(INFRA / "main.bicep").text
    assert "var adminAuthAuthority = '${environment().authentication.loginEndpoint}${adminAuthTenantId}/v2.0'" in main


def test_the_function_app_reads_the_environment_only_through_gateway_config():
    """So SETTINGS really is every setting the code reads (gateway/cli.py runs on an operator's machine)."""
    readers = []
    for path in [*(ROOT / "gateway").rglob("*.py"), *ROOT.glob("*_fn/*.py")]:
        relative = path.relative_to(ROOT).as_posix()
        if relative in ("gateway/config.py", "gateway/cli.py"):
            continue
        if re.search(r"\bos\.environ\b|\bgetenv\(|\benviron\.get\(", path.read_text(encoding="utf-8")):
            readers.append(relative)
    assert not readers, f"read the environment outside gateway/config.py: {readers}"


def test_flex_consumption_gets_none_of_the_settings_it_refuses():
    """Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and WEBSITE_RUN_FROM_PACKAGE."""
    refused = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"}
    host = BicepFile.load(INFRA / "core" / "host" / "functions.bicep")
    assert re.search(r"(?m)^var consumptionAppSettings = isFlex \? \{\} : \{", host.text)
    assert refused <= set(host.var_object("consumptionAppSettings"))
    for path in bicep_files():
        bicep = BicepFile.load(path)
        for name in bicep.object_vars("AppSettings"):
            if name != "consumptionAppSettings":
                assert not refused & set(bicep.var_object(name)), f"{path.name} {name}"
