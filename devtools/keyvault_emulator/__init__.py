"""A small, protocol-faithful Azure Key Vault emulator (Secrets REST API), for development only.

Run with ``python -m devtools.keyvault_emulator --port 8443 --data-dir .local/keyvault``.
It speaks HTTPS with a self-signed certificate (``<data-dir>/cert.pem``, which
clients trust as their CA bundle), answers the Key Vault auth challenge and
accepts *any* well-formed bearer token: it authenticates nobody, so it refuses
to listen on anything but loopback.

Modules: ``certs`` (the certificate), ``vault`` (the secrets and their
persistence), ``server`` (HTTP: challenge, routing, Key Vault's JSON).
"""
