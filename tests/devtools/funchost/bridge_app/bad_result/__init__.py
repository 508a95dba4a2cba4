"""Returns something that is not an HTTP response: the runtime cannot convert it."""

import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return 42  # type: ignore[return-value]
