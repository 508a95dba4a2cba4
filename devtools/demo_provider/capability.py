"""The demo provider's Conformance (DSTU2) / CapabilityStatement (STU3, R4).

What the Patients app reads (reference doc §4.2, §4.3): ``fhirVersion``
(1.0.2 / 3.0.1; R4 4.0.1), ``rest.mode``, ``rest.interaction`` and
``rest.resource.type``. By default the demo provider needs no authentication and
advertises no ``rest.security``: the gateway in front of it does OAuth. In SMART
Backend Services mode ``rest.security`` names the SMART-on-FHIR service and
carries the token URL in the ``oauth-uris`` extension (SMART App Launch 1.0
"Conformance", kept by 2.x beside ``.well-known/smart-configuration``).
"""

from __future__ import annotations

from typing import Any

from devtools.demo_provider import search
from devtools.demo_provider.catalog import LAST_UPDATED

FHIR_VERSIONS = {"DSTU2": "1.0.2", "STU3": "3.0.1", "R4": "4.0.1"}
SOFTWARE = {"name": "Interop gateway demo provider", "version": "1.0"}
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE_SYSTEMS = {"DSTU2": "http://hl7.org/fhir/restful-security-service",
                            "STU3": "http://hl7.org/fhir/restful-security-service",
                            "R4": "http://terminology.hl7.org/CodeSystem/restful-security-service"}


def _search_params(resource_type: str) -> list[dict[str, str]]:
    params = [{"name": "_id", "type": "token"}]
    params += [{"name": name, "type": kind} for name, kind in search.PARAMETERS.get(resource_type, {}).items()]
    return params


def security(version: str, token_url: str) -> dict[str, Any]:
    """``rest.security`` of a server whose tokens come from ``token_url`` (SMART Backend Services)."""
    return {
        "extension": [{"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url}]}],
        "service": [{"coding": [{"system": SECURITY_SERVICE_SYSTEMS[version], "code": "SMART-on-FHIR"}],
                     "text": "OAuth2 using SMART-on-FHIR profile (SMART Backend Services)"}],
    }


def capability_statement(version: str, base: str, resource_types: tuple[str, ...],
                         token_url: str | None = None) -> dict[str, Any]:
    """The metadata document of ``version`` served at ``base`` (e.g. ``http://127.0.0.1:8081/stu3``);
    with ``token_url`` it advertises SMART Backend Services security."""
    resources = [{
        "type": kind,
        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": False,
        "searchParam": _search_params(kind),
    } for kind in resource_types]
    rest: dict[str, Any] = {"mode": "server", "resource": resources}
    if token_url is not None:
        rest["security"] = security(version, token_url)
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
