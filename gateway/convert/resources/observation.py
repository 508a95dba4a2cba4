"""Observation (R4 §12.20) <-> STU3 (r3maps Observation.map; HAPI ``Observation30_40``) and DSTU2
(HAPI ``Observation10_40``).

- STU3 names ``encounter`` ``context``; DSTU2 keeps ``encounter``.
- One ``category`` in DSTU2; one ``interpretation`` in both older versions.
- R4 ``note`` is the older one-string ``comment`` (STU3) / ``comments`` (DSTU2): the first note's text.
- R4 ``hasMember`` and ``derivedFrom`` are the older ``related`` (type ``has-member`` / ``derived-from``).
- DSTU2 ``referenceRange.meaning`` is R4's ``referenceRange.type``.
- ``value[x]``: no ``integer`` before R4, no ``boolean`` in DSTU2 and in STU3 components (such a value
  is dropped); ``effective[x]`` is ``dateTime`` or ``Period`` before R4 (``Timing``, ``instant`` dropped).
"""

from __future__ import annotations

from gateway.convert.codes import first_text
from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

_VALUES = ("Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio", "SampledData", "time",
           "dateTime", "Period")
_RANGE = Backbone({"low": "Quantity", "high": "Quantity", "type": "CodeableConcept",
                   "appliesTo": "CodeableConcept*", "age": "Range", "text": "string"})
ELEMENTS: Elements = {
    "identifier": "Identifier*", "basedOn": "Reference*", "partOf": "Reference*", "status": "code",
    "category": "CodeableConcept*", "code": "CodeableConcept", "subject": "Reference", "focus": "Reference*",
    "encounter": "Reference", "effective": ("dateTime", "Period", "Timing", "instant"), "issued": "instant",
    "performer": "Reference*", "value": _VALUES, "dataAbsentReason": "CodeableConcept",
    "interpretation": "CodeableConcept*", "note": "Annotation*", "bodySite": "CodeableConcept",
    "method": "CodeableConcept", "specimen": "Reference", "device": "Reference", "referenceRange": _RANGE,
    "hasMember": "Reference*", "derivedFrom": "Reference*",
    "component": Backbone({"code": "CodeableConcept", "value": _VALUES, "dataAbsentReason": "CodeableConcept",
                           "interpretation": "CodeableConcept*", "referenceRange": _RANGE}),
}
_OLDER_VALUES = ("Quantity", "CodeableConcept", "string", "Range", "Ratio", "SampledData", "time", "dateTime",
                 "Period")
_RELATED = (("hasMember", "has-member"), ("derivedFrom", "derived-from"))


def _notes_and_related(comment: str) -> Older:
    def down(src: JSON, tgt: JSON, conv: Converter) -> None:
        if "note" in src:
            text = first_text(src["note"])
            if text is not None:
                tgt[comment] = text
        if "hasMember" in src or "derivedFrom" in src:
            related = [{"type": kind, "target": conv.value("Reference", ref)}
                       for name, kind in _RELATED for ref in src.get(name, ())]
            if related:
                tgt["related"] = related

    def up(src: JSON, tgt: JSON, conv: Converter) -> None:
        if isinstance(src.get(comment), str):
            tgt["note"] = [{"text": src[comment]}]
        for related in src.get("related", ()):
            name = next((n for n, kind in _RELATED if kind == related.get("type")), None)
            if name is not None and "target" in related:
                tgt.setdefault(name, []).append(conv.value("Reference", related["target"]))

    handled = frozenset({"note", "hasMember", "derivedFrom"})
    return Older(handled=handled, older_only=frozenset({comment, "related"}), down=down, up=up)


_stu3 = _notes_and_related("comment")
_dstu2 = _notes_and_related("comments")

MAP = ResourceMap("Observation", ELEMENTS, {
    "STU3": Older(
        renamed={"encounter": "context"}, missing=frozenset({"partOf", "focus"}),
        single=frozenset({"interpretation", "component.interpretation"}),
        choices={"effective": ("dateTime", "Period"), "value": (*_OLDER_VALUES, "boolean", "Attachment"),
                 "component.value": (*_OLDER_VALUES, "Attachment")},
        handled=_stu3.handled, older_only=_stu3.older_only, down=_stu3.down, up=_stu3.up),
    "DSTU2": Older(
        renamed={"referenceRange.type": "meaning", "component.referenceRange.type": "meaning"},
        missing=frozenset({"basedOn", "partOf", "focus", "component.interpretation",
                           "referenceRange.appliesTo", "component.referenceRange.appliesTo"}),
        single=frozenset({"category", "interpretation"}),
        choices={"effective": ("dateTime", "Period"), "value": (*_OLDER_VALUES, "Attachment"),
                 "component.value": (*_OLDER_VALUES, "Attachment")},
        handled=_dstu2.handled, older_only=_dstu2.older_only, down=_dstu2.down, up=_dstu2.up),
})
