"""Echo what the function received, so tests can check the HttpRequest the host built."""

import json
import os
import threading

import azure.functions as func


def echo(req: func.HttpRequest, **extra: object) -> func.HttpResponse:
    document = {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers.items()),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": req.get_body().decode("latin-1"),
        "thread": threading.current_thread().name,
        "cwd": os.getcwd(),
        **extra,
    }
    return func.HttpResponse(json.dumps(document), mimetype="application/json")
