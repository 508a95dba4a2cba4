"""A structural lint of infra/*.bicep in Python: what `az bicep build` would refuse first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, BicepFile, bicep_files, matching

FILES = bicep_files()
IDS = [path.relative_to(INFRA).as_posix() for path in FILES]


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_parses_as_bicep(path: Path):
    """A real Bicep grammar (tree-sitter-bicep): no ERROR or MISSING node anywhere."""
    import tree_sitter
    import tree_sitter_bicep

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    root = parser.parse(path.read_bytes()).root_node
    problems = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            line, column = node.start_point
            problems.append(f"line {line + 1}, column {column + 1}: {node.type} {node.text[:60]!r}")
        stack.extend(node.children)
    assert not root.has_error and not problems, problems


def test_the_grammar_rejects_broken_bicep():
    import tree_sitter
    import tree_sitter_bicep

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    assert parser.parse(b"var settings = {\n  a: 'b'\n").root_node.has_error
    assert parser.parse(b"resource s 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'x\n}\n").root_node.has_error


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_brackets_balance(path: Path):
    code = BicepFile.load(path).code
    stack: list[str] = []
    pairs = {"(": ")", "[": "]", "{": "}"}
    for index, char in enumerate(code):
        if char in pairs:
            stack.append(pairs[char])
        elif char in ")]}":
            line = code.count("\n", 0, index) + 1
            assert stack, f"unexpected {char!r} on line {line}"
            assert stack.pop() == char, f"mismatched {char!r} on line {line}"
    assert not stack, f"unclosed brackets: {stack}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_param_is_used_and_described(path: Path):
    bicep = BicepFile.load(path)
    code = bicep.code
    lines = bicep.text.splitlines()
    for name in bicep.params():
        uses = re.findall(rf"(?<![\w.]){re.escape(name)}\b", code)
        assert len(uses) >= 2, f"param {name} is never used"
        declaration = next(i for i, line in enumerate(lines) if re.match(rf"param\s+{name}\s", line))
        above = "\n".join(lines[max(0, declaration - 12):declaration])
        block = above.split("\n\n")[-1]
        assert "@description(" in block, f"param {name} has no @description"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_module_paths_exist_and_params_match(path: Path):
    bicep = BicepFile.load(path)
    text = bicep.text
    for symbol, relative in bicep.modules().items():
        target = (path.parent / relative).resolve()
        assert target.is_file(), f"module {symbol}: {relative} does not exist"
        target_params = BicepFile.load(target).params()
        match = re.search(rf"(?m)^\s*module\s+{symbol}\s+'[^']+'\s*=\s*(?:\[for [^:]+:\s*)?(?:if\s*\(.*?\)\s*)?\{{",
                          text)
        assert match, f"module {symbol}: body not found"
        body = text[match.end() - 1:matching(text, match.end() - 1) + 1]
        params_match = re.search(r"\bparams:\s*\{", body)
        passed = set()
        if params_match:
            from tests.infra.bicep import object_entries

            passed = set(object_entries(body, params_match.end() - 1))
        unknown = passed - set(target_params)
        assert not unknown, f"module {symbol} passes unknown params {sorted(unknown)}"
        required = {name for name, param in target_params.items() if param.default is None}
        assert required <= passed, f"module {symbol} misses required params {sorted(required - passed)}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_load_json_content_targets_exist(path: Path):
    for relative in re.findall(r"loadJsonContent\('([^']+)'\)", BicepFile.load(path).text):
        json.loads((path.parent / relative).read_text(encoding="utf-8"))


def test_abbreviations_used_exist():
    abbreviations = json.loads((INFRA / "abbreviations.json").read_text(encoding="utf-8"))
    used = set(re.findall(r"\babbrs\.(\w+)", BicepFile.load(INFRA / "main.bicep").code))
    assert used and used <= set(abbreviations)


def test_main_is_subscription_scoped_and_modules_target_the_resource_group():
    main = BicepFile.load(INFRA / "main.bicep")
    assert re.search(r"(?m)^targetScope = 'subscription'$", main.text)
    for symbol in main.modules():
        body_start = re.search(rf"(?m)^module\s+{symbol}\s", main.text).end()
        assert re.search(r"\bscope: rg\b", main.text[body_start:body_start + 400]), f"module {symbol} needs scope: rg"
