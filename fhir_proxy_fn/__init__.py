"""Tenant-routed FHIR proxy: thin adapter over gateway.proxy.endpoint."""

import azure.functions as func

from gateway.proxy.endpoint import handle
from gateway.http import serve


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return await serve(req, handle)
