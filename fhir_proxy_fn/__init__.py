"""Tenant-routed FHIR proxy: thin adapter over gateway.proxy.endpoint."""

import azure.functions as func

from gateway.azure_http import serve
from gateway.proxy.endpoint import handle


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
