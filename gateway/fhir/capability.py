"""The gateway's CapabilityStatement (STU3 3.0.1, R4 4.0.1) and DSTU2 Conformance (1.0.2).

Pure functions of the settings, built once per worker and served as prebuilt
bytes (no fhir.resources at request time; tests validate the STU3 and R4
documents with fhir.resources' STU3 and R4B models and check DSTU2 field by field).

What the reference client (Teams Patients app) reads: ``fhirVersion``, ``rest.mode``,
``rest.interaction``, ``rest.resource.type`` and ``rest.security`` with the SMART
``oauth-uris`` extension (http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris)
naming the token URL. The SMART ``capabilities`` extensions (SMART App Launch 2.x "Conformance")
list what ``.well-known/smart-configuration`` lists (``gateway.fhir.smart``).
Every resource it uses is listed with read and search-type
and the search parameters it sends.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__ as SOFTWARE_VERSION
from gateway.config import Settings
from gateway.fhir.bases import ClientBase, default_base
from gateway.fhir.smart import SMART_CAPABILITIES
from gateway.fhir.versions import DSTU2, STU3, FhirVersion

SOFTWARE_NAME = "Interop partner gateway"
DOCUMENT_DATE = "2026-11-25"
PUBLISHER = "Interop partner gateway"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SMART_CAPABILITIES_URL = "http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities"
SECURITY_SYSTEMS = {
    "DSTU2": "http://hl7.org/fhir/restful-security-service",
    "STU3": "http://hl7.org/fhir/restful-security-service",
    "R4": "http://terminology.hl7.org/CodeSystem/restful-security-service",
}
# The Teams docs' own example names this (the value set's URL) as the system; listed as a second coding.
DOCS_SECURITY_SYSTEM = "http://hl7.org/fhir/ValueSet/restful-security-service"

# (name, type, documentation) per resource; "medication" stands for MedicationOrder / MedicationRequest.
_SEARCH_PARAMS: dict[str, list[tuple[str, str, str]]] = {
    "Patient": [
        ("_id", "token", "Logical id (the app searches by id with _id)."),
        ("identifier", "token", "Medical record number."),
        ("family", "string", "Family name; the :contains modifier is passed to the provider."),
        ("given", "string", "Given name; the :contains modifier is passed to the provider."),
        ("name", "string", "Any part of the name; the :contains modifier is passed to the provider."),
        ("birthdate", "date", "Birth date, also partial (YYYY, YYYY-MM)."),
        ("gender", "token", "Administrative gender."),
    ],
    "Encounter": [("patient", "reference", "The patient."), ("date", "date", "Encounter period.")],
    "Observation": [
        ("patient", "reference", "The patient."),
        ("category", "token", "Category, e.g. vital-signs."),
        ("code", "token", "Observation code."),
        ("date", "date", "Effective date."),
    ],
    "Condition": [("patient", "reference", "The patient.")],
    "AllergyIntolerance": [("patient", "reference", "The patient.")],
    "Coverage": [("patient", "reference", "The patient (passed to the provider).")],
    "Location": [("_id", "token", "Logical id."), ("name", "string", "Name of the location.")],
    "medication": [("patient", "reference", "The patient.")],
}


def resource_types(fhir_version: FhirVersion) -> list[str]:
    return ["Patient", "Encounter", "Observation", "Condition", "AllergyIntolerance", "Coverage", "Location",
            fhir_version.medication_order_type]


def _resource(resource_type: str, fhir_version: FhirVersion) -> dict[str, Any]:
    key = "medication" if resource_type.startswith("Medication") else resource_type
    params = []
    for name, kind, documentation in _SEARCH_PARAMS[key]:
        param: dict[str, Any] = {"name": name, "type": kind, "documentation": documentation}
        if fhir_version == DSTU2 and kind == "string":
            param["modifier"] = ["contains", "exact"]
        params.append(param)
    return {
        "type": resource_type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": params,
    }


def _security(settings: Settings, version: FhirVersion) -> dict[str, Any]:
    base = settings.public_base_url
    return {
        "extension": [{
            "url": OAUTH_URIS,
            "extension": [
                {"url": "token", "valueUri": f"{base}/oauth2/token"},
                {"url": "authorize", "valueUri": f"{base}/oauth2/authorize"},
            ],
        }, *({"url": SMART_CAPABILITIES_URL, "valueCode": code} for code in SMART_CAPABILITIES)],
        "service": [{
            "coding": [
                {"system": SECURITY_SYSTEMS[version.name], "code": "OAuth", "display": "OAuth"},
                {"system": DOCS_SECURITY_SYSTEM, "code": "OAuth"},
            ],
            "text": "OAuth 2.0 client credentials; scope = the customer's Azure AD tenant id",
        }],
        "description": ("Get a token at the token URL with grant_type=client_credentials, the client's id and "
                        "secret (Basic or form) or a signed client assertion (private_key_jwt, SMART Backend "
                        "Services), and scope = the customer's Azure AD tenant id, optionally followed by SMART "
                        "system scopes (system/Patient.rs, system/*.read)."),
    }


def capability_document(settings: Settings, base: ClientBase | None = None) -> dict[str, Any]:
    """The metadata resource of ``base`` (default: ``/fhir``) in its version (Conformance for DSTU2)."""
    base = base or default_base(settings)
    version = base.version
    document: dict[str, Any] = {
        "resourceType": version.capability_type,
        "status": "active",
        "date": DOCUMENT_DATE,
        "publisher": PUBLISHER,
        "kind": "instance",
        "software": {"name": SOFTWARE_NAME, "version": SOFTWARE_VERSION},
        "implementation": {"description": "FHIR gateway routing each customer tenant to its provider",
                           "url": base.url},
        "fhirVersion": version.number,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": _security(settings, version),
            "resource": [_resource(t, version) for t in resource_types(version)],
            # DSTU2 has no "batch" code: its "transaction" covers Bundle batch and transaction (DSTU2 http.html).
            "interaction": [{"code": "transaction" if version == DSTU2 else "batch"}],
        }],
    }
    if version in (DSTU2, STU3):
        document["acceptUnknown"] = "both"  # required (1..1) in DSTU2 and STU3, gone in R4
    return document
