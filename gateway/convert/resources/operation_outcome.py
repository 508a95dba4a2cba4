"""OperationOutcome (R4 §3.1.0.11... §2.32) <-> STU3 (HAPI ``OperationOutcome30_40``: the same elements)
and DSTU2 (HAPI ``OperationOutcome10_40``): DSTU2 has no ``issue.expression`` (an extension on the issue).
R4 issue types new since STU3 (``multiple-matches``, ``deleted``) are ``duplicate`` and ``not-found``."""

from __future__ import annotations

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ELEMENTS: Elements = {
    "issue": Backbone({"severity": "code", "code": "code", "details": "CodeableConcept", "diagnostics": "string",
                       "location": "string*", "expression": "string*"}),
}
_CODES = {"multiple-matches": "duplicate", "deleted": "not-found"}


def _down(src: JSON, tgt: JSON, conv: Converter) -> None:
    for issue in tgt.get("issue", ()):
        if issue.get("code") in _CODES:
            issue["code"] = _CODES[issue["code"]]


MAP = ResourceMap("OperationOutcome", ELEMENTS, {
    "STU3": Older(down=_down),
    "DSTU2": Older(missing=frozenset({"issue.expression"}), down=_down),
})
