"""Raises: the host answers 500 with an empty body and logs the traceback."""

import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("bridge failure from the raises function")
