"""Administration API (clients, secrets, routes, keys, audit): thin adapter over gateway.surfaces.admin."""

import azure.functions as func

from gateway.azure_http import serve
from gateway.surfaces.admin import handle


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
