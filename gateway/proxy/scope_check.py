"""Does a proxied request stay within the token's SMART scopes (SMART App Launch 2.x, "Scopes for
requesting FHIR resources"; interactions of FHIR R4 §3.1.0 "RESTful API")?

Works on what the proxy already parsed: the checked :class:`~gateway.proxy.paths.FhirPath`
(its grammar guarantees the segment shapes read here), the normalised query, the body of a
``POST _search`` and the parsed :class:`~gateway.proxy.access.Batch`. What each request needs::

    GET  [base]?…  /  [base]/_search           search-system: * s, or s on every _type
    GET  _history                              history-system: * s
    GET  Type?…  /  Type/_search               search-type: s on Type
    GET  Type/_history                         history-type: s on Type
    GET  Type/id                               read: r on Type
    GET  Type/id/_history[/vid]                history-instance / vread: r on Type
    GET  Type/id/Type2?…                       compartment search: r on Type and s on Type2
    POST Type                                  create: c on Type
    PUT | PATCH Type/id                        update / patch: u on Type
    DELETE Type/id                             delete: d on Type
    PUT | PATCH | DELETE Type?…                conditional update/patch/delete: u or d, and s, on Type
    POST [base] (batch / transaction)          every entry checked as a request of its own
    $operation (any level)                     GET: * rs; POST: * cruds (an operation may return
                                               or change resources of any type)
    GET metadata                               always (no data)

Search parameters cannot widen access beyond the granted types (both in the query and in a
form-encoded ``POST _search`` body, decoded as the provider will decode them):

- ``_include`` / ``_revinclude`` (with ``:iterate`` / ``:recurse``): the type of the included
  resources (the target type of ``_include=Source:param:Target``, the source of
  ``_revinclude``) must be readable (``r`` or ``s``); a value that leaves the target type open
  (``_include=Observation:subject``) or ``*`` needs ``*`` to be readable.
- ``_type`` names the types searched: each needs ``s``.
- chained (``subject:Patient.name``) and reverse-chained (``_has:Observation:patient:code``)
  parameters search another type: it needs ``s``; an untyped chain (``subject.name``) needs ``* s``.

Parameter names are compared case-insensitively after percent-decoding, so ``%5Finclude``
or ``_INCLUDE`` are checked too, and ``;`` counts as a separator as well as ``&`` (checking
every way a server might split the query only ever refuses more). A ``POST _search`` body
that is not form-encoded, and a ``POST …/_search`` entry inside a batch (its parameters
would hide in the entry's resource), are refused: they cannot be checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from gateway.proxy.access import Batch, BatchEntry
from gateway.proxy.paths import FhirPath
from gateway.scopes import WILDCARD, Interaction, SmartScopes

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_SEARCH_PARAMETERS = 1000


class ScopeRefused(Exception):
    """The request is outside the token's scopes (403); the message names types, never values."""


@dataclass(frozen=True)
class Need:
    """One permission a request needs: ``interaction`` on ``resource_type`` (None: every type).

    ``included``: resources of the type may appear in the answer (``_include``/``_revinclude``),
    which any read access (``r`` or ``s``) to the type allows.
    """

    resource_type: str | None
    interaction: Interaction
    included: bool = False

    def met_by(self, scopes: SmartScopes) -> bool:
        if self.included:
            return scopes.readable(self.resource_type)
        return scopes.allows(self.resource_type, self.interaction)


def _refuse(need: Need) -> ScopeRefused:
    target = "every resource type" if need.resource_type is None else need.resource_type
    what = "returning" if need.included else need.interaction
    return ScopeRefused(f"The token's scopes do not allow {what} {target}." if need.included
                        else f"The token's scopes do not allow {what} on {target}.")


def _is_operation(segment: str) -> bool:
    return segment.startswith("$")


def _is_type(segment: str) -> bool:
    return segment[:1].isupper()


