"""Administration API (clients, secrets, routes, keys, audit): thin adapter over gateway.admin.endpoint."""

import azure.functions as func

from gateway.admin.endpoint import handle
from gateway.azure_http import serve


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
