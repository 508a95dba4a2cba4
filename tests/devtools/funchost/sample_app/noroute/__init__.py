"""No route in function.json: served at /api/noroute. Reports the SAMPLE_* settings it sees."""

import json
import os

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    seen = {name: value for name, value in os.environ.items() if name.startswith("SAMPLE_")}
    return func.HttpResponse(json.dumps(seen), mimetype="application/json")
