"""authLevel admin: only the master key opens it."""

import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("master", mimetype="text/plain")
