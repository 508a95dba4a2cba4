"""Outbound HTTP rules: every call the gateway makes to a host a route, a client or a hospital names.

One package that the proxy, the upstream authentication kinds, client JWKS fetching and telemetry all use:

- ``transport``        the one-method transport seam (after httpx's), the pooled aiohttp transport, a mock
- ``errors``           why an outbound call gave no usable answer (the hierarchy drawn in its docstring)
- ``destinations``     which URLs and resolved addresses may be contacted (SSRF rules); standard library only
- ``guarded``          the aiohttp connector that checks every resolved address before connecting
- ``identity_scopes``  the one token the gateway's managed identity may obtain for a provider

Nothing here imports the proxy, OAuth or admin code.
"""
