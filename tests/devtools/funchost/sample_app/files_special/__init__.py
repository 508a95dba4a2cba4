"""Literal route files/special: its name sorts before files_wildcard (files/{*rest}), so the host tries it first;
answers through a named output binding."""

import azure.functions as func

from . import texts


def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    res.set(func.HttpResponse(texts.SPECIAL, mimetype="text/plain"))
