"""Answers through a named http output binding instead of $return."""

import azure.functions as func


def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    res.set(func.HttpResponse("through res", status_code=202))
