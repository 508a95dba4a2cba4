"""How the gateway authenticates to a provider: one module per kind of upstream authentication, in a registry.

A route's ``upstreamAuth`` is one typed value of one kind::

    none                 no Authorization header                                          none.py
    clientCredentials    RFC 6749 §4.4 with a client secret kept in Key Vault             client_credentials.py
    managedIdentity      the gateway's managed identity, for the provider's origin only  managed_identity.py
    privateKeyJwt        SMART Backend Services: an RFC 7523 assertion the gateway signs  private_key_jwt.py

Each kind (:class:`~gateway.upstream.kind.UpstreamAuthKind`) owns everything about it: its value type, how it
reads the admin's input and the stored record, its admin validation, the route fields its credential is
bound to (``bindings``), its OpenAPI fragment and how it fetches a provider token. ``registry.KINDS`` lists
them; ``authenticator.UpstreamAuthenticator`` caches the tokens per route. The admin API, the OpenAPI document
and the proxy ask the registry, never a kind by name. Adding a kind: docs/architecture.md, "Adding an upstream
auth kind".
"""
