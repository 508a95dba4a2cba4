"""SMART system scopes the demo provider grants and enforces (read-only server).

SMART App Launch 2.x §Scopes and Launch Context: v2 ``system/<Type|*>.<cruds>``
(letters in that order, at least one) and v1 ``system/<Type|*>.<read|write|*>``.
This server only reads, so it grants a requested scope when it asks for no more
than read (``r``) and search (``s``): ``system/*.rs``, ``system/Patient.r``,
``system/Observation.read``... Anything else (writes, ``patient/``/``user/``
scopes, ``openid``, malformed text) makes the whole request ``invalid_scope``
(RFC 6749 §5.2). A granted v1 ``read`` covers both read and search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]{0,63})\.(?:(c?r?u?d?s?)|(read|write|\*))$")
READ, SEARCH = "r", "s"


class ScopeError(ValueError):
    """A requested scope this server does not grant; the message names the scope, which is not secret."""


@dataclass(frozen=True)
class Scope:
    resource_type: str  # a type or "*"
    interactions: frozenset[str]
    text: str

    def allows(self, resource_type: str, interaction: str) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.interactions


def parse(text: str) -> Scope:
    """One grantable scope, or :class:`ScopeError`."""
    match = _SCOPE.match(text)
    if match is None or match.group(2) == "":
        raise ScopeError(f"scope {text[:80]!r} is not a SMART system scope")
    resource_type, v2, v1 = match.groups()
    letters = set(v2) if v2 is not None else ({READ, SEARCH} if v1 == "read" else {"c", "u", "d"})
    if not letters <= {READ, SEARCH}:
        raise ScopeError(f"scope {text[:80]!r} asks for more than read and search; this server is read-only")
    return Scope(resource_type, frozenset(letters), text)


def grant(requested: str | None) -> tuple[Scope, ...]:
    """The scopes of a token request's space-separated ``scope`` (RFC 6749 §3.3), all of them or none."""
    names = list(dict.fromkeys((requested or "").split()))
    if not names:
        raise ScopeError("scope is required (for example system/*.rs)")
    return tuple(parse(name) for name in names)


def allows(scopes: Iterable[Scope], resource_type: str, interaction: str) -> bool:
    return any(scope.allows(resource_type, interaction) for scope in scopes)
