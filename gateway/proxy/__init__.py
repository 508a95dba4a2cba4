"""The tenant-routed FHIR proxy (docs/proxy.md): verify the gateway token, pick the tenant's route,
forward to the provider's FHIR server and hand back its answer with every provider URL rewritten.

Modules, one job each:

- ``paths``         FHIR REST path grammar check of the captured path
- ``urls``          upstream URL = route base + path + raw query, verbatim
- ``destinations``  provider URL and address rules (SSRF); import-light, used by the admin API
- ``access``        read-only / write classification of a request (batch Bundles included)
- ``headers``       request and response header policy (RFC 9110 §7.6.1)
- ``rewrite``       provider base -> gateway base, one pass over a body
- ``transport``     the one-method transport seam, the aiohttp transport and its errors
- ``upstream_auth`` provider credentials (none, OAuth client credentials, managed identity)
- ``batch``         fan-out of read-only batch Bundles into a batch-response
- ``forward``       the request pipeline; ``endpoint`` is the Functions entry point
"""
