"""A local Azure Functions host for the classic folder-per-function Python model.

Functions Core Tools cannot be installed on our machines, so ``python -m devtools.funchost``
serves the same function folders the way the Functions host and its Python worker do:
route templates with ASP.NET Core semantics (:mod:`.routing`), ``authLevel`` keys,
``local.settings.json`` (:mod:`.settings`), real ``azure.functions.HttpRequest`` objects and
the worker's response conversion (:mod:`.invoke`), on uvicorn (:mod:`.server`).
"""
