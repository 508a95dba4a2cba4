"""Does a proxied request stay within the token's SMART scopes (SMART App Launch 2.x, "Scopes for
requesting FHIR resources"; interactions of FHIR R4 §3.1.0 "RESTful API")?

Works on what the proxy already parsed: the checked :class:`~gateway.proxy.paths.FhirPath`, the normalised
query, the body, the parsed :class:`~gateway.proxy.access.Batch` and the ``If-None-Exist`` header, in the FHIR
version of the request (its search parameter definitions decide includes and chains). What each request needs::

    GET  [base]?_type=A,B&…  /  POST [base]/_search    search-system: s on each _type, else * s; any parameter
                                                       the named types do not all define: * s
    GET  [base]?…&_gateway_page=<token>                what the first page needed, when the gateway signed the
                                                       token for this tenant, client and exact link
                                                       (gateway.proxy.page_links); else * s
    GET  _history                                      history-system: * s
    GET  Type?…  /  Type/_search  /  Observation/$lastn  search-type: s on Type
    GET  Type/_history                                 history-type: s on Type
    GET  Type/id                                       read: r on Type
    GET  Type/id/_history[/vid]                        history-instance / vread: r on Type
    GET  Type/id/Type2?…                               compartment search: r on Type and s on Type2
    POST Type                                          create: c on Type; the body a JSON Type; If-None-Exist
                                                       a search on Type (s, and its parameters)
    PUT  Type/id                                       update: u on Type; the body a JSON Type with that id
    PATCH Type/id  /  DELETE Type/id                   u / d on Type
    PUT | PATCH | DELETE Type?…                        conditional: u or d, and s, on Type (PUT: body a Type)
    POST [base] (batch / transaction)                  every entry as a request of its own: its resource
                                                       against its url, its ifNoneExist as a search
    $operation (other than Observation/$lastn)         GET: * rs; POST: * cruds (an operation may return
                                                       or change resources of any type)
    GET metadata                                       always (no data)

Search parameters (query, and the form body of ``POST _search``, decoded as the provider will decode them) add
what gateway.proxy.search_needs says: ``_include``/``_revinclude`` and chains reach the target types the
definitions give, ``_has`` its types, ``_contained`` and free queries every type; names are exact (a near-miss
of a special parameter is refused). ``;`` counts as a separator as well as ``&`` (reading the query both
ways only ever refuses more). A ``POST _search`` body that is not form-encoded, a create or update body that is
not JSON, and a ``POST …/_search`` entry inside a batch are refused: they cannot be checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl

from gateway.config import DEFAULT_FHIR_VERSION
from gateway.fhir.search_parameters import VERSIONS, definition
from gateway.proxy import page_links
from gateway.proxy.access import BadBatch, Batch, BatchEntry, is_json, json_document
from gateway.proxy.needs import Need, ScopeRefused, unique
from gateway.proxy.paths import FhirPath
from gateway.proxy.search_needs import PAGING_PARAMETERS, parameter_needs
from gateway.scopes import Interaction, SmartScopes

__all__ = ["Need", "ScopeRefused", "check_scopes", "needed_permissions", "request_needs", "require",
           "search_parameters"]

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_SEARCH_PARAMETERS = 1000
LASTN = "$lastn"
"""US Core's ``Observation/$lastn``: the last N Observations of each code, an Observation search."""


