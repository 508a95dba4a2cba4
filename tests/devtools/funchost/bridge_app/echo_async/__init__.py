"""async def main: echoes the request it received (runs on the host's event loop)."""

import azure.functions as func
from bridge_shared.mirror import echo


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return echo(req, kind="async")
