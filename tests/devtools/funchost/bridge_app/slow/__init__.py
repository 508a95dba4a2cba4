"""Waits ?seconds= before answering (for the host's concurrency limits)."""

import asyncio

import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params.get("seconds", "0")))
    return func.HttpResponse("done")
