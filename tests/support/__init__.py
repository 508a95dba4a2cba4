"""Plain values and builders the test suites share; nothing here runs.

Two packages serve the tests, split by whether a thing runs:

- ``tests.support`` (this package): constants and pure builders, importable from any test, benchmark or
  fixture without starting anything and without pytest.

  - ``constants``: the tenants, client ids and addresses the suites speak of (the reference tenant GUID, the
    gateway's development base URL, the reference client's request headers...).
  - ``fhir``: FHIR proxy requests as the Functions host hands them over (``gateway.http.Request``).
  - ``oauth``: token requests and their forms (RFC 6749 §4.4 client credentials, §2.3.1 HTTP Basic;
    SMART Backend Services assertions).
  - ``admin``: the inputs of the admin operations (route specs), as the admin API builds them.

- ``tests.fixtures``: things that run: servers and stand-ins (Azurite, the Key Vault emulator, the local
  Functions host, the provider, ingestion, Entra, DNS resolver, loopback) and the pytest fixtures that
  start them or build in-memory services. Fixtures import their values from here, never their own copies.

Helpers that write into a test's services (``tests.unit.oauth.helpers``, ``connect`` in
``tests.fixtures.provider``) stay next to the tests and fixtures that own those services.

A module that needs a deliberately different value (another tenant for isolation, another base URL)
keeps its own constant under a name that says why.
"""
