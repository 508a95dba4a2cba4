"""Route templates and matching as the Functions host does them (ASP.NET Core routing).

Template syntax (https://learn.microsoft.com/aspnet/core/fundamentals/routing#route-templates):
literal segments (matched case-insensitively), ``{name}``, ``{name?}`` and ``{name=default}``
(only in trailing segments), ``{name:constraint(args)...}``, and a final ``{*name}`` / ``{**name}``
catch-all that also matches an empty remainder. In a template ``{{`` and ``}}`` stand for literal
braces (so a regex constraint writes ``\\d{{3}}``).

Order: the Functions host tries the routes of HTTP functions in the order it registers them and takes the first
whose template, constraints *and* HTTP methods match; there is no precedence between templates. It registers them
in the order of the function names, compared ordinally and case-insensitively (azure-functions-host
``FunctionMetadataManager`` sorts the metadata by name, ``WebScriptHostHttpRoutesManager`` maps one route per
function in that order, and Microsoft.Azure.WebJobs.Extensions.Http 3.2.0's ``WebJobsRouteBuilder.Build`` adds
them to one ASP.NET Core ``RouteCollection`` unsorted). So ``fhir_metadata_fn``'s ``fhir/{*path:regex(...)}``
must sort before ``fhir_proxy_fn``'s ``fhir/{*path}``, and a ``POST /fhir/metadata`` that ``fhir_metadata_fn``
(GET, HEAD) refuses falls through to the proxy.

Paths are matched the way Kestrel hands them to routing: percent-decoded except ``%2F`` (which
stays encoded, so a catch-all keeps it), dot segments removed, a trailing slash ignored.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import unquote_to_bytes

T = TypeVar("T")

LITERAL, PARAMETER, CATCH_ALL = "literal", "parameter", "catch-all"


class TemplateError(ValueError):
    """A route template the Functions host would refuse to load."""


Constraint = Callable[[str], bool]


@dataclass(frozen=True)
class Segment:
    """One ``/``-separated part of a template."""

    kind: str
    text: str  # literal text, or parameter name
    optional: bool = False
    default: str | None = None
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class RouteTemplate:
    """A parsed template such as ``fhir/{document:regex(^metadata$)}/{detail?}``."""

    text: str
    segments: tuple[Segment, ...]
    _literals: tuple[str, ...] = field(repr=False, compare=False, default=())

    def match(self, parts: Sequence[str], rest: Callable[[int], str]) -> dict[str, str] | None:
        """Route values when the path ``parts`` match, else None.

        ``rest(i)`` gives the decoded path from segment ``i`` on (what a catch-all captures).
        Absent optional values are left out, as the Functions host leaves out null route data.
        """
        values: dict[str, str] = {}
        count = len(parts)
        for index, segment in enumerate(self.segments):
            if segment.kind == CATCH_ALL:
                remainder = rest(index)
                if remainder:
                    if not all(check(remainder) for check in segment.constraints):
                        return None
                    values[segment.text] = remainder
                elif segment.default is not None:
                    values[segment.text] = segment.default
                elif segment.constraints:
                    return None  # a constraint on a missing value fails, as in ASP.NET Core
                return values
            if index >= count:
                if segment.kind == PARAMETER and (segment.optional or segment.default is not None):
                    if segment.default is not None:
                        values[segment.text] = segment.default
                    continue
                return None
            value = parts[index]
            if segment.kind == LITERAL:
                if value.lower() != self._literals[index]:
                    return None
                continue
            if not value or not all(check(value) for check in segment.constraints):
                return None
            values[segment.text] = value
        return values if count <= len(self.segments) else None


# --- constraints (https://learn.microsoft.com/aspnet/core/fundamentals/routing#route-constraints) ---

_INTEGER = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)\s*", re.ASCII)
_GUID = re.compile(
    r"\s*([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"
    r"|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\))\s*",
    re.IGNORECASE | re.ASCII,
)
_ALPHA = re.compile(r"[a-z]*", re.IGNORECASE | re.ASCII)


def _integer(bits: int) -> Constraint:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return lambda v: bool(_INTEGER.fullmatch(v)) and low <= int(v) <= high


def _as_long(value: str) -> int | None:
    return int(value) if _INTEGER.fullmatch(value) else None


def _number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value)) and math.isfinite(float(value))


def _datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _guid(value: str) -> bool:
    if not _GUID.fullmatch(value):
        return False
    uuid.UUID(value.strip().strip("{}()"))
    return True


def _args(name: str, args: str | None, count: Iterable[int]) -> list[str]:
    parts = [] if args is None else [a.strip() for a in args.split(",")]
    if len(parts) not in set(count):
        raise TemplateError(f"the constraint '{name}' takes {' or '.join(map(str, count))} argument(s)")
    return parts


def _int_args(name: str, args: str | None, count: Iterable[int]) -> list[int]:
    try:
        return [int(a) for a in _args(name, args, count)]
    except ValueError:
        raise TemplateError(f"the constraint '{name}' needs integer arguments") from None


def _regex(pattern: str) -> Constraint:
    try:  # .NET RegexRouteConstraint: IgnoreCase | CultureInvariant, IsMatch (unanchored)
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise TemplateError(f"invalid regex constraint {pattern!r}: {exc}") from None
    return lambda v: compiled.search(v) is not None


def make_constraint(name: str, args: str | None) -> Constraint:
    """The check for one inline constraint, e.g. ``make_constraint("length", "2,5")``."""
    key = name.lower()
    if key in ("int", "long", "bool", "guid", "alpha", "decimal", "double", "float", "datetime", "required"):
        _args(name, args, (0,))
    if key == "int":
        return _integer(32)
    if key == "long":
        return _integer(64)
    if key == "bool":
        return lambda v: v.strip().lower() in ("true", "false")
    if key == "guid":
        return _guid
    if key == "alpha":
        return lambda v: bool(_ALPHA.fullmatch(v))
    if key in ("double", "float"):
        return _number
    if key == "decimal":
        return lambda v: bool(_DECIMAL.fullmatch(v))
    if key == "datetime":
        return _datetime
    if key == "required":
        return lambda v: v != ""
    if key == "minlength":
        (low,) = _int_args(name, args, (1,))
        return lambda v: len(v) >= low
    if key == "maxlength":
        (high,) = _int_args(name, args, (1,))
        return lambda v: len(v) <= high
    if key == "length":
        bounds = _int_args(name, args, (1, 2))
        low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        return lambda v: low <= len(v) <= high
    if key in ("min", "max", "range"):
        bounds = _int_args(name, args, (2,) if key == "range" else (1,))
        low = bounds[0] if key != "max" else -(2**63)
        high = bounds[-1] if key != "min" else 2**63 - 1

        def in_range(value: str) -> bool:
            number = _as_long(value)
            return number is not None and low <= number <= high

        return in_range
    if key == "regex":
        if args is None:
            raise TemplateError("the constraint 'regex' needs a pattern")
        return _regex(args)
    raise TemplateError(f"The constraint reference '{name}' could not be resolved to a type.")


# --- template parsing ---


def _split_segments(template: str) -> list[str]:
    """Split on '/' outside parameters; unescape ``{{``/``}}`` outside parameters later."""
    segments: list[str] = []
    current: list[str] = []
    depth = 0
    i = 0
    while i < len(template):
        char = template[i]
        if char in "{}" and template[i + 1 : i + 2] == char:
            current.append(char * 2)
            i += 2
            continue
        if char == "{":
            if depth:
                raise TemplateError(f"unexpected '{{' in route template {template!r}")
            depth = 1
        elif char == "}":
            if not depth:
                raise TemplateError(f"unexpected '}}' in route template {template!r}")
            depth = 0
        elif char == "/" and not depth:
            segments.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    if depth:
        raise TemplateError(f"unterminated parameter in route template {template!r}")
    segments.append("".join(current))
    return segments


def _parse_constraints(text: str, template: str) -> list[Constraint]:
    """``int:min(1):regex(^a(b|c)$)`` -> checks; an argument ends at ``)`` followed by ``:`` or the end."""
    constraints: list[Constraint] = []
    i = 0
    while i < len(text):
        end = i
        while end < len(text) and text[end] not in ":(":
            end += 1
        name = text[i:end]
        if not name:
            raise TemplateError(f"empty constraint in route template {template!r}")
        args = None
        if end < len(text) and text[end] == "(":
            close = end + 1
            while True:
                close = text.find(")", close)
                if close < 0:
                    raise TemplateError(f"unterminated constraint argument in route template {template!r}")
                if close + 1 == len(text) or text[close + 1] == ":":
                    break
                close += 1
            args = text[end + 1 : close]
            end = close + 1
        constraints.append(make_constraint(name, args))
        i = end + 1 if end < len(text) else end
    return constraints


def _parse_parameter(body: str, template: str) -> Segment:
    body = body.replace("{{", "{").replace("}}", "}")
    kind = PARAMETER
    if body.startswith("**"):
        kind, body = CATCH_ALL, body[2:]
    elif body.startswith("*"):
        kind, body = CATCH_ALL, body[1:]
    match = re.match(r"[^:=?]+", body)
    if not match or not match.group().strip():
        raise TemplateError(f"a parameter needs a name in route template {template!r}")
    name = match.group().strip()
    rest = body[match.end() :]
    optional, default = False, None
    if "=" in rest and not rest.startswith(":"):
        rest, default = "", rest[1:]
    elif rest.endswith("?") and not rest.endswith("\\?"):
        optional, rest = True, rest[:-1]
    if rest.startswith(":"):
        constraint_text = rest[1:]
        equals = constraint_text.find("=", constraint_text.rfind(")") + 1)
        if equals >= 0:
            constraint_text, default = constraint_text[:equals], constraint_text[equals + 1 :]
        constraints = _parse_constraints(constraint_text, template)
    elif rest:
        raise TemplateError(f"invalid parameter '{{{body}}}' in route template {template!r}")
    else:
        constraints = []
    if kind == CATCH_ALL and optional:
        raise TemplateError(f"a catch-all parameter cannot be marked optional in route template {template!r}")
    return Segment(kind, name, optional, default, tuple(constraints))


def parse_template(template: str) -> RouteTemplate:
    """Parse a route template (prefix already joined); raise :class:`TemplateError` when invalid."""
    text = template.strip("/")
    segments: list[Segment] = []
    for raw in _split_segments(text) if text else []:
        if not raw:
            raise TemplateError(f"The route template {template!r} contains an empty segment.")
        if raw.startswith("{") and raw.endswith("}") and raw.count("{") - 2 * raw.count("{{") == 1:
            segments.append(_parse_parameter(raw[1:-1], template))
        elif "{" in raw.replace("{{", "") or "}" in raw.replace("}}", ""):
            raise TemplateError(f"complex segment '{raw}' (literal text mixed with a parameter) is not supported "
                                "by the local host")
        else:
            segments.append(Segment(LITERAL, raw.replace("{{", "{").replace("}}", "}")))
    names = [s.text.lower() for s in segments if s.kind != LITERAL]
    if len(names) != len(set(names)):
        raise TemplateError(f"The route parameter name is repeated in route template {template!r}")
    for index, segment in enumerate(segments):
        if segment.kind == CATCH_ALL and index != len(segments) - 1:
            raise TemplateError(f"A catch-all parameter can only appear as the last segment of {template!r}")
        if segment.optional or segment.default is not None:
            if any(s.kind == LITERAL or not (s.optional or s.default is not None or s.kind == CATCH_ALL)
                   for s in segments[index + 1 :]):
                raise TemplateError(f"An optional parameter must be at the end of route template {template!r}")
    literals = tuple(s.text.lower() if s.kind == LITERAL else "" for s in segments)
    return RouteTemplate(text, tuple(segments), literals)


def join_prefix(prefix: str, route: str) -> str:
    """``extensions.http.routePrefix`` joined to a function's route (an empty prefix adds nothing)."""
    prefix, route = prefix.strip("/"), route.strip("/")
    return f"{prefix}/{route}" if prefix and route else prefix or route


