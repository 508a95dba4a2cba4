"""The demo provider's Conformance (DSTU2) / CapabilityStatement (STU3, R4).

What the Patients app reads (reference doc §4.2, §4.3): ``fhirVersion``
(1.0.2 / 3.0.1; R4 4.0.1), ``rest.mode``, ``rest.interaction`` and
``rest.resource.type``. The demo provider itself needs no authentication, so it
advertises no ``rest.security``: the gateway in front of it does OAuth.
"""

from __future__ import annotations

from typing import Any

from devtools.demo_provider import search
from devtools.demo_provider.catalog import LAST_UPDATED

FHIR_VERSIONS = {"DSTU2": "1.0.2", "STU3": "3.0.1", "R4": "4.0.1"}
SOFTWARE = {"name": "Interop gateway demo provider", "version": "1.0"}


def _search_params(resource_type: str) -> list[dict[str, str]]:
    params = [{"name": "_id", "type": "token"}]
    params += [{"name": name, "type": kind} for name, kind in search.PARAMETERS.get(resource_type, {}).items()]
    return params


def capability_statement(version: str, base: str, resource_types: tuple[str, ...]) -> dict[str, Any]:
    """The metadata document of ``version`` served at ``base`` (e.g. ``http://127.0.0.1:8081/stu3``)."""
    resources = [{
        "type": kind,
        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": False,
        "searchParam": _search_params(kind),
    } for kind in resource_types]
    rest: dict[str, Any] = {"mode": "server", "resource": resources}
    doc: dict[str, Any] = {
        "resourceType": "Conformance" if version == "DSTU2" else "CapabilityStatement",
        "url": f"{base}/metadata",
        "name": "DemoProvider",
        "status": "active",
        "date": LAST_UPDATED[:10],
        "publisher": "Interop partner gateway (development tools)",
        "kind": "instance",
        "software": SOFTWARE,
        "implementation": {"description": "Synthetic demo hospital FHIR server", "url": base},
        "fhirVersion": FHIR_VERSIONS[version],
        "format": ["json"],
        "rest": [rest],
    }
    if version == "DSTU2":
        doc["acceptUnknown"] = "both"
        rest["transactionMode"] = "batch"
        rest["interaction"] = [{"code": "transaction", "documentation": "batch Bundles only"}]
    else:
        if version == "STU3":
            doc["acceptUnknown"] = "both"
        rest["interaction"] = [{"code": "batch"}]
    return doc
