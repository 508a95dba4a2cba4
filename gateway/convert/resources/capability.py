"""CapabilityStatement (R4 §2.40... capabilitystatement.html) <-> STU3 CapabilityStatement (HAPI
``CapabilityStatement30_40``) and DSTU2 Conformance (HAPI ``Conformance10_40``).

- ``fhirVersion`` states the target version; ``acceptUnknown`` (required before R4, gone in R4) comes
  from HAPI's ``EXT_ACCEPT_UNKNOWN_EXTENSION_URL`` extension when present, else ``extensions``
  (every R4 server must accept extensions).
- Canonical profiles (``rest.resource.profile``, ``rest.operation.definition``...) are References before R4;
  ``supportedProfile``, ``rest.resource.operation`` and ``implementation.custodian`` have no older place.
- DSTU2: ``purpose`` is ``requirements``; the system interaction ``batch`` is ``transaction`` (DSTU2's
  code covers both); ``patch`` and the R4-only type interactions are left out; ``rest.resource.type``
  ``MedicationRequest`` is ``MedicationOrder``; no ``title``,
  ``jurisdiction``, ``instantiates``, ``imports``, ``patchFormat``, ``implementationGuide``,
  ``rest.resource.conditionalRead``, ``referencePolicy``, ``documentation`` of a resource.
"""

from __future__ import annotations

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.registry import OLDER_NAMES
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ACCEPT_UNKNOWN = "http://hl7.org/fhir/3.0/StructureDefinition/extension-CapabilityStatement.acceptUnknown"
_NUMBERS = {"DSTU2": "1.0.2", "STU3": "3.0.1", "R4": "4.0.1"}
_INTERACTION = Backbone({"code": "code", "documentation": "markdown"})
_SEARCH_PARAM = Backbone({"name": "string", "definition": "canonical", "type": "code", "documentation": "markdown"})
_OPERATION = Backbone({"name": "string", "definition": "canonical", "documentation": "markdown"})
ELEMENTS: Elements = {
    "url": "uri", "version": "string", "name": "string", "title": "string", "status": "code",
    "experimental": "boolean", "date": "dateTime", "publisher": "string", "contact": "ContactDetail*",
    "description": "markdown", "jurisdiction": "CodeableConcept*", "purpose": "markdown", "copyright": "markdown",
    "kind": "code", "instantiates": "canonical*", "imports": "canonical*",
    "software": Backbone({"name": "string", "version": "string", "releaseDate": "dateTime"}, repeats=False),
    "implementation": Backbone({"description": "string", "url": "url", "custodian": "Reference"}, repeats=False),
    "fhirVersion": "code", "format": "code*", "patchFormat": "code*", "implementationGuide": "canonical*",
    "rest": Backbone({
        "mode": "code", "documentation": "markdown",
        "security": Backbone({"cors": "boolean", "service": "CodeableConcept*", "description": "markdown"},
                             repeats=False),
        "resource": Backbone({
            "type": "code", "profile": "canonical", "supportedProfile": "canonical*", "documentation": "markdown",
            "interaction": _INTERACTION, "versioning": "code", "readHistory": "boolean", "updateCreate": "boolean",
            "conditionalCreate": "boolean", "conditionalRead": "code", "conditionalUpdate": "boolean",
            "conditionalDelete": "code", "referencePolicy": "code*", "searchInclude": "string*",
            "searchRevInclude": "string*", "searchParam": _SEARCH_PARAM, "operation": _OPERATION}),
        "interaction": _INTERACTION, "searchParam": _SEARCH_PARAM, "operation": _OPERATION,
        "compartment": "canonical*"}),
    "document": Backbone({"mode": "code", "documentation": "markdown", "profile": "canonical"}),
}
_REFERENCES = ("rest.resource.profile", "rest.operation.definition", "document.profile")
_DSTU2_TYPE_INTERACTIONS = frozenset({"read", "vread", "update", "delete", "history-instance", "validate",
                                      "history-type", "create", "search-type"})


def _references_down(src: JSON, tgt: JSON) -> None:
    """Canonical URLs that older versions hold as References."""
    for rest in tgt.get("rest", ()):
        for resource in rest.get("resource", ()):
            if isinstance(resource.get("profile"), str):
                resource["profile"] = {"reference": resource["profile"]}
        for operation in rest.get("operation", ()):
            if isinstance(operation.get("definition"), str):
                operation["definition"] = {"reference": operation["definition"]}
    for document in tgt.get("document", ()):
        if isinstance(document.get("profile"), str):
            document["profile"] = {"reference": document["profile"]}


