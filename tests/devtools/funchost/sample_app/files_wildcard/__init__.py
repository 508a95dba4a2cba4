"""Catch-all route files/{*rest}, every method."""

import azure.functions as func
from shared_code.echo import echo


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return echo(req, kind="catch-all")