def _parameters(raw: str) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs; ``;`` is read as a separator too, since some servers split on it."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_SEARCH_PARAMETERS,
                          encoding="utf-8", errors="strict")
        if ";" in raw:
            pairs += parse_qsl(raw.replace(";", "&"), keep_blank_values=True,
                               max_num_fields=MAX_SEARCH_PARAMETERS, encoding="utf-8", errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise ScopeRefused("The search parameters cannot be checked against the token's scopes.") from None
    return pairs


def search_parameters(query: str, method: str, body: bytes, content_type: str) -> list[tuple[str, str]]:
    """The decoded search parameters of a request: its query, plus a ``POST _search`` form body."""
    parameters = _parameters(query)
    if method == "POST" and body:
        media = content_type.split(";", 1)[0].strip().lower()
        if media != FORM_MEDIA_TYPE:
            raise ScopeRefused("A POST search must send its parameters form-encoded "
                               f"({FORM_MEDIA_TYPE}) so the gateway can check them.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ScopeRefused("The search parameters cannot be checked against the token's scopes.") from None
        parameters += _parameters(text)
    return parameters


def _included_type(name: str, value: str) -> str | None:
    """The type of the resources an ``_include``/``_revinclude`` value adds (None: any type)."""
    value = value.strip()
    if value == WILDCARD:
        return None
    parts = value.split(":")
    if name == "_revinclude":
        source = parts[0]
        return source if _is_type(source) and source != WILDCARD else None
    if len(parts) >= 3 and _is_type(parts[2]):
        return parts[2]
    return None


UNCHECKABLE_PARAMETERS = frozenset({"_query", "_filter"})
"""Named queries and filter expressions can search any type: only ``* s`` allows them."""


def _type_or_none(segment: str) -> str | None:
    return segment if _is_type(segment) else None


def _chained_types(name: str) -> list[str | None]:
    """Types searched by a chain ``ref[:Type].ref2[:Type2].param`` (None where the type is left open)."""
    links = name.split(".")
    return [_type_or_none(link.partition(":")[2]) for link in links[:-1]]


def _reverse_chained_types(name: str) -> list[str | None]:
    """Types searched by ``_has:Type:ref:param`` (nested ``_has`` too)."""
    segments = name.split(":")
    return [_type_or_none(segments[i + 1]) if i + 1 < len(segments) else None
            for i, segment in enumerate(segments) if segment.lower() == "_has"]


def parameter_needs(parameters: Iterable[tuple[str, str]]) -> list[Need]:
    """What search parameters add to a request: the other types they reach.

    Checked on every request, not only on searches: a provider that honoured ``_include`` on a
    read, or on ``metadata``, must not become a way around the scopes either.
    """
    needs: list[Need] = []
    for raw_name, value in parameters:
        name = raw_name.strip()
        base = name.lower().partition(":")[0]
        if base in ("_include", "_revinclude"):
            for part in value.split(","):  # one value per parameter in FHIR; some servers split on commas
                needs.append(Need(_included_type(base, part), "read", included=True))
        elif base == "_type":
            needs.extend(Need(_type_or_none(part.strip()), "search-type") for part in value.split(","))
        elif base == "_has":
            needs.extend(Need(t, "search-type") for t in _reverse_chained_types(name))
        elif base in UNCHECKABLE_PARAMETERS:
            needs.append(Need(None, "search-system"))
        elif "." in name and not base.startswith("_"):
            needs.extend(Need(t, "search-type") for t in _chained_types(name))
    return needs


def _names_types(parameters: Iterable[tuple[str, str]]) -> bool:
    return any(name.strip().lower().partition(":")[0] == "_type" for name, _ in parameters)


def request_needs(method: str, path: FhirPath, parameters: list[tuple[str, str]]) -> list[Need]:
    """The permissions a single (non-batch) request needs, from its checked path and parameters."""
    needs = _interaction_needs(method, path, parameters)
    return needs + [n for n in parameter_needs(parameters) if n not in needs]


# The interaction a change method asks for on a type (conditional: a search decides the target) or an instance.
_CHANGES: dict[str, Interaction] = {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_INSTANCE_INTERACTIONS: dict[str, Interaction] = {"GET": "read", **_CHANGES}


def _interaction_needs(method: str, path: FhirPath, parameters: list[tuple[str, str]]) -> list[Need]:
    segments = path.path.split("/") if path.path else []
    if method == "HEAD":
        method = "GET"
    if segments == ["metadata"]:
        return _metadata_needs(method)
    if any(_is_operation(s) for s in segments):
        return _operation_needs(method)
    searching = method == "GET" or (method == "POST" and segments[-1:] == ["_search"])
    if not segments or segments == ["_search"]:
        return _base_needs(method, searching, parameters)
    if segments == ["_history"] and method == "GET":
        return [Need(None, "history-system")]
    resource_type = segments[0]
    rest = segments[1:]
    needs = _type_needs(method, resource_type, rest, searching)
    if needs is None:
        needs = _instance_needs(method, resource_type, rest)
    if needs is None:
        raise ScopeRefused(f"The token's scopes do not allow {method} on {resource_type} here.")
    return needs


def _metadata_needs(method: str) -> list[Need]:
    """The capability statement is for anyone holding a token; only reading it."""
    if method == "GET":
        return []
    raise ScopeRefused(f"The token's scopes do not allow {method} on metadata.")


def _operation_needs(method: str) -> list[Need]:
    """An operation (``$name``) may do anything its server defines: system-wide read and search, or every change."""
    letters: list[Interaction] = ["read", "search-system"]
    if method != "GET":
        letters = ["read", "search-system", "create", "update", "delete"]
    return [Need(None, interaction) for interaction in letters]


def _base_needs(method: str, searching: bool, parameters: list[tuple[str, str]]) -> list[Need]:
    """On the FHIR base only a system search: it reaches every type, unless _type names them (each checked)."""
    if searching:
        return [] if _names_types(parameters) else [Need(None, "search-system")]
    raise ScopeRefused(f"The token's scopes do not allow {method} on the FHIR base.")


def _type_needs(method: str, resource_type: str, rest: list[str], searching: bool) -> list[Need] | None:
    """Interactions on a type (search, create, conditional change, history); None when ``rest`` is not one."""
    if rest in ([], ["_search"]) and searching:
        return [Need(resource_type, "search-type")]
    if rest == [] and method == "POST":
        return [Need(resource_type, "create")]
    if rest == [] and method in _CHANGES:  # conditional: a search decides the target
        return [Need(resource_type, _CHANGES[method]), Need(resource_type, "search-type")]
    if rest == ["_history"] and method == "GET":
        return [Need(resource_type, "history-type")]
    return None


def _instance_needs(method: str, resource_type: str, rest: list[str]) -> list[Need] | None:
    """Interactions on an instance (read, change, history, vread) or a compartment search; None otherwise."""
    if len(rest) == 1 and method in _INSTANCE_INTERACTIONS:
        return [Need(resource_type, _INSTANCE_INTERACTIONS[method])]
    if len(rest) == 2 and rest[1] == "_history" and method == "GET":
        return [Need(resource_type, "history-instance")]
    if len(rest) == 3 and rest[1] == "_history" and method == "GET":
        return [Need(resource_type, "vread")]
    if len(rest) == 2 and _is_type(rest[1]) and method == "GET":  # compartment search
        compartment_type = rest[1]
        return [Need(resource_type, "read"), Need(compartment_type, "search-type")]
    return None


def _batch_entry_needs(entry: BatchEntry) -> list[Need]:
    if entry.path.is_base:
        raise ScopeRefused("A batch or transaction entry may not post another Bundle.")
    if entry.method == "POST" and entry.path.is_search:
        raise ScopeRefused("A batch entry may not be a POST search; use GET with the parameters in its url.")
    return request_needs(entry.method, entry.path, _parameters(entry.query))


def check_scopes(scopes: SmartScopes, method: str, path: FhirPath, query: str = "", *,
                 body: bytes = b"", content_type: str = "", batch: Batch | None = None) -> None:
    """Raise :class:`ScopeRefused` unless ``scopes`` allow the whole request.

    ``query``: the normalised raw query; ``body``/``content_type``: the request body (read for a
    ``POST _search`` only); ``batch``: the parsed Bundle of a POST to the base, whose entries
    are each checked (a POST to the base without a parsed Bundle is refused).
    """
    for need in needed_permissions(method, path, query, body=body, content_type=content_type, batch=batch):
        if not need.met_by(scopes):
            raise _refuse(need)


def needed_permissions(method: str, path: FhirPath, query: str = "", *, body: bytes = b"",
                       content_type: str = "", batch: Batch | None = None) -> list[Need]:
    """Every permission the request needs (see :func:`check_scopes`); ScopeRefused if it cannot be checked."""
    method = method.upper()
    if method == "POST" and path.is_base:
        if batch is None:
            raise ScopeRefused("Only a batch or transaction Bundle may be posted to the base.")
        return [need for entry in batch.entries for need in _batch_entry_needs(entry)]
    if method == "POST" and path.is_search:
        return request_needs(method, path, search_parameters(query, method, body, content_type))
    return request_needs(method, path, _parameters(query))
