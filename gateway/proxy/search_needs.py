"""What the search parameters of a request need beyond the type it names (FHIR R4 §3.1.1 "Search", STU3 and
DSTU2 search.html), decided from the version's search parameter definitions (gateway.fhir.search_parameters).

Names are matched exactly as FHIR writes them: case-sensitive, modifiers only where FHIR defines them. A name
outside the grammar (``%20_type``, ``_type;x``), and a name starting with ``_`` that is not one of the special
parameters below (``_TYPE``, ``_type:x``, ``_Include``, ``_getpages`` off a signed page link) is refused
whatever the scopes: a server that reads names loosely could take it for a parameter that reaches other types.

=====================================  ======================================================================
``_include[:iterate|:recurse]``        the target types: ``Source:param:Target`` needs Target (when the
                                       definition allows it), ``Source:param`` every target the definition
                                       gives for ``param`` on ``Source`` (one, several, or ``*`` when open),
                                       ``*`` / ``Source:*`` / an unknown parameter every type; r or s on each
``_revinclude[:iterate|:recurse]``     ``Source:param[:Target]`` returns Source: r or s on Source
chain ``ref[:Type].ref2….param``       s on each type the chain searches (from the definitions as above)
``_has:Type:ref:param`` (nested too)   s on each Type
``_contained``, ``_containedType``     the interaction on ``*`` (contained resources can be of any type)
``_query``, ``_filter``                s on ``*`` (a named query or a filter expression can reach any type)
``_type`` (the base only)              s on each listed type (decided by the caller)
``_count _sort[:asc|:desc] _summary    nothing more (they shape or filter the answer of the searched type);
_elements _total _format _pretty …``   so do the common parameters (``_id``, ``_lastUpdated``, ``_tag``, …)
=====================================  ======================================================================

Any other name (no leading ``_``) is a filter on the searched type: it needs nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from typing import Final

from gateway.fhir.search_parameters import common_parameters, definition
from gateway.proxy.needs import Need, ScopeRefused
from gateway.scopes import Interaction

NAME: Final = re.compile(r"-?[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,255}")
"""A parameter name as FHIR (and the providers' own paging parameters, e.g. ``-pageContext``) writes it."""
_TYPE: Final = r"[A-Z][A-Za-z0-9]{0,63}"
_CODE: Final = r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}"
_INCLUDE_VALUE: Final = re.compile(rf"(?P<source>{_TYPE}):(?P<code>{_CODE}|\*)(?::(?P<target>{_TYPE}))?")
_CHAIN_LINK: Final = re.compile(rf"(?P<code>{_CODE})(?::(?P<type>{_TYPE}))?")
_TYPE_NAME: Final = re.compile(_TYPE)
_CODE_NAME: Final = re.compile(_CODE)

INCLUDES: Final = frozenset({"_include", "_revinclude"})
INCLUDE_MODIFIERS: Final = frozenset({"iterate", "recurse"})  # recurse: DSTU2's name for iterate
SORT_MODIFIERS: Final = frozenset({"asc", "desc"})  # DSTU2 ``_sort:desc=date`` (the Teams Patients app sends it)
RESULT_PARAMETERS: Final = frozenset({
    "_count", "_sort", "_summary", "_elements", "_total", "_format", "_pretty", "_list", "_since", "_at",
    "_offset", "_cursor", "_page", "_totalMethod", "_score", "_fields"})
"""Parameters that shape the answer of the searched type or page through it (``_offset``/``_cursor``/``_fields``:
Medplum; ``_page``: IBM, Firely; ``_totalMethod``: fhirpy) without reaching another type."""
EVERY_TYPE: Final = frozenset({"_query", "_filter", "_contained", "_containedType"})
PAGING_PARAMETERS: Final = frozenset({"_getpages", "_getpagesoffset", "_bundletype"})
"""HAPI's continuation parameters: a server serves the page a ``_getpages`` id names, whatever the path or the
other parameters say, so they pass only on a page link the gateway signed (gateway.proxy.page_links)."""


def _refused_name() -> ScopeRefused:
    return ScopeRefused("A search parameter name is not one the gateway can check (names are case-sensitive; "
                        "special parameters start with '_' and take only the modifiers FHIR defines).")


def split_name(name: str) -> tuple[str, str | None]:
    """``code[:modifier]`` of a plain parameter name; ScopeRefused when the name is outside the grammar."""
    if NAME.fullmatch(name) is None:
        raise _refused_name()
    code, colon, modifier = name.partition(":")
    return code, modifier if colon else None


