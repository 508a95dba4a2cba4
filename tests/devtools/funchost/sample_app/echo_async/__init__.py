"""async def main: runs on the host's event loop; route items/{id:int}/{detail?}."""

import azure.functions as func
from shared_code.echo import echo


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return echo(req, kind="async")
