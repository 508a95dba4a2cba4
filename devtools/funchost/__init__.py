"""A local Azure Functions host for the classic folder-per-function Python model.

Functions Core Tools cannot be installed on our machines, so ``python -m devtools.funchost``
serves the same function folders the way the .NET Functions host does: route templates with
ASP.NET Core semantics (:mod:`.routing`), ``authLevel`` keys, limits and the front end's forwarding
headers (:mod:`.app`), ``local.settings.json`` (:mod:`.settings`), on uvicorn (:mod:`.server`).
The functions themselves run under Microsoft's Python Functions runtime, ``azure-functions-runtime-v1``
(:mod:`.worker`), which gets the host's ``RpcHttp`` and returns one (:mod:`.rpchttp`).
"""
