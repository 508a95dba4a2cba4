"""Just enough Bicep reading for the infra tests (Bicep itself cannot be compiled on these machines).

``strip`` removes comments and, with ``keep_strings=False``, string contents too: each string
literal becomes ``''`` followed by its interpolated expressions in parentheses, so
brackets can be counted and identifiers found without tripping over URLs and text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def _scan(src: str, i: int, keep_strings: bool, in_interpolation: bool) -> tuple[str, int]:
    out: list[str] = []
    depth = 0
    n = len(src)
    while i < n:
        c = src[i]
        two = src[i:i + 2]
        if two == "//":
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif two == "/*":
            end = src.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated block comment")
            i = end + 2
        elif c == "'":
            start = i
            i, expressions = _string(src, i + 1, keep_strings)
            out.append(src[start:i] if keep_strings else "''" + "".join(f"({e})" for e in expressions))
        elif in_interpolation and c == "{":
            depth += 1
            out.append(c)
            i += 1
        elif in_interpolation and c == "}":
            if depth == 0:
                return "".join(out), i + 1
            depth -= 1
            out.append(c)
            i += 1
        else:
            out.append(c)
            i += 1
    if in_interpolation:
        raise ValueError("unterminated string interpolation")
    return "".join(out), i


def _string(src: str, i: int, keep_strings: bool) -> tuple[int, list[str]]:
    expressions: list[str] = []
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
        elif c == "'":
            return i + 1, expressions
        elif c == "\n":
            raise ValueError(f"unterminated string near {src[max(0, i - 40):i]!r}")
        elif src[i:i + 2] == "${":
            expression, i = _scan(src, i + 2, keep_strings, True)
            expressions.append(expression)
        else:
            i += 1
    raise ValueError("unterminated string")


def strip(src: str, *, keep_strings: bool = False) -> str:
    """``src`` without comments (and without string contents unless ``keep_strings``)."""
    text, _ = _scan(src, 0, keep_strings, False)
    return text


def matching(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` in stripped text."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = [pairs[text[open_at]]]
    for i in range(open_at + 1, len(text)):
        c = text[i]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if c != stack.pop():
                raise ValueError(f"mismatched {c!r} at {i}")
            if not stack:
                return i
    raise ValueError("unbalanced brackets")


def object_entries(text: str, open_at: int) -> dict[str, str]:
    """Top-level ``key: value`` entries of the object literal opening at ``open_at`` (stripped text)."""
    close = matching(text, open_at)
    entries: dict[str, str] = {}
    i = open_at + 1
    key_pattern = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*")
    while i < close:
        line_end = text.find("\n", i)
        line_end = close if line_end < 0 or line_end > close else line_end
        match = key_pattern.match(text, i, line_end)
        if match is None:
            i = line_end + 1
            continue
        value_start = match.end()
        j = value_start
        while j < close and text[j] != "\n":
            if text[j] in "{[(":
                j = matching(text, j)
            j += 1
        entries[match.group(1)] = text[value_start:j].strip()
        i = j + 1
    return entries


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None


@dataclass
class BicepFile:
    path: Path
    source: str

    @classmethod
    def load(cls, path: Path) -> BicepFile:
        return cls(path, path.read_text(encoding="utf-8"))

    @property
    def code(self) -> str:
        """Comments and string contents removed."""
        return strip(self.source)

    @property
    def text(self) -> str:
        """Comments removed, strings kept."""
        return strip(self.source, keep_strings=True)

    def params(self) -> dict[str, Param]:
        found = {}
        for match in re.finditer(r"(?m)^param\s+(\w+)\s+(\w+)(?:\s*=\s*(.+))?$", self.text):
            found[match.group(1)] = Param(match.group(1), match.group(2),
                                          match.group(3).strip() if match.group(3) else None)
        return found

    def param_decorators(self) -> dict[str, dict[str, object]]:
        """Bounds of each parameter: ``minValue``, ``maxValue``, ``minLength``, ``maxLength``, ``allowed``.

        Only the decorators the tests compare; ``@description`` and ``@metadata`` are skipped.
        """
        found: dict[str, dict[str, object]] = {}
        pending: dict[str, object] = {}
        lines = self.text.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            if line.startswith("@allowed(["):
                values = []
                i += 1
                while lines[i].strip() != "])":
                    values.append(_literal(lines[i].strip()))
                    i += 1
                pending["allowed"] = values
            elif match := re.fullmatch(r"@(minValue|maxValue|minLength|maxLength)\((-?\d+)\)", line):
                pending[match.group(1)] = int(match.group(2))
            elif match := re.match(r"param\s+(\w+)\s", line):
                found[match.group(1)] = pending
                pending = {}
            elif re.match(r"(resource|module|output|var|type|func)\s", line):
                pending = {}
            i += 1
        return found

    def modules(self) -> dict[str, str]:
        """Symbolic name -> module path as written."""
        return dict(re.findall(r"(?m)^\s*module\s+(\w+)\s+'([^']+)'", self.text))

    def var_object(self, name: str) -> dict[str, str]:
        """Entries of ``var <name> = { ... }`` (values with string contents kept)."""
        text = self.text
        match = re.search(rf"(?m)^var\s+{re.escape(name)}\s*=", text)
        if match is None:
            raise KeyError(f"{self.path.name}: no var {name}")
        line_end = text.find("\n", match.end())
        i = text.find("{", match.end(), line_end)
        while i >= 0:  # the object that spans lines (``cond ? {} : {`` skips the empty one)
            close = matching(text, i)
            if "\n" in text[i:close]:
                return object_entries(text, i)
            i = text.find("{", close, line_end)
        raise KeyError(f"{self.path.name}: var {name} is not a multi-line object")

    def object_vars(self, suffix: str) -> list[str]:
        return re.findall(rf"(?m)^var\s+(\w+{re.escape(suffix)})\s*=", self.text)

    def resources(self, type_prefix: str) -> list[tuple[str, dict[str, str], str]]:
        """(symbolic name, top-level entries, full body) of each resource whose type starts with ``type_prefix``."""
        text = self.text
        found = []
        pattern = rf"(?m)^\s*resource\s+(\w+)\s+'{re.escape(type_prefix)}[^']*'\s*=\s*(?:if\s*\(.*?\)\s*)?{{"
        for match in re.finditer(pattern, text):
            open_at = match.end() - 1
            found.append((match.group(1), object_entries(text, open_at), text[open_at:matching(text, open_at) + 1]))
        return found


def _literal(token: str) -> object:
    """A Bicep literal of an ``@allowed`` list: ``'text'`` or an integer."""
    if token.startswith("'") and token.endswith("'"):
        return token[1:-1]
    return int(token)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))
