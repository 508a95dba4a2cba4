"""What the reference client (the Teams Patients app) reads of each resource, version-neutral, so a conversion
can be checked field by field: the §2.2 (DSTU2) and §3.2 (STU3) tables of the reference interface document."""

from __future__ import annotations

from typing import Any

View = dict[str, Any]


def _concept(value: Any) -> tuple[str | None, tuple[tuple[str | None, str | None], ...]]:
    value = value if isinstance(value, dict) else {}
    return value.get("text"), tuple((c.get("code"), c.get("display")) for c in value.get("coding", ()))


def _display(reference: Any) -> str | None:
    return reference.get("display") if isinstance(reference, dict) else None


def _names(resource: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for name in resource.get("name", ()):
        family = name.get("family")
        family = " ".join(family) if isinstance(family, list) else family
        out.append((name.get("use"), family, tuple(name.get("given", ())), tuple(name.get("prefix", ()))))
    return out


def patient(r: dict[str, Any], v: str) -> View:
    practitioners = r.get("careProvider" if v == "DSTU2" else "generalPractitioner", ())
    return {"name": _names(r), "gender": r.get("gender"), "birthDate": r.get("birthDate"),
            "identifier": [(i.get("value"), _concept(i.get("type"))) for i in r.get("identifier", ())],
            "practitioner": [_display(p) for p in practitioners]}


def _quantity(q: Any) -> tuple[Any, Any]:
    return (q.get("value"), q.get("unit")) if isinstance(q, dict) else (None, None)


def observation(r: dict[str, Any], v: str) -> View:
    return {"effective": r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start"),
            "code": _concept(r.get("code")), "value": _quantity(r.get("valueQuantity")),
            "component": [(_concept(c.get("code")), _quantity(c.get("valueQuantity"))) for c in r.get("component", ())]}


def condition(r: dict[str, Any], v: str) -> View:
    recorded = {"DSTU2": "dateRecorded", "STU3": "assertedDate", "R4": "recordedDate"}[v]
    return {"code": _concept(r.get("code")), "recorded": (r.get(recorded) or "")[:10] or None,
            "severity": _concept(r.get("severity"))}


def encounter(r: dict[str, Any], v: str) -> View:
    locations = r.get("location") or [{}]
    return {"status": r.get("status"), "type": [_concept(t) for t in r.get("type", ())],
            "start": (r.get("period") or {}).get("start"), "location": _display(locations[0].get("location"))}


def allergy(r: dict[str, Any], v: str) -> View:
    notes = r.get("note")
    note = notes.get("text") if isinstance(notes, dict) else (notes or [{}])[0].get("text")
    return {"code": _concept(r.get("substance" if v == "DSTU2" else "code")),
            "recorded": r.get("assertedDate" if v == "STU3" else "recordedDate"), "note": note,
            "reaction": [(_concept(x.get("substance")), [_concept(m) for m in x.get("manifestation", ())])
                         for x in r.get("reaction", ())]}


def medication_request(r: dict[str, Any], v: str) -> View:
    requester = r.get("requester")
    agent = {"DSTU2": r.get("prescriber"), "STU3": (requester or {}).get("agent"), "R4": requester}[v]
    return {"medication": (_display(r.get("medicationReference")), _concept(r.get("medicationCodeableConcept"))),
            "authored": r.get("dateWritten" if v == "DSTU2" else "authoredOn"), "requester": _display(agent),
            "dosage": [d.get("text") for d in r.get("dosageInstruction", ())]}


def coverage(r: dict[str, Any], v: str) -> View:
    if v == "DSTU2":
        payors = [_display(r.get("issuer"))] if r.get("issuer") else []
        subscriber = (r.get("subscriberId") or {}).get("value")
    else:
        payors = [_display(p) for p in r.get("payor", ())]
        subscriber = r.get("subscriberId")
    return {"payor": payors, "period": r.get("period"), "subscriberId": subscriber}


def coverage_groups(r: dict[str, Any], v: str) -> dict[str, Any]:
    """STU3 ``grouping`` (group, plan and their displays) as R4 ``class`` would give it."""
    if v == "STU3":
        g = r.get("grouping") or {}
        return {k: g.get(k) for k in ("group", "groupDisplay", "plan", "planDisplay")}
    found: dict[str, Any] = {"group": None, "groupDisplay": None, "plan": None, "planDisplay": None}
    for item in r.get("class", ()):
        code = item["type"]["coding"][0]["code"]
        if code in ("group", "plan") and found[code] is None:
            found[code], found[code + "Display"] = item.get("value"), item.get("name")
    return found


VIEWS = {"Patient": patient, "Observation": observation, "Condition": condition, "Encounter": encounter,
         "AllergyIntolerance": allergy, "MedicationRequest": medication_request, "MedicationOrder": medication_request,
         "Coverage": coverage}


def view(resource: dict[str, Any], version: str) -> View | None:
    """The reference client's fields of ``resource`` (None for a type it does not read)."""
    read = VIEWS.get(resource["resourceType"])
    return read(resource, version) if read else None
