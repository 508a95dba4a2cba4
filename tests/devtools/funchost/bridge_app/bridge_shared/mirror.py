"""What a function received, and a response built from a JSON description (so tests can compare)."""

import base64
import json
import threading

import azure.functions as func


def received(req: func.HttpRequest, **extra: object) -> dict:
    return {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers.items()),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": base64.b64encode(req.get_body()).decode(),
        "thread": threading.current_thread().name,
        **extra,
    }


def echo(req: func.HttpRequest, **extra: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(received(req, **extra)), mimetype="application/json")


def described(req: func.HttpRequest) -> func.HttpResponse:
    """``{"status", "headers": [[name, value]...], "body": base64, "mimetype", "charset"}`` as an HttpResponse."""
    spec = json.loads(req.get_body())
    options = {key: spec[key] for key in ("mimetype", "charset") if key in spec}
    response = func.HttpResponse(base64.b64decode(spec.get("body", "")), status_code=spec.get("status", 200),
                                 **options)
    for name, value in spec.get("headers", []):
        response.headers.add(name, value)
    return response
