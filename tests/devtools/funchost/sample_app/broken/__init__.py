"""Fails to import: listed in error at start, 500 when called."""

import azure.functions as func
import module_that_does_not_exist  # noqa: F401


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("unreachable")
