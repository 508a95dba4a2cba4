"""def main: answers with the response the request body describes."""

import azure.functions as func
from bridge_shared.mirror import described


def main(req: func.HttpRequest) -> func.HttpResponse:
    return described(req)
