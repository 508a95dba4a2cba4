"""Administration API: routes, clients and secrets, signing keys, audit trail, OpenAPI document.

Layers: ``endpoint`` (HTTP dispatch) -> ``handlers`` (parse, validate, render)
-> ``operations`` (plain async functions doing the work and writing audit
records) over the stores of :class:`gateway.services.Services`.
"""
