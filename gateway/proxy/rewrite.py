"""Link rewriting (issue 4, "Rewriting"): every provider URL in a response becomes the gateway's.

One compiled pattern finds, in a single pass over the body, the provider base in its plain
form and in its JSON-escaped form (``https:\\/\\/provider\\/fhir``), followed by a boundary
(``/``, ``?``, ``#``, a quote, ``<``, ``\\``, whitespace or the end), so ``…/fhir2`` is not
touched. It covers Bundle ``link[].url``, ``entry[].fullUrl``, absolute references and XML
``value`` attributes alike; ``Location`` and ``Content-Location`` use :meth:`rewrite_url`.
"""

from __future__ import annotations

import re

_BOUNDARY = rb"""(?=[/?#"'<\\\s&]|$)"""


class LinkRewriter:
    """Rewrites ``provider_base`` to ``gateway_base`` (both without a trailing slash)."""

    def __init__(self, provider_base: str, gateway_base: str) -> None:
        self.provider_base = provider_base.rstrip("/")
        self.gateway_base = gateway_base.rstrip("/")
        plain = self.provider_base.encode("utf-8")
        escaped = plain.replace(b"/", b"\\/")
        self._replacements = {
            plain: self.gateway_base.encode("utf-8"),
            escaped: self.gateway_base.encode("utf-8").replace(b"/", b"\\/"),
        }
        alternatives = b"|".join(re.escape(form) for form in (escaped, plain))
        self._pattern = re.compile(b"(?:" + alternatives + b")" + _BOUNDARY)
        self._needle = plain.split(b"//", 1)[-1].split(b"/", 1)[0]  # the host[:port] part

    def rewrite_body(self, body: bytes) -> bytes:
        """``body`` with every provider base replaced, in one pass."""
        if self._needle not in body:
            return body
        return self._pattern.sub(lambda m: self._replacements[m.group(0)], body)

    def rewrite_url(self, url: str) -> str:
        """A single URL (``Location``, ``Content-Location``, a batch entry's ``fullUrl``)."""
        if url == self.provider_base or url.startswith(self.provider_base) and \
                url[len(self.provider_base)] in "/?#":
            return self.gateway_base + url[len(self.provider_base):]
        return url


def is_textual(content_type: str) -> bool:
    """Bodies whose URLs are rewritten: JSON and XML (FHIR or plain) and text."""
    media = content_type.split(";", 1)[0].strip().lower()
    return (media.startswith("text/") or media.endswith(("json", "xml", "+fhir"))
            or "+json" in media or "+xml" in media or media == "")
