"""Persistence: Protocols (``protocols``), Table Storage, Key Vault and in-memory implementations."""
