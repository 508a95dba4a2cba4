"""OAuth 2.0 token endpoint, JWKS and the authorize stub: thin adapter over gateway.surfaces.token."""

import azure.functions as func

from gateway.azure_http import serve
from gateway.surfaces.token import handle


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