def _references_up(src: JSON, tgt: JSON) -> None:
    for rest in tgt.get("rest", ()):
        for resource in rest.get("resource", ()):
            _unwrap(resource, "profile")
        for operation in rest.get("operation", ()):
            _unwrap(operation, "definition")
    for document in tgt.get("document", ()):
        _unwrap(document, "profile")


def _unwrap(holder: JSON, key: str) -> None:
    value = holder.get(key)
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            holder[key] = reference
        else:
            del holder[key]


def _down(src: JSON, tgt: JSON, conv: Converter) -> None:
    tgt["fhirVersion"] = _NUMBERS[conv.target]
    extensions = tgt.get("extension", [])
    accept = next((e.get("valueCode") for e in extensions if e.get("url") == ACCEPT_UNKNOWN), None)
    tgt["acceptUnknown"] = accept if isinstance(accept, str) else "extensions"
    rest_extensions = [e for e in extensions if e.get("url") != ACCEPT_UNKNOWN]
    if rest_extensions:
        tgt["extension"] = rest_extensions
    else:
        tgt.pop("extension", None)
    tgt.setdefault("format", ["json"])
    _references_down(src, tgt)
    if conv.target == "DSTU2":
        _interactions_dstu2(tgt)
        _resource_types(tgt, {r4: dstu2 for dstu2, r4 in OLDER_NAMES["DSTU2"].items()})


def _resource_types(tgt: JSON, names: dict[str, str]) -> None:
    """``rest.resource.type`` as the target names it (DSTU2 ``MedicationOrder`` for R4 ``MedicationRequest``)."""
    for rest in tgt.get("rest", ()):
        for resource in rest.get("resource", ()):
            kind = resource.get("type")
            if isinstance(kind, str) and kind in names:
                resource["type"] = names[kind]


def _interactions_dstu2(tgt: JSON) -> None:
    for rest in tgt.get("rest", ()):
        codes = [i for i in rest.get("interaction", ()) if i.get("code") != "batch"]
        if any(i.get("code") == "batch" for i in rest.get("interaction", ())) and not any(
                i.get("code") == "transaction" for i in codes):
            codes.append({"code": "transaction"})
        if "interaction" in rest:
            rest["interaction"] = codes
        for resource in rest.get("resource", ()):
            kept = [i for i in resource.get("interaction", ()) if i.get("code") in _DSTU2_TYPE_INTERACTIONS]
            resource["interaction"] = kept or [{"code": "read"}]


def _up(src: JSON, tgt: JSON, conv: Converter) -> None:
    tgt["fhirVersion"] = _NUMBERS["R4"]
    if isinstance(src.get("acceptUnknown"), str):
        tgt["extension"] = [*tgt.get("extension", ()), {"url": ACCEPT_UNKNOWN, "valueCode": src["acceptUnknown"]}]
    _references_up(src, tgt)
    if conv.source == "DSTU2":
        _resource_types(tgt, dict(OLDER_NAMES["DSTU2"]))


_HANDLED = frozenset({"fhirVersion"})
_STU3_MISSING = frozenset({"imports", "implementation.custodian", "rest.resource.supportedProfile",
                           "rest.resource.operation"})
MAP = ResourceMap("CapabilityStatement", ELEMENTS, {
    "STU3": Older(missing=_STU3_MISSING, handled=_HANDLED,
                  older_only=frozenset({"acceptUnknown", "profile", "rest.security.certificate"}),
                  down=_down, up=_up),
    "DSTU2": Older(
        resource_type="Conformance", renamed={"purpose": "requirements"},
        missing=_STU3_MISSING | {"title", "jurisdiction", "instantiates", "patchFormat", "implementationGuide",
                                 "rest.resource.conditionalRead", "rest.resource.referencePolicy",
                                 "rest.resource.documentation"},
        handled=_HANDLED,
        older_only=frozenset({"acceptUnknown", "profile", "messaging", "rest.security.certificate",
                              "rest.transactionMode"}),
        down=_down, up=_up),
})
