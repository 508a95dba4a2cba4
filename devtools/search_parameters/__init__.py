"""HL7 search parameter definitions turned into the gateway's per-version tables (see generate.py)."""
