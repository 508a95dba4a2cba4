"""SMART's Python client (``fhirclient``) as a client of one of the gateway's FHIR bases, run in its own venv:
1.0.6 (DSTU2 models) in ``.venv-dstu2``, 3.x (STU3 models) in ``.venv-stu3``; it imports nothing of the project.

    python smart_client.py <fhir base> <token url> <client id> <client secret> <tenant> <patient id> <medication type>

discover (the capability statement, through the client) -> token (client credentials) -> read the patient ->
search each of the reference client's types -> page through ``next`` to the end -> the reference client's batch.
Every resource is built with the client's strict models (an invalid one raises). One JSON line per document on
stdout (``{"step": ..., "resource": ...}``), then ``{"done": {...counts}}``; a failure exits non-zero.
"""

import json
import sys

import requests
from fhirclient import client
from fhirclient.models import bundle as bundle_model
from fhirclient.models import fhirelementfactory


def emit(step, document):
    print(json.dumps({"step": step, "resource": document}), flush=True)


def strict(document):
    """The document as the client's model (strict: an element of another version raises)."""
    kind = document["resourceType"]
    model = fhirelementfactory.FHIRElementFactory.instantiate(kind, None)
    if type(model).__name__ != kind:
        raise ValueError(f"the client's models have no {kind}")
    return type(model)(document, strict=True)


def main(base, token_url, client_id, secret, tenant, patient_id, medication):
    smart = client.FHIRClient(settings={"app_id": "gateway-e2e", "api_base": base})
    server = smart.server
    # Built by the client's own model from <base>/metadata (open): 1.0.6 calls it conformance, 3.x capabilityStatement.
    capability = server.capabilityStatement if hasattr(server, "get_capability") else server.conformance
    emit("metadata", capability.as_json())
    answer = requests.post(token_url, data={"grant_type": "client_credentials", "scope": tenant},
                           auth=(client_id, secret), timeout=30)
    answer.raise_for_status()
    server.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    patient = strict(server.request_json(f"Patient/{patient_id}"))
    emit("read", patient.as_json())
    pages = 0
    for resource_type in ("Observation", "Condition", "Encounter", "AllergyIntolerance", medication, "Coverage"):
        url = f"{resource_type}?patient={patient_id}&_count=3"
        while url:
            page = bundle_model.Bundle(server.request_json(url), strict=True)
            pages += 1
            for entry in page.entry or []:
                emit(f"search {resource_type}", strict(entry.resource.as_json()).as_json())
            url = next((link.url for link in page.link or [] if link.relation == "next"), None)
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": u}} for u in (
            f"Patient/{patient_id}", f"Encounter?patient={patient_id}", f"Observation?patient={patient_id}",
            f"{medication}?patient={patient_id}", f"AllergyIntolerance?patient={patient_id}",
            f"Condition?patient={patient_id}")]}
    answered = bundle_model.Bundle(server.post_json("", batch).json(), strict=True)
    emit("batch", answered.as_json())
    print(json.dumps({"done": {"pages": pages, "batch": len(answered.entry or []), "patient": patient.id}}),
          flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:8])