# --- path decoding (what Kestrel hands to routing) ---

_PERCENT = re.compile(rb"%(?![2][fF])[0-9A-Fa-f]{2}")


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a raw request path except ``%2F``; invalid UTF-8 stays encoded; dot segments removed."""
    if b"%" in raw_path:
        decoded = _PERCENT.sub(lambda m: unquote_to_bytes(m.group()), raw_path)
        try:
            path = decoded.decode("utf-8")
        except UnicodeDecodeError:
            path = raw_path.decode("latin-1")
    else:
        path = raw_path.decode("latin-1")
    if "/." in path:
        path = _remove_dot_segments(path)
    return path


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, as Kestrel's PathNormalizer applies it."""
    output: list[str] = []
    parts = path.split("/")
    for index, part in enumerate(parts):
        if part == ".":
            if index == len(parts) - 1:
                output.append("")
            continue
        if part == "..":
            if len(output) > 1:
                output.pop()
            if index == len(parts) - 1:
                output.append("")
            continue
        output.append(part)
    result = "/".join(output)
    return result if result.startswith("/") else "/" + result


# --- the route table ---


@dataclass(frozen=True)
class Route(Generic[T]):
    """A template bound to a target (a function) and the methods it accepts (None: all)."""

    template: RouteTemplate
    methods: frozenset[str] | None
    target: T


@dataclass(frozen=True)
class Match(Generic[T]):
    route: Route[T]
    values: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    """The path matched some routes, but none accepts the method."""

    allowed: tuple[str, ...]


class RouteTable(Generic[T]):
    """Routes tried first to last in the order they were added (the host's: by function name, see the module
    docstring)."""

    def __init__(self, routes: Iterable[Route[T]]) -> None:
        self.routes: tuple[Route[T], ...] = tuple(routes)

    def resolve(self, method: str, path: str) -> Match[T] | MethodNotAllowed | None:
        """The first route matching ``path`` (decoded, see :func:`decode_path`) and ``method``."""
        text = path[1:] if path.startswith("/") else path
        full = text.split("/")
        parts = full[:-1] if text.endswith("/") or not text else full

        def rest(index: int) -> str:
            return "/".join(full[index:]) if index < len(full) else ""

        allowed: set[str] = set()
        for route in self.routes:
            values = route.template.match(parts, rest)
            if values is None:
                continue
            if route.methods is None or method in route.methods:
                return Match(route, values)
            allowed |= route.methods
        return MethodNotAllowed(tuple(sorted(allowed))) if allowed else None
