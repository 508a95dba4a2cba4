"""docs/architecture.md draws what the code holds: every per-worker part of ``Services``, and every function's
surface behind the one entry adapter."""

from __future__ import annotations

import ast
import re
from functools import cached_property
from pathlib import Path

from gateway.entry import Surface
from gateway.services import Services

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_the_per_worker_parts_drawn_are_the_ones_services_builds():
    built = {name for name, value in vars(Services).items() if isinstance(value, cached_property | property)}
    tree = DOC.split("```\nServices\n", 1)[1].split("```", 1)[0]
    words = set(re.findall(r"\b[a-z]+(?:_[a-z]+)*\b", tree))
    assert built <= words, "parts missing from the drawing"
    named = {word for word in words if "_" in word} - {"failure_counters", "provider_keys", "legacy_ids"}  # stores
    assert named <= built, "parts drawn that Services does not build"


def test_every_function_folder_serves_a_surface_through_the_adapter():
    for folder in sorted(ROOT.glob("*_fn")):
        source = (folder / "__init__.py").read_text()
        module = next(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
                      and node.module and node.module.startswith("gateway.") and node.module != "gateway.azure_http")
        imported = __import__(module.module, fromlist=["handle"])
        assert isinstance(imported.handle, Surface), folder.name
        assert f"`{module.module.removeprefix('gateway.').replace('.', '/')}.py`" in DOC, folder.name
