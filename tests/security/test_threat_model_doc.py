"""docs/security.md stays true: every test it names exists, every setting it names is real, and the
numbers it quotes match the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gateway.config import SETTINGS
from gateway.oauth.form import MAX_BODY_BYTES as TOKEN_BODY_BYTES
from gateway.oauth.known_clients import MISS_READS_PER_SECOND
from gateway.oauth.rate_limit import MAX_ENTRIES, SHARED_STORE_TIMEOUT_SECONDS
from gateway.outbound.destinations import METADATA_ADDRESSES
from gateway.proxy.verified_tokens import MEMO_SECONDS
from gateway.tokens.access_tokens import MAX_TOKEN_LENGTH, REQUIRED_CLAIMS
from gateway.tokens.keyring import LEEWAY_SECONDS, UNKNOWN_KID_REFRESH_SECONDS
from gateway.upstream.kind import REFRESH_MARGIN_SECONDS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_named_test_exists():
    references = REFERENCE.findall(DOC)
    assert len(references) >= 40
    missing = [f"{file}::{name}" for file, name in references
               if not (ROOT / file).is_file() or name not in _functions(ROOT / file)]
    assert missing == []


def test_every_security_test_is_named_in_the_threat_model():
    named = {(file, name) for file, name in REFERENCE.findall(DOC)}
    unnamed = []
    for path in sorted((ROOT / "tests" / "security").glob("test_*.py")):
        if path.name == "test_threat_model_doc.py":  # checks of this document, not threats
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module-level tests only (not the probe sources inside strings)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                if (f"tests/security/{path.name}", node.name) not in named:
                    unnamed.append(f"{path.name}::{node.name}")
    assert unnamed == ["test_secrets.py::test_raw_http_helper_is_loopback_only"]  # a check of the suite itself


def test_settings_and_numbers_match_the_code():
    settings = {spec.name: spec.default for spec in SETTINGS}
    for name in re.findall(r"`([A-Z][A-Z_]{5,})`", DOC):
        if name in ("FUNCHOST_BODY_TIMEOUT_SECONDS", "LOCAL_FUNCTION_KEY", "GATEWAY_ADMIN_URL", "GATEWAY_ADMIN_KEY"):
            continue
        assert name in settings, name
    assert f"`CLIENT_CACHE_SECONDS` ({settings['CLIENT_CACHE_SECONDS']} s" in DOC
    assert f"`ROUTE_CACHE_SECONDS` ({settings['ROUTE_CACHE_SECONDS']} s)" in DOC
    assert f"`SIGNING_KEY_CACHE_SECONDS` ({settings['SIGNING_KEY_CACHE_SECONDS']} s)" in DOC
    assert f"`STALE_IF_ERROR_SECONDS` ({settings['STALE_IF_ERROR_SECONDS']} s)" in DOC
    assert f"`TOKEN_LIFETIME_SECONDS` ({settings['TOKEN_LIFETIME_SECONDS']} s)" in DOC
    assert int(settings["MAX_REQUEST_BODY_BYTES"]) == 4 << 20 and "(4 MiB)" in DOC
    assert int(settings["PROXY_MAX_RESPONSE_BYTES"]) == 32 << 20 and "(32 MiB, decoded)" in DOC
    assert TOKEN_BODY_BYTES == 8192 and "Token endpoint: 8 KB" in DOC
    assert MEMO_SECONDS == 60 and "(proxy, `gateway/proxy/verified_tokens.py`) | 60 s" in DOC
    assert LEEWAY_SECONDS == 30 and "30 s leeway" in DOC
    assert 2 * LEEWAY_SECONDS == 60 and "TOKEN_LIFETIME_SECONDS + 60 s" in DOC
    assert UNKNOWN_KID_REFRESH_SECONDS == 60 and "at most one key-set refresh (three Key Vault calls) a minute" in DOC
    assert REFRESH_MARGIN_SECONDS == 60 and "until 60 s before they expire" in DOC
    assert MAX_ENTRIES == 100_000 and "(100 000 entries)" in DOC
    assert SHARED_STORE_TIMEOUT_SECONDS == 2 and "wait at most 2 s for the table" in DOC
    assert MISS_READS_PER_SECOND == 5 and "at most five single reads a second per worker" in DOC
    assert MAX_TOKEN_LENGTH == 4096 and "token ≤ 4096 characters" in DOC
    assert " ".join(REQUIRED_CLAIMS) in DOC
    for address in METADATA_ADDRESSES:
        assert str(address) in DOC
