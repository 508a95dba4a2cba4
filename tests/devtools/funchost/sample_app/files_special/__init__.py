"""Literal route files/special (wins over files/{*rest}); answers through a named output binding."""

import azure.functions as func

from . import texts


def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    res.set(func.HttpResponse(texts.SPECIAL, mimetype="text/plain"))
