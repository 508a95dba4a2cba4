"""SMART system scopes: what a token may do (SMART App Launch 2.x, "Scopes and Launch Context",
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html, and "Backend Services").

The ``scope`` parameter of a token request (RFC 6749 §3.3: space-delimited, case-sensitive)
names exactly one Azure AD tenant GUID (compared case-insensitively, as the client credentials
grant always did) and, optionally, SMART *system* scopes:

- v2: ``system/<Type>.<cruds>`` and ``system/*.<cruds>``: the letters ``c r u d s`` (create,
  read, update, delete, search), each at most once and in that order (``rs``, ``cud``, ``cruds``).
- v1: ``system/<Type>.read``, ``.write`` and ``.*``, mapped onto v2 as the guide's table says:
  ``read`` = ``rs``, ``write`` = ``cud``, ``*`` = ``cruds``.

Anything else (another GUID, ``patient/`` or ``user/`` scopes, ``openid``, granular v2 scopes
with ``?`` parameters) is refused (:class:`ScopeRequestError`, which the token endpoint answers as
``invalid_scope``, RFC 6749 §5.2). Letters map onto FHIR interactions as in the
guide's "Scopes for requesting FHIR resources" table::

    c  create                      (type level)
    r  read, vread, history        (instance level)
    u  update, patch               (instance level)
    d  delete                      (instance level)
    s  search, history             (type and system level)

A :class:`SmartScopes` value is a set of permissions per resource type, ``*`` standing for
every type; it intersects, compares and prints itself in one stable order (``*`` first, then
types alphabetically; letters in ``cruds`` order), always in the v2 syntax.

Granting (:func:`grant_scopes`): a request naming only the tenant gets the client's allowed
scopes (default :data:`DEFAULT_ALLOWED_SCOPES`, ``system/*.rs``: what every client could do
before scopes existed); otherwise each asked scope must share at least one permission with the
allowed ones (else :class:`ScopeRequestError`) and the token gets the intersection of the asked and
the allowed scopes (RFC 6749 §3.3: the server may grant less than asked and says so in
the response's ``scope``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from gateway.stores.models import canonical_tenant_id

PERMISSION_LETTERS = "cruds"
"""The v2 permission letters in the only order the syntax allows."""
WILDCARD = "*"
MAX_SCOPE_TOKENS = 200
"""Enough for one scope per FHIR R4 resource type (about 150) and the tenant."""
MAX_SCOPE_LENGTH = 8192

Interaction = Literal["read", "vread", "history-instance", "history-type", "history-system",
                      "search-type", "search-system", "create", "update", "patch", "delete"]
"""FHIR restful interactions (R4 CapabilityStatement ``TypeRestfulInteraction`` / ``SystemRestfulInteraction``)."""

INTERACTION_LETTER: Mapping[Interaction, str] = MappingProxyType({
    "create": "c",
    "read": "r", "vread": "r", "history-instance": "r",
    "update": "u", "patch": "u",
    "delete": "d",
    "search-type": "s", "search-system": "s", "history-type": "s", "history-system": "s",
})
SYSTEM_INTERACTIONS: frozenset[Interaction] = frozenset({"search-system", "history-system"})

V1_PERMISSIONS: Mapping[str, str] = MappingProxyType({"read": "rs", "write": "cud", "*": "cruds"})
"""SMART App Launch 2.x, "Scopes for requesting FHIR resources": v1 suffix -> v2 letters."""

_TYPE = r"[A-Z][A-Za-z0-9]{0,63}"
_SCOPE = re.compile(rf"^system/(?P<type>{_TYPE}|\*)\.(?P<perms>[cruds]+|read|write|\*)$")


class ScopeSyntaxError(ValueError):
    """A scope token is not a SMART system scope; the message names no value and is safe to show."""


class ScopeRequestError(ValueError):
    """A token request's ``scope`` cannot be granted as asked; the message names no value and is safe to show
    (the OAuth layer answers it as ``invalid_scope``, RFC 6749 §5.2, with the message as its description)."""

    @property
    def description(self) -> str:
        return str(self)


def _letters(permissions: Iterable[str]) -> str:
    chosen = set(permissions)
    return "".join(letter for letter in PERMISSION_LETTERS if letter in chosen)


def parse_scope_token(token: str) -> tuple[str, frozenset[str]]:
    """``(resource type or "*", permission letters)`` of one SMART system scope, v1 or v2."""
    match = _SCOPE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise ScopeSyntaxError("not a SMART system scope (system/<Type>.<cruds> or system/<Type>.read|write|*)")
    perms = match.group("perms")
    if perms in V1_PERMISSIONS:
        return match.group("type"), frozenset(V1_PERMISSIONS[perms])
    if _letters(perms) != perms:  # "sr", "rr": each letter once, in cruds order (SMART 2.x)
        raise ScopeSyntaxError("SMART v2 permissions are the letters c, r, u, d, s, each at most once, in that order")
    return match.group("type"), frozenset(perms)


class SmartScopes:
    """Granted permissions per resource type (``*``: every type), normalised and immutable.

    Normal form: no empty entry, and no type repeats a letter that ``*`` already grants, so
    two values granting the same access are equal and print the same.
    """

    __slots__ = ("_permissions",)

    def __init__(self, permissions: Mapping[str, Iterable[str]] | None = None) -> None:
        raw = {key: frozenset(value) for key, value in (permissions or {}).items()}
        for key, letters in raw.items():
            if key != WILDCARD and not re.fullmatch(_TYPE, key):
                raise ScopeSyntaxError("a resource type is not a FHIR resource type name")
            if not letters <= set(PERMISSION_LETTERS):
                raise ScopeSyntaxError("SMART permissions are the letters c, r, u, d, s")
        everywhere = raw.get(WILDCARD, frozenset())
        normal = {key: letters - everywhere if key != WILDCARD else letters for key, letters in raw.items()}
        self._permissions: Mapping[str, frozenset[str]] = MappingProxyType(
            {k: v for k, v in sorted(normal.items()) if v})  # "*" sorts before every type name

    @property
    def permissions(self) -> Mapping[str, frozenset[str]]:
        """Letters per resource type (``*`` first, then alphabetically), normalised."""
        return self._permissions

    # -- building -------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> SmartScopes:
        """The union of space-separated SMART system scopes (v1 or v2); :class:`ScopeSyntaxError` otherwise."""
        tokens = text.split() if isinstance(text, str) else list(text)
        if len(tokens) > MAX_SCOPE_TOKENS:
            raise ScopeSyntaxError("too many scope values")
        result: dict[str, set[str]] = {}
        for token in tokens:
            resource_type, letters = parse_scope_token(token)
            result.setdefault(resource_type, set()).update(letters)
        return cls(result)

    # -- algebra --------------------------------------------------------------------------------------------

    def letters_for(self, resource_type: str | None) -> frozenset[str]:
        """Letters granted on ``resource_type``; None (system level: every type at once) looks at ``*`` only."""
        everywhere = self.permissions.get(WILDCARD, frozenset())
        if resource_type is None:
            return everywhere
        return everywhere | self.permissions.get(resource_type, frozenset())  # "*": everywhere alone

    def __and__(self, other: SmartScopes) -> SmartScopes:
        """What both grant, type by type (for every type, letters_for of the result = both letters_for's ∩)."""
        keys = (set(self.permissions) | set(other.permissions)) - {WILDCARD}
        result = {key: self.letters_for(key) & other.letters_for(key) for key in keys}
        result[WILDCARD] = self.letters_for(None) & other.letters_for(None)
        return SmartScopes(result)

    def __or__(self, other: SmartScopes) -> SmartScopes:
        keys = set(self.permissions) | set(other.permissions)
        return SmartScopes({key: self.permissions.get(key, frozenset()) | other.permissions.get(key, frozenset())
                            for key in keys})

    def covers(self, other: SmartScopes) -> bool:
        """True when everything ``other`` grants is granted here too."""
        return (other & self) == other

    def __bool__(self) -> bool:
        return bool(self.permissions)

    def allows(self, resource_type: str | None, interaction: Interaction) -> bool:
        """May a request do ``interaction`` on ``resource_type``?

        System-level interactions (``search-system``, ``history-system``) and ``resource_type``
        None ask for every type at once: only ``*`` scopes grant them.
        """
        letter = INTERACTION_LETTER.get(interaction)
        if letter is None:
            raise ValueError("not a FHIR interaction")
        target = None if interaction in SYSTEM_INTERACTIONS else resource_type
        return letter in self.letters_for(target)

    def readable(self, resource_type: str | None) -> bool:
        """May resources of this type (None: of every type) appear in an answer (``r`` or ``s``)?"""
        return bool(self.letters_for(resource_type) & {"r", "s"})

    # -- printing -------------------------------------------------------------------------------------------

    def tokens(self) -> tuple[str, ...]:
        """The v2 scope tokens, ``*`` first, then types alphabetically."""
        return tuple(f"system/{key}.{_letters(letters)}" for key, letters in self.permissions.items())

    def __str__(self) -> str:
        return " ".join(self.tokens())

    def __repr__(self) -> str:
        return f"SmartScopes({str(self)!r})"

    def __hash__(self) -> int:
        return hash(tuple(self.permissions.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SmartScopes) and dict(self.permissions) == dict(other.permissions)


DEFAULT_ALLOWED_SCOPES = SmartScopes.parse("system/*.rs")
"""A client without ``allowedScopes`` may read and search every type, as every client could before scopes."""


@dataclass(frozen=True)
class ScopeRequest:
    """The parsed ``scope`` parameter: the tenant and the SMART scopes asked (None: the tenant alone)."""

    tenant: str
    asked: tuple[str, ...] | None

    @property
    def tenant_only(self) -> bool:
        return self.asked is None


def parse_scope_parameter(scope: str | None) -> ScopeRequest:
    """Parse the token request's ``scope``: one tenant GUID plus SMART system scopes; else ScopeRequestError."""
    if not scope or not isinstance(scope, str):
        raise ScopeRequestError("scope must name the tenant (an Azure AD tenant GUID)")
    if len(scope) > MAX_SCOPE_LENGTH:
        raise ScopeRequestError("scope is too long")
    tokens = [t for t in scope.split(" ") if t]
    if len(tokens) > MAX_SCOPE_TOKENS:
        raise ScopeRequestError("too many scope values")
    tenants: set[str] = set()
    asked: list[str] = []
    for token in tokens:
        tenant = canonical_tenant_id(token)
        if tenant is not None:
            tenants.add(tenant)
            continue
        try:
            parse_scope_token(token)
        except ScopeSyntaxError:
            raise ScopeRequestError("scope holds a value that is neither the tenant nor a SMART system scope") from None
        if token not in asked:
            asked.append(token)
    if not tenants:
        raise ScopeRequestError("scope must name the tenant (an Azure AD tenant GUID)")
    if len(tenants) > 1:
        raise ScopeRequestError("scope must name exactly one tenant")
    return ScopeRequest(tenant=tenants.pop(), asked=tuple(asked) or None)


@dataclass(frozen=True)
class ScopeGrant:
    """What a token is issued for: its tenant and its SMART scopes."""

    tenant: str
    scopes: SmartScopes

    @property
    def scope(self) -> str:
        """The token response's ``scope`` (RFC 6749 §5.1) and the token's claim: tenant, then v2 scopes."""
        return " ".join((self.tenant, *self.scopes.tokens()))


def grant_scopes(request: ScopeRequest, allowed: SmartScopes | None) -> ScopeGrant:
    """The scopes a token gets: all allowed ones for a tenant-only request, else asked ∩ allowed.

    :class:`ScopeRequestError` when an asked scope shares nothing with the allowed ones, or nothing at all
    would be granted.
    """
    allowed = DEFAULT_ALLOWED_SCOPES if allowed is None else allowed
    if request.asked is None:
        granted = allowed
    else:
        granted = SmartScopes()
        for token in request.asked:
            share = SmartScopes.parse([token]) & allowed
            if not share:
                raise ScopeRequestError("a requested scope is not allowed for this client")
            granted = granted | share
    if not granted:
        raise ScopeRequestError("this client is allowed no SMART scopes")
    return ScopeGrant(tenant=request.tenant, scopes=granted)


def parse_allowed_scopes(text: str) -> SmartScopes:
    """A client's ``allowedScopes`` (admin input); :class:`ScopeSyntaxError` with a safe message."""
    if not isinstance(text, str):
        raise ScopeSyntaxError("allowedScopes must be a string of space-separated SMART system scopes")
    if len(text) > MAX_SCOPE_LENGTH:
        raise ScopeSyntaxError("allowedScopes is too long")
    return SmartScopes.parse(text)


def grant_from_claim(scope_claim: object) -> ScopeGrant:
    """The grant an access token's ``scope`` claim carries (:attr:`ScopeGrant.scope` read back).

    A claim holding the tenant alone, as tokens issued before SMART scopes carry, grants
    :data:`DEFAULT_ALLOWED_SCOPES`. ValueError when the claim is not a tenant followed by v2
    system scopes in the order :attr:`ScopeGrant.scope` writes them.
    """
    if not isinstance(scope_claim, str):
        raise ValueError("the scope claim must be a string")
    tenant_text, _, rest = scope_claim.partition(" ")
    tenant = canonical_tenant_id(tenant_text)
    if tenant is None or tenant != tenant_text:
        raise ValueError("the scope claim must start with the canonical tenant GUID")
    if scope_claim == tenant:
        return ScopeGrant(tenant=tenant, scopes=DEFAULT_ALLOWED_SCOPES)
    try:
        scopes = SmartScopes.parse(rest)
    except ScopeSyntaxError:
        raise ValueError("the scope claim holds a value that is not a SMART system scope") from None
    if not scopes or str(scopes) != rest:
        raise ValueError("the scope claim is not in the form the gateway issues")
    return ScopeGrant(tenant=tenant, scopes=scopes)
