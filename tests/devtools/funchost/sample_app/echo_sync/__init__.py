"""Plain def main with a context parameter: runs in the thread pool; route sync/{name:alpha}."""

import azure.functions as func
from shared_code.echo import echo


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return echo(req, kind="sync", function_name=context.function_name)
