"""The four functions' entry points: which part of the worker's services answers, and how failures render.

Each module holds one :class:`gateway.entry.Surface` (``handle``) that its function folder serves through
``gateway.azure_http.serve``. These modules and ``gateway.entry`` are the only ones besides
``gateway.services`` that know the per-worker ``Services``: every part they hand a request to was built
with exactly its collaborators.
"""
