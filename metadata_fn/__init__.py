"""FHIR metadata (CapabilityStatement / Conformance) and SMART discovery: thin adapter over gateway.fhir.discovery."""

import azure.functions as func

from gateway.fhir.discovery import handle
from gateway.http import serve


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
