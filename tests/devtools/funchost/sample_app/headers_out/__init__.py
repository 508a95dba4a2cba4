"""Response headers as the worker passes them: one value per name, every Set-Cookie kept."""

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse(b"{}", status_code=201, headers={"X-Custom": "one"}, mimetype="application/json")
    response.headers.add("X-Custom", "two")
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    response.headers["ETag"] = 'W/"3"'
    return response