def included_needs(version: str, name: str, value: str) -> list[Need]:
    """The types an ``_include`` / ``_revinclude`` value adds to the answer (one FHIR value; commas split too)."""
    needs = []
    for part in value.split(","):
        match = _INCLUDE_VALUE.fullmatch(part)
        if match is None:  # "*", "" or anything a server might read as "every reference"
            needs.append(Need.returned(None))
        elif name == "_revinclude":
            needs.append(Need.returned(match["source"]))
        else:
            needs.extend(Need.returned(t) for t in _include_targets(version, match))
    return needs


def _include_targets(version: str, match: re.Match[str]) -> Iterable[str | None]:
    found = definition(version, match["source"], match["code"])  # "Source:*" is no parameter: every type
    if found is None or found.type != "reference" or found.is_open:
        return [None]
    if match["target"] is not None and match["target"] in found.targets:
        return [match["target"]]
    return sorted(found.targets)


def chain_needs(version: str, searched: Collection[str], name: str) -> list[Need]:
    """s on every type a chain ``ref[:Type].ref2[:Type2].param`` from the ``searched`` types reaches (None: every
    type; from no known type, every type too)."""
    *links, _last = name.split(".")
    current: set[str] | None = set(searched) or None
    needs: list[Need] = []
    for link in links:
        match = _CHAIN_LINK.fullmatch(link)
        if match is None:
            raise _refused_name()
        current = _chained_types(version, current, match["code"], match["type"])
        if current is None:
            return [*needs, Need(None, "search-type")]
        needs.extend(Need(t, "search-type") for t in sorted(current))
    return needs


def _chained_types(version: str, current: set[str] | None, code: str, typed: str | None) -> set[str] | None:
    """The types one chain link reaches from ``current`` (None: unknown, so every type)."""
    if typed is not None:
        return {typed}
    if current is None:
        return None
    reached: set[str] = set()
    for resource_type in sorted(current):
        found = definition(version, resource_type, code)
        if found is None or found.type != "reference" or found.is_open:
            return None
        reached |= found.targets
    return reached


def reverse_chain_needs(version: str, name: str) -> list[Need]:
    """s on each ``Type`` of ``_has:Type:ref:param`` (nested ``_has:Type:ref:_has:Type2:ref2:param`` too)."""
    segments = name.split(":")
    needs = []
    while segments[:1] == ["_has"]:
        if len(segments) < 4 or not _TYPE_NAME.fullmatch(segments[1]) or not _CODE_NAME.fullmatch(segments[2]):
            raise _refused_name()
        needs.append(Need(segments[1], "search-type"))
        segments = segments[3:]
    if not _is_filter(version, segments):
        raise _refused_name()
    return needs


def _is_filter(version: str, segments: list[str]) -> bool:
    """``param[:modifier]`` at the end of a reverse chain: a plain or common parameter, no chain."""
    last = segments[0]
    if len(segments) > 2 or NAME.fullmatch(last) is None or "." in last:
        return False
    return not last.startswith("_") or last in common_parameters(version)


def special_needs(version: str, code: str, modifier: str | None, value: str,
                  interaction: Interaction) -> list[Need]:
    """Needs of a parameter whose name starts with ``_`` (not ``_has``, ``_type`` or paging); refused if unknown."""
    if code in INCLUDES and (modifier is None or modifier in INCLUDE_MODIFIERS):
        return included_needs(version, code, value)
    if code == "_sort" and (modifier is None or modifier in SORT_MODIFIERS):
        return []
    if code in EVERY_TYPE and modifier is None:
        return [Need(None, interaction if code.startswith("_contained") else "search-type")]
    if code in RESULT_PARAMETERS and modifier is None:
        return []
    if code in common_parameters(version) and (modifier is None or modifier.islower()):
        return []
    raise _refused_name()


def parameter_needs(version: str, searched: Collection[str], parameters: Iterable[tuple[str, str]],
                    interaction: Interaction = "search-type") -> Iterator[Need]:
    """What the parameters of a request on the ``searched`` types (empty: no known type) need beyond them.

    ``_type`` and HAPI's paging parameters are refused here: only a system search on the base (and a
    signed page link) may carry them, and the caller decides those before. ``interaction``: what
    ``_contained`` needs on every type (the request's own interaction).
    """
    for name, value in parameters:
        if name.startswith("_has:"):
            yield from reverse_chain_needs(version, name)
            continue
        code, modifier = split_name(name)
        if code == "_type" or code in PAGING_PARAMETERS:
            if modifier is not None:
                raise _refused_name()
            raise ScopeRefused("Only a search on the FHIR base may name types (_type), and only a page link the "
                               "gateway handed out may name a page (_getpages).")
        if code.startswith("_"):
            yield from special_needs(version, code, modifier, value, interaction)
        elif "." in name:
            yield from chain_needs(version, searched, name)