def _parameters(raw: str) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs; ``;`` is read as a separator too, since some servers split on it."""
    if not raw:
        return []  # a read: nothing to parse
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


def _is_type(segment: str) -> bool:
    return segment[:1].isupper()


# -- the FHIR base --------------------------------------------------------------------------------------------

def _base_search_needs(version: str, parameters: list[tuple[str, str]], *, unsigned_page: bool = False,
                       ) -> list[Need]:
    """A system search: s on each ``_type`` (``* s`` without one, or with any parameter the types do not
    all define, or with paging parameters the gateway did not sign), plus what the other parameters need."""
    types: list[str] = []
    every = unsigned_page
    others = []
    for name, value in parameters:
        if name == "_type":
            parts = value.split(",")
            every = every or not all(_is_type(part) and part.isalnum() for part in parts)
            types.extend(parts)
        elif name in PAGING_PARAMETERS:
            every = True
        else:
            others.append((name, value))
    every = every or not types
    needs = list(parameter_needs(version, () if every else types, others))
    if every or not all(_defined_for(version, types, name) for name, _ in others):
        return [Need(None, "search-system"), *needs]
    return [*(Need(t, "search-type") for t in types), *needs]


def _defined_for(version: str, types: list[str], name: str) -> bool:
    """A parameter the search parameter definitions know for every one of ``types`` (special ones: checked apart)."""
    if name.startswith("_"):
        return True
    code = name.partition(".")[0].partition(":")[0]
    return all(definition(version, resource_type, code) is not None for resource_type in types)


def _base_get_needs(version: str, query: str, verify_page: page_links.PageLinkCheck | None) -> list[Need]:
    """A GET on the base: a page link the gateway signed (its signed needs), else a system search."""
    continuation, token = page_links.split_token(query)
    if token is not None and verify_page is not None:
        try:
            return list(verify_page(token, "?" + continuation))
        except page_links.InvalidPageLink:
            pass  # not one the gateway handed out: judged as any other base request
    return _base_search_needs(version, _parameters(continuation), unsigned_page=token is not None)


# -- one request ----------------------------------------------------------------------------------------------

def request_needs(version: str, method: str, path: FhirPath, parameters: list[tuple[str, str]]) -> list[Need]:
    """The permissions a single (non-batch, non-page-link) request needs, from its path and parameters."""
    segments = path.path.split("/") if path.path else []
    method = "GET" if method == "HEAD" else method
    if segments == ["metadata"]:
        return _metadata_needs(method) + list(parameter_needs(version, (), parameters))
    if segments[-1:] == [LASTN] and len(segments) == 2 and method == "GET" and segments[0] == "Observation":
        return [Need("Observation", "search-type"), *parameter_needs(version, ("Observation",), parameters)]
    if any(s.startswith("$") for s in segments):
        return _operation_needs(method)
    searching = method == "GET" or (method == "POST" and segments[-1:] == ["_search"])
    if not segments or segments == ["_search"]:
        if not searching:
            raise ScopeRefused(f"The token's scopes do not allow {method} on the FHIR base.")
        return _base_search_needs(version, parameters)
    if segments == ["_history"] and method == "GET":
        return [Need(None, "history-system"), *parameter_needs(version, (), parameters)]
    needs = _type_needs(method, segments[0], segments[1:], searching) \
        or _instance_needs(method, segments[0], segments[1:])
    if not needs:
        raise ScopeRefused(f"The token's scopes do not allow {method} on {segments[0]} here.")
    searched = needs[-1].resource_type or ""  # the type the parameters apply to (a compartment search: its type)
    return [*needs, *parameter_needs(version, (searched,), parameters, needs[-1].interaction)]


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


# The interaction a change method asks for on a type (conditional: a search decides the target) or an instance.
_CHANGES: dict[str, Interaction] = {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_INSTANCE_INTERACTIONS: dict[str, Interaction] = {"GET": "read", **_CHANGES}


def _type_needs(method: str, resource_type: str, rest: list[str], searching: bool) -> list[Need]:
    """Interactions on a type (search, create, conditional change, history); empty when ``rest`` is not one."""
    if rest in ([], ["_search"]) and searching:
        return [Need(resource_type, "search-type")]
    if rest == [] and method == "POST":
        return [Need(resource_type, "create")]
    if rest == [] and method in _CHANGES:  # conditional: a search decides the target
        return [Need(resource_type, _CHANGES[method]), Need(resource_type, "search-type")]
    if rest == ["_history"] and method == "GET":
        return [Need(resource_type, "history-type")]
    return []


def _instance_needs(method: str, resource_type: str, rest: list[str]) -> list[Need]:
    """Interactions on an instance (read, change, history, vread) or a compartment search; empty otherwise."""
    if len(rest) == 1 and method in _INSTANCE_INTERACTIONS:
        return [Need(resource_type, _INSTANCE_INTERACTIONS[method])]
    if len(rest) == 2 and rest[1] == "_history" and method == "GET":
        return [Need(resource_type, "history-instance")]
    if len(rest) == 3 and rest[1] == "_history" and method == "GET":
        return [Need(resource_type, "vread")]
    if len(rest) == 2 and _is_type(rest[1]) and method == "GET":  # compartment search
        return [Need(resource_type, "read"), Need(rest[1], "search-type")]
    return []


# -- what a request carries besides its URL ---------------------------------------------------------------------

def _conditional_create_needs(version: str, path: FhirPath, search: str) -> list[Need]:
    """``If-None-Exist`` / ``request.ifNoneExist``: a search on the type created (FHIR R4 §3.1.0.8.1)."""
    resource_type = path.resource_type
    parameters = _parameters(search.removeprefix("?"))
    searched = (resource_type,) if resource_type else ()
    return [Need(resource_type, "search-type"), *parameter_needs(version, searched, parameters)]


def _expected_resource(method: str, path: FhirPath) -> tuple[str, str | None] | None:
    """``(type, id or None)`` a create or update body must carry (None: the request carries no resource)."""
    segments = path.path.split("/")
    if path.resource_type is None or method not in ("POST", "PUT"):
        return None
    if len(segments) == 1:
        return path.resource_type, None  # create, conditional update: the type only
    if len(segments) == 2 and method == "PUT":
        return path.resource_type, segments[1]
    return None


def _check_resource(expected: tuple[str, str | None], resource_type: object, resource_id: object) -> None:
    """The resource a create or update sends is of the type (and, on update, has the id) its URL names."""
    wanted_type, wanted_id = expected
    if resource_type != wanted_type:
        raise ScopeRefused(f"The resource sent is not a {wanted_type}, the type its URL names.")
    if wanted_id is not None and resource_id != wanted_id:
        raise ScopeRefused("The resource sent must carry the id its URL names.")


NOT_JSON = "A created or updated resource must be sent as FHIR JSON so the gateway can check it."


def _body_resource(body: bytes, content_type: str) -> tuple[object, object]:
    """``(resourceType, id)`` of a JSON resource body, as sent; ScopeRefused when it is not a JSON object."""
    if not is_json(content_type):
        raise ScopeRefused(NOT_JSON)
    try:
        document = json_document(body)
    except BadBatch:  # a repeated name: the provider may read another value than the one checked here
        raise ScopeRefused(NOT_JSON) from None
    if not isinstance(document, dict):
        raise ScopeRefused(NOT_JSON)
    return document.get("resourceType"), document.get("id")


def _entry_needs(version: str, entry: BatchEntry) -> list[Need]:
    """A batch or transaction entry: its request, its resource against its url, its ifNoneExist."""
    if entry.path.is_base or entry.path.path == "_search":
        raise ScopeRefused("A batch or transaction entry may not address the FHIR base.")
    if entry.method == "POST" and entry.path.is_search:
        raise ScopeRefused("A batch entry may not be a POST search; use GET with the parameters in its url.")
    needs = request_needs(version, entry.method, entry.path, _parameters(entry.query))
    expected = _expected_resource(entry.method, entry.path)
    if expected is not None:
        _check_resource(expected, entry.resource_type, entry.resource_id)
    if entry.if_none_exist is not None:
        needs += _conditional_create_needs(version, entry.path, entry.if_none_exist)
    return needs


def check_scopes(scopes: SmartScopes, method: str, path: FhirPath, query: str = "", *, body: bytes = b"",
                 content_type: str = "", batch: Batch | None = None, if_none_exist: str | None = None,
                 fhir_version: str = DEFAULT_FHIR_VERSION,
                 verify_page: page_links.PageLinkCheck | None = None) -> None:
    """Raise :class:`ScopeRefused` unless ``scopes`` allow the whole request.

    ``query``: the normalised raw query; ``body``/``content_type``: the request body (a ``POST _search``
    form, a created or updated resource); ``batch``: the parsed Bundle of a POST to the base, whose entries
    are each checked (a POST to the base without one is refused); ``if_none_exist``: the header of a
    conditional create; ``fhir_version``: the version whose search parameters the request uses;
    ``verify_page``: page_links.verify bound to the caller (None: no page link is accepted).
    """
    require(scopes, needed_permissions(method, path, query, body=body, content_type=content_type, batch=batch,
                                       if_none_exist=if_none_exist, fhir_version=fhir_version,
                                       verify_page=verify_page))


def require(scopes: SmartScopes, needs: Iterable[Need]) -> None:
    """Raise the :class:`ScopeRefused` of the first need ``scopes`` do not meet."""
    for need in needs:
        if not need.met_by(scopes):
            raise need.refusal()


def needed_permissions(method: str, path: FhirPath, query: str = "", *, body: bytes = b"",
                       content_type: str = "", batch: Batch | None = None, if_none_exist: str | None = None,
                       fhir_version: str = DEFAULT_FHIR_VERSION,
                       verify_page: page_links.PageLinkCheck | None = None) -> list[Need]:
    """Every permission the request needs (see :func:`check_scopes`); ScopeRefused if it cannot be checked."""
    method = method.upper()
    if fhir_version not in VERSIONS:
        raise ScopeRefused("The FHIR version of this connection is not one the gateway can check requests for.")
    if method == "POST" and path.is_base:
        if batch is None:
            raise ScopeRefused("Only a batch or transaction Bundle may be posted to the base.")
        return unique([need for entry in batch.entries for need in _entry_needs(fhir_version, entry)])
    if method in ("GET", "HEAD") and path.is_base:
        return unique(_base_get_needs(fhir_version, query, verify_page))
    searching = method == "POST" and path.is_search
    parameters = search_parameters(query, method, body, content_type) if searching else _parameters(query)
    needs = request_needs(fhir_version, method, path, parameters)
    expected = _expected_resource(method, path)
    if expected is not None:
        _check_resource(expected, *_body_resource(body, content_type))
    if if_none_exist is not None:
        needs += _conditional_create_needs(fhir_version, path, if_none_exist)
    return unique(needs)
