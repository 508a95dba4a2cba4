"""The core runs without the Functions runtime: only the entry adapter imports ``azure.functions``."""

import subprocess
import sys

import pytest

CORE_MODULES = ["gateway.http", "gateway.proxy.forward", "gateway.oauth.endpoint"]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_modules_load_without_azure_functions(module: str) -> None:
    script = (f"import sys, {module}; "
              "print(sorted(name for name in sys.modules if name.split('.')[:2] == ['azure', 'functions']))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_the_entry_adapter_is_what_brings_azure_functions() -> None:
    script = "import sys, gateway.azure_http; print('azure.functions' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"
