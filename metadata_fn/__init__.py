"""FHIR metadata (CapabilityStatement / Conformance) and SMART discovery: thin adapter over gateway.surfaces."""

import azure.functions as func

from gateway.azure_http import serve
from gateway.surfaces.metadata import handle


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
