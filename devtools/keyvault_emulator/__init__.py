"""A small, protocol-faithful Azure Key Vault emulator (Secrets and Keys REST APIs), for development only.

Run with ``python -m devtools.keyvault_emulator --port 8443 --data-dir .local/keyvault``.
It speaks HTTPS with a self-signed certificate (``<data-dir>/cert.pem``, which
clients trust as their CA bundle), answers the Key Vault auth challenge and
accepts *any* well-formed bearer token: it authenticates nobody, so it refuses
to listen on anything but loopback.

The Keys API subset serves what the gateway's signing keys need (create,
rotate, get, list, update, sign and verify a digest, soft delete) with software
RSA and EC keys whose private halves never leave the emulator.

Modules: ``certs`` (the certificate), ``vault`` (the secrets and their
persistence), ``keys`` and ``crypto`` (the keys, their persistence and their
operations), ``protocol`` (Key Vault's JSON, errors and paging),
``secrets_api`` and ``keys_api`` (the routes), ``meter`` (counts per operation and
an optional Key Vault-like rate limit), ``server`` (the application:
challenge, api-version and errors for every route).
"""
