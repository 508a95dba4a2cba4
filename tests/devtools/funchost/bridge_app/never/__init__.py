"""Never answers (for the host's functionTimeout)."""

import asyncio

import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")
