"""Interop partner gateway: one FHIR endpoint, many providers, routed by the client's Azure AD tenant."""

__version__ = "0.1.0"
