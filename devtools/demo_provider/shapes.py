"""Small FHIR JSON shapes every version's renderer uses: dates, CodeableConcepts, narratives, references."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from devtools.demo_provider import data as d

Resource = dict[str, Any]
_XHTML = '<div xmlns="http://www.w3.org/1999/xhtml">{}</div>'


def instant(value: datetime) -> str:
    """An ISO 8601 / FHIR dateTime with seconds and an explicit UTC offset."""
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def day(value: date) -> str:
    return value.isoformat()


def concept(code: d.Code, text: str | None = None) -> Resource:
    return {"coding": [{"system": code.system, "code": code.code, "display": code.display}],
            "text": text or code.display}


def narrative(text: str) -> Resource:
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"status": "generated", "div": _XHTML.format(safe)}


def reference(kind: str, ident: str, display: str | None = None) -> Resource:
    ref: Resource = {"reference": f"{kind}/{ident}"}
    if display:
        ref["display"] = display
    return ref


def quantity(value: float, unit: str, ucum: str) -> Resource:
    return {"value": value, "unit": unit, "system": d.UCUM, "code": ucum}
