"""Responses without a Content-Type header: the worker derives one from mimetype and charset."""

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    kind = req.route_params["kind"]
    if kind == "fhir":
        return func.HttpResponse(b'{"resourceType":"Patient"}', mimetype="application/fhir+json", charset="utf-8")
    if kind == "latin":
        return func.HttpResponse("caf\u00e9", mimetype="text/html", charset="iso-8859-1")
    return func.HttpResponse("plain")
