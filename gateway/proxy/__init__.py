"""The tenant-routed FHIR proxy (docs/proxy.md): verify the gateway token, pick the tenant's route,
forward to the provider's FHIR server and hand back its answer with every provider URL rewritten.

Modules, one job each:

- ``paths``         FHIR REST path grammar check of the captured path
- ``urls``          upstream URL = route base + path + raw query, verbatim
- ``access``        read-only / write classification of a request (batch Bundles included)
- ``headers``       request and response header policy (RFC 9110 §7.6.1)
- ``rewrite``       provider base -> gateway base, one pass over a body
- ``batch``         fan-out of read-only batch Bundles into a batch-response
- ``forward``       the request pipeline; ``endpoint`` is the Functions entry point

The outbound rules it relies on (transport, guarded connections, provider URL rules, managed-identity
scopes) are ``gateway.outbound``'s; the provider's credentials, one module per kind, ``gateway.upstream``'s.
"""
