"""Builds the Azure-backed stores from settings (owned by the stores work; see protocols.py)."""
