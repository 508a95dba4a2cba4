"""The README's configuration reference and the local sample stay in step with the settings the code reads."""

import json
from pathlib import Path

from gateway.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [spec.name for spec in SETTINGS if f"`{spec.name}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:4]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_local_sample_works_as_development_settings():
    from gateway.config import Settings

    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    settings = Settings.from_mapping(values)
    assert settings.environment == "development"
    assert settings.key_vault_url and settings.tables_connection_string


def test_readme_defaults_and_ranges_are_the_declared_ones():
    """The README table's Default column, and each range it quotes, say what the declarations in config.py say."""
    import re

    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.fullmatch(r"\| `([A-Z0-9_]+)` \| ([^|]+) \| (.+) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2).strip(), match.group(3))
    for spec in SETTINGS:
        default, meaning = rows[spec.name]
        if spec.default is not None:
            assert default == f"`{spec.default}`", spec.name
        else:
            assert default == ("required in production" if spec.required_in_production else "unset"), spec.name
        quoted = re.search(r"\((\d+(?:\.\d+)?)\.\.(\d+(?:\.\d+)?)", meaning)
        if quoted:
            assert spec.bounds is not None, spec.name
            assert (float(quoted.group(1)), float(quoted.group(2))) == spec.bounds, spec.name
