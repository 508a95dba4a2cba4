"""Mutation testing of the security-critical modules (``make mutation``): mutmut over the fast tests, one table."""
