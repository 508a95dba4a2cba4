"""A sync function that blocks its thread for ?seconds= (for the host's functionTimeout)."""

import time

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(float(req.params.get("seconds", "0")))
    return func.HttpResponse("slept")
