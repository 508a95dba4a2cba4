"""Bundle (R4 §2.36... http.html, bundle.html) <-> STU3 (HAPI ``Bundle30_40``) and DSTU2 (HAPI
``Bundle10_40``): searchset, batch, batch-response and the rest, each entry's resource (and a
batch-response entry's nested searchset) converted by its own map.

- ``timestamp`` is R4-only; DSTU2 also lacks ``identifier`` and ``entry.response.outcome``.
- ``fullUrl``, ``request.url``, ``response.location`` and ``link.url`` keep their base (the proxy's link
  rewriting owns it); only a resource type renamed between the versions changes in them
  (``MedicationRequest`` <-> DSTU2 ``MedicationOrder``).
- An entry whose resource type is not bridged (or whose resource is malformed) is left out, and one
  OperationOutcome entry (``search.mode`` ``outcome``, severity ``warning``) names the types left out, so a
  search still answers.
"""

from __future__ import annotations

import re

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.errors import MalformedResource, UnsupportedResource
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

_LINK = Backbone({"relation": "string", "url": "uri"})
ELEMENTS: Elements = {
    "identifier": "Identifier", "type": "code", "timestamp": "instant", "total": "unsignedInt", "link": _LINK,
    "entry": Backbone({
        "link": _LINK, "fullUrl": "uri", "resource": "Resource",
        "search": Backbone({"mode": "code", "score": "decimal"}, repeats=False),
        "request": Backbone({"method": "code", "url": "uri", "ifNoneMatch": "string", "ifModifiedSince": "instant",
                             "ifMatch": "string", "ifNoneExist": "string"}, repeats=False),
        "response": Backbone({"status": "string", "location": "uri", "etag": "string", "lastModified": "instant",
                              "outcome": "Resource"}, repeats=False),
    }),
}
_TYPE_IN_URL = re.compile(r"(^|/)(MedicationRequest|MedicationOrder)(?=[/?#]|$)")


def rename_types_in_url(url: str, target: str) -> str:
    """``url`` with the medication order type of ``target`` (``MedicationOrder`` in DSTU2) as a path segment."""
    if "Medication" not in url:
        return url
    name = "MedicationOrder" if target == "DSTU2" else "MedicationRequest"
    return _TYPE_IN_URL.sub(lambda m: m.group(1) + name, url)


def _resources(src: JSON, tgt: JSON, conv: Converter) -> None:
    """Each entry's resource (and a batch-response entry's outcome) converted; entries of types the bridge
    does not convert left out and named in one OperationOutcome entry."""
    from gateway.convert.registry import convert_resource_by

    skipped: list[str] = []
    entries: list[JSON] = []
    for source_entry, entry in zip(src.get("entry", ()), tgt.get("entry", ()), strict=False):
        resource = source_entry.get("resource") if type(source_entry) is dict else None
        if type(resource) is dict:
            try:
                entry["resource"] = convert_resource_by(resource, conv)
            except (UnsupportedResource, MalformedResource) as exc:
                skipped.append(exc.resource_type)
                continue
        response = source_entry.get("response") if "response" in entry else None
        if type(response) is dict and type(response.get("outcome")) is dict and conv.target != "DSTU2":
            entry["response"]["outcome"] = convert_resource_by(response["outcome"], conv)
        _rename_urls(entry, conv.target)
        entries.append(entry)
    for link in tgt.get("link", ()):
        _rename_url(link, "url", conv.target)
    if skipped:
        entries.append(_skipped(sorted(set(skipped)), conv))
    if "entry" in tgt:
        tgt["entry"] = entries


def _rename_urls(entry: JSON, target: str) -> None:
    _rename_url(entry, "fullUrl", target)
    if "request" in entry:
        _rename_url(entry["request"], "url", target)
    if "response" in entry:
        _rename_url(entry["response"], "location", target)


def _rename_url(holder: JSON, key: str, target: str) -> None:
    url = holder.get(key)
    if isinstance(url, str) and "Medication" in url:
        holder[key] = rename_types_in_url(url, target)


def _skipped(types: list[str], conv: Converter) -> JSON:
    text = (f"Entries of type {', '.join(t[:64] for t in types)} were left out: the gateway cannot convert them "
            f"from FHIR {conv.source} to FHIR {conv.target}.")
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "warning", "code": "not-supported", "diagnostics": text}]}
    return {"resource": outcome, "search": {"mode": "outcome"}}


_HANDLED = frozenset({"entry.resource", "entry.response.outcome"})
MAP = ResourceMap("Bundle", ELEMENTS, {
    "STU3": Older(missing=frozenset({"timestamp"}), handled=_HANDLED, down=_resources, up=_resources),
    "DSTU2": Older(missing=frozenset({"timestamp", "identifier"}), handled=_HANDLED, down=_resources,
                   up=_resources),
})
