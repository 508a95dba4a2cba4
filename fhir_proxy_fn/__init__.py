"""Tenant-routed FHIR proxy: thin adapter over gateway.surfaces.fhir."""

import azure.functions as func

from gateway.azure_http import serve
from gateway.surfaces.fhir import handle


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
