"""One spelling per host: what every destination, managed-identity and origin comparison compares.

A host can be written many ways that reach the same server: ``KV.vault.azure.net``, the fully qualified
``kv.vault.azure.net.`` (RFC 1034 §3.1: the trailing dot names the root) and ``kv.vault.azure。net``, whose
U+3002 IDEOGRAPHIC FULL STOP is a label separator under IDNA (UTS #46 §4, RFC 3490 §3.1), as are U+FF0E and
U+FF61. aiohttp's URL library (yarl) maps such a host to ``kv.vault.azure.net`` before it connects, so a check
that compared the text as written could be passed by one spelling while the connection goes to the other.

:func:`normal_host` gives the one spelling: lowercase ASCII, labels separated by ``.``, internationalised labels in
their A-label form (``xn--…``), no trailing dot. Non-ASCII hosts go through the ``idna`` package (IDNA 2008 with the
UTS #46 mapping, the library yarl itself uses), so the gateway reads a host exactly as its HTTP client will. A
host that mapping refuses (an empty label, a disallowed code point) has no normal form: None, and the callers
refuse it. ASCII hosts are only lowercased, as yarl does, so names with ``_`` keep working. IP literals (IPv6 in
brackets or not) are returned lowercased. ``idna`` is imported only for a non-ASCII host; it is pinned in
requirements.txt (yarl depends on it anyway).
"""

from __future__ import annotations


def normal_host(host: str) -> str | None:
    """The normal spelling of ``host`` (see the module docstring), or None when it cannot be a host name."""
    if not isinstance(host, str) or not host:
        return None
    if ":" in host:  # an IPv6 literal (urlsplit's hostname drops the brackets)
        return host.lower()
    if host.isascii():
        text = host.lower()
    else:
        import idna  # only for non-ASCII hosts: cold paths import nothing beyond the standard library

        try:
            text = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    if text.endswith("."):
        text = text[:-1]
    if not text or any(not label for label in text.split(".")):
        return None
    return text
