"""OAuth 2.0 token endpoint, JWKS and the authorize stub: thin adapter over gateway.oauth.endpoint."""

import azure.functions as func

from gateway.azure_http import serve
from gateway.oauth.endpoint import handle


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await serve(req, handle, context)
