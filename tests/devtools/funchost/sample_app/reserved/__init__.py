"""Route admin/things: the Functions host refuses to load it (built-in routes)."""

import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("must never be served")
