"""Settings: defaults, validation messages that name the setting, production rules."""

import pytest

from gateway.config import SETTINGS, Settings, SettingsError

PRODUCTION = {
    "PUBLIC_BASE_URL": "https://gw.example.org",
    "TABLES_ENDPOINT": "https://acct.table.core.windows.net",
    "KEY_VAULT_URL": "https://vault.vault.azure.net/",
}


def test_development_defaults_serve_locally():
    s = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development"})
    assert s.public_base_url == "http://localhost:7071"
    assert s.fhir_base_url == "http://localhost:7071/fhir"
    assert s.token_url == "http://localhost:7071/oauth2/token"
    assert s.token_audience == s.fhir_base_url
    assert s.fhir_version == "STU3"
    assert s.token_lifetime_seconds == 3600
    assert not s.is_production


def test_production_is_the_default_environment():
    s = Settings.from_mapping(PRODUCTION)
    assert s.is_production
    assert s.key_vault_url == "https://vault.vault.azure.net"


@pytest.mark.parametrize("missing", ["PUBLIC_BASE_URL", "KEY_VAULT_URL", "TABLES_ENDPOINT"])
def test_production_requires_its_endpoints(missing):
    values = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_mapping(values)


def test_production_refuses_plain_http_base_url():
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        Settings.from_mapping({**PRODUCTION, "PUBLIC_BASE_URL": "http://gw.example.org"})


def test_production_refuses_the_emulator_credential():
    with pytest.raises(SettingsError, match="KEY_VAULT_CREDENTIAL"):
        Settings.from_mapping({**PRODUCTION, "KEY_VAULT_CREDENTIAL": "emulator"})


@pytest.mark.parametrize(("name", "value"), [
    ("FHIR_VERSION", "R5"),
    ("TOKEN_LIFETIME_SECONDS", "soon"),
    ("TOKEN_LIFETIME_SECONDS", "10"),
    ("GATEWAY_ENVIRONMENT", "staging"),
    ("KEY_VAULT_VERIFY_CHALLENGE_RESOURCE", "maybe"),
    ("TABLE_NAME_PREFIX", "bad-prefix"),
    ("PUBLIC_BASE_URL", "ftp://x"),
    ("PUBLIC_BASE_URL", "http://x/?a=b"),
])
def test_invalid_values_name_the_setting(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development", name: value})


def test_fhir_version_is_case_insensitive_and_trailing_slash_is_dropped():
    s = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development", "FHIR_VERSION": "dstu2",
                               "PUBLIC_BASE_URL": "http://127.0.0.1:9000/"})
    assert s.fhir_version == "DSTU2"
    assert s.public_base_url == "http://127.0.0.1:9000"


def test_blank_values_mean_default():
    s = Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development", "TOKEN_AUDIENCE": "", "FHIR_VERSION": " "})
    assert s.token_audience == "http://localhost:7071/fhir"
    assert s.fhir_version == "STU3"


def test_every_declared_setting_is_read():
    """A setting declared but never read would drift: each name must change the parsed result or be optional."""
    names = [spec.name for spec in SETTINGS]
    assert len(names) == len(set(names))
    fields = set(Settings.__dataclass_fields__)
    renamed = {"GATEWAY_ENVIRONMENT": "environment"}
    for name in names:
        assert renamed.get(name, name.lower()) in fields, name


def test_provider_timeouts_always_end_before_the_platform_kills_the_request():
    """Connect + read at their maximum stay below Azure's 230 s HTTP limit and host.json's functionTimeout."""
    import json
    from pathlib import Path

    from gateway.config import MAX_CONNECT_TIMEOUT_SECONDS, MAX_READ_TIMEOUT_SECONDS

    host = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    function_timeout = hours * 3600 + minutes * 60 + seconds
    worst_case = MAX_CONNECT_TIMEOUT_SECONDS + MAX_READ_TIMEOUT_SECONDS
    assert worst_case < 230 < function_timeout
    with pytest.raises(SettingsError, match="PROXY_READ_TIMEOUT_SECONDS"):
        Settings.from_mapping({"GATEWAY_ENVIRONMENT": "development",
                               "PROXY_READ_TIMEOUT_SECONDS": str(MAX_READ_TIMEOUT_SECONDS + 1)})
