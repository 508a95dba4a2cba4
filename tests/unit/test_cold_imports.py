"""A cold worker loads each function light: the function's module imports none of the heavy libraries (the Azure
SDKs, aiohttp, pyjwt, cryptography, OpenTelemetry); its code, and what that code needs, load on the first request
that needs them (``gateway.services`` builds each part on first use). ``make bench`` (bench.cold_start) measures
the import times and the time to the first answer; this test keeps the first from creeping back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(folder.name for folder in ROOT.glob("*_fn"))
HEAVY = ("aiohttp", "jwt", "cryptography", "azure.core", "azure.data", "azure.keyvault", "azure.identity",
         "azure.monitor", "opentelemetry", "fhir.resources")


def test_every_function_folder_is_checked():
    assert FUNCTIONS == ["admin_fn", "fhir_proxy_fn", "metadata_fn", "token_fn"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_functions_module_imports_no_heavy_library(function):
    code = (f"import sys, {function}; "
            f"print(sorted({{m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "[]", f"{function} imports {out.stdout.strip()} when it loads"


def test_the_check_sees_a_heavy_import():
    code = ("import sys, gateway.tokens.keys; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules if m.startswith({HEAVY!r})}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "['cryptography']"  # the signing keys need it: loaded with the token code
