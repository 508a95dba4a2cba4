"""Checks of the captured path against the FHIR REST grammar (FHIR R4 §3.1.0 "RESTful API",
STU3/DSTU2 http.html) before anything is sent upstream.

Accepted shapes (``Type`` a resource type, ``id`` a logical id, ``$op`` an operation)::

    (empty: the base)  _search  _history  $op  metadata
    Type  Type/_search  Type/_history  Type/$op
    Type/id  Type/id/_history  Type/id/_history/vid  Type/id/$op  Type/id/Type2 (compartment)

Anything else is refused, in particular whatever could leave the route's base: ``..`` and
``.`` segments, any percent-escape (``%2e%2e``, ``%252e``, ``%2f``: FHIR ids and names never
need one), backslashes, empty segments (``//``), absolute URLs and control characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TYPE = r"[A-Z][A-Za-z0-9]{0,63}"
_ID = r"[A-Za-z0-9\-.]{1,64}"
_OP = r"\$[A-Za-z][A-Za-z0-9\-_]{0,63}"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # C0 controls and DEL
_GRAMMAR = re.compile(
    rf"""^(?:
        (?:_search|_history|{_OP}|metadata)
      | (?P<type>{_TYPE})(?:/(?:_search|_history|{_OP}
            | {_ID}(?:/(?:_history(?:/{_ID})?|{_OP}|{_TYPE}))?
        ))?
    )$""",
    re.VERBOSE,
)


class PathRejected(ValueError):
    """The path is not a FHIR REST path; the message is safe to show to the client."""


@dataclass(frozen=True)
class FhirPath:
    """A checked path relative to the FHIR base (no leading slash; empty for the base)."""

    path: str
    resource_type: str | None

    @property
    def is_base(self) -> bool:
        return self.path == ""

    @property
    def is_search(self) -> bool:
        return self.path == "_search" or self.path.endswith("/_search")


def check_path(path: str) -> FhirPath:
    """Return the checked path or raise :class:`PathRejected` saying what is wrong."""
    if len(path) > 2048:
        raise PathRejected("The request path is too long.")
    if _CONTROL.search(path):
        raise PathRejected("The request path contains control characters.")
    if "\\" in path:
        raise PathRejected("The request path contains a backslash.")
    if "%" in path:
        raise PathRejected("The request path contains a percent-escape; FHIR paths never need one.")
    if ":" in path or path.startswith("//"):
        raise PathRejected("The request path must be relative to the FHIR base, not an absolute URL.")
    segments = path.split("/") if path else []
    if any(seg and set(seg) == {"."} for seg in segments):  # ".", ".." and "..." alike
        raise PathRejected("The request path contains a dot segment.")
    if any(seg == "" for seg in segments):
        raise PathRejected("The request path contains an empty segment.")
    if not path:
        return FhirPath("", None)
    match = _GRAMMAR.match(path)
    if match is None:
        raise PathRejected("The request path is not a FHIR REST path.")
    return FhirPath(path, match.group("type"))


def resource_type_of(path: str) -> str | None:
    """The resource type named by a path's first segment (for logs), or None."""
    first = path.lstrip("/").partition("/")[0].partition("?")[0]
    return first if re.fullmatch(_TYPE, first) else None
