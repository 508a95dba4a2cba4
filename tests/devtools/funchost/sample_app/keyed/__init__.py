"""No authLevel in function.json: the default, function, applies."""

import azure.functions as func
from shared_code.echo import echo


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return echo(req, kind="keyed")
