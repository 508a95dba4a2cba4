"""`.funcignore` keeps tests, dev tools, local settings, infra and the venv out of the published package.

`func azure functionapp publish` reads .funcignore with gitignore semantics; ``ignored`` below is a
small gitignore matcher (patterns, trailing ``/`` for directories, ``!`` negation, leading ``/``
anchoring, a match on any parent directory excludes everything under it).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def patterns() -> list[str]:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _matches(pattern: str, path: str, is_dir: bool) -> bool:
    directory_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    if directory_only and not is_dir:
        return False
    if "/" in pattern.lstrip("/"):
        return fnmatchcase(path, pattern.lstrip("/"))
    if pattern.startswith("/"):
        return fnmatchcase(path, pattern[1:])
    return fnmatchcase(path.rsplit("/", 1)[-1], pattern)


def ignored(path: str, rules: list[str] | None = None) -> bool:
    """Whether ``path`` (relative, posix) is left out, by its own name or a parent directory's."""
    rules = patterns() if rules is None else rules
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        is_dir = depth < len(parts) or path.endswith("/")
        excluded = False
        for rule in rules:
            negated = rule.startswith("!")
            if _matches(rule[1:] if negated else rule, prefix, is_dir):
                excluded = not negated
        if excluded:
            return True
    return False


def test_matcher_follows_gitignore_rules():
    rules = ["build/", "*.pyc", "/top.txt", "docs", "!keep.pyc"]
    assert ignored("build/x.py", rules) and not ignored("build", rules)
    assert ignored("a/b/c.pyc", rules) and not ignored("a/keep.pyc", rules)
    assert ignored("top.txt", rules) and not ignored("sub/top.txt", rules)
    assert ignored("docs/deploy.md", rules) and ignored("a/docs", rules)
    assert not ignored("gateway/config.py", rules)


@pytest.mark.parametrize("path", [
    "tests/conftest.py", "tests/infra/test_funcignore.py",
    "devtools/smoke_test.py", "devtools/funchost/__main__.py",
    "bench/proxy.py", "docs/deploy.md",
    "infra/main.bicep", "infra/app/rbac.bicep",
    "local.settings.json", "local.settings.sample.json", "local.settings.production.json",
    ".venv/bin/python", ".venv/lib/python3.11/site-packages/jwt/__init__.py",
    "node_modules/azurite/package.json",
    ".git/HEAD", ".gitignore", ".github/workflows/ci.yml",
    "requirements-dev.txt", "requirements-infra.txt", "requirements-dstu2.txt",
    "azure.yaml",
    ".venv-infra/bin/checkov", ".venv-dstu2/bin/python", "docs/operations.md",
    "infra/core/monitor/queries/token-failures.kql",
    "gateway/__pycache__/config.cpython-311.pyc",
])
def test_excluded_from_the_package(path: str):
    assert ignored(path), f"{path} would be published"


def shipped_paths() -> list[str]:
    paths = ["host.json", "requirements.txt"]
    paths += [p.relative_to(ROOT).as_posix() for p in (ROOT / "gateway").rglob("*.py")]
    paths += [p.relative_to(ROOT).as_posix() for folder in ROOT.glob("*_fn") for p in folder.iterdir()
              if p.suffix in (".py", ".json")]
    return paths


def test_the_function_folders_exist():
    assert {p.name for p in ROOT.glob("*_fn")} >= {"metadata_fn", "token_fn", "fhir_proxy_fn", "admin_fn"}


@pytest.mark.parametrize("path", shipped_paths())
def test_shipped(path: str):
    assert not ignored(path), f"{path} must be published"
