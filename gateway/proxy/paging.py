"""Signed page links on the proxy's path (docs/security.md, "Paging"): the links an answer hands out, and what a
request that follows one may do. The token and its MAC are :mod:`gateway.proxy.page_links`; this module puts
them on the path::

    answer  ─► PageLinkSigning, the last step back: each paging link of a Bundle on the base the client called
               (``next``, ``prev``, ``previous``, ``first``, ``last``; ``self`` when it continues a search) gets
               a token for the tenant, the client and the needs of the request that produced the answer
    request ─► FhirProxy (PageLinks.needs_of): a GET or HEAD whose last parameter is a token the gateway signed
               for this caller and this exact continuation is allowed with exactly the signed needs (checked
               against the token's scopes now); the token is taken off before forwarding, whatever it is worth

A continuation is signed and checked in one canonical form (:func:`continuation`): its path below the base and
its parameters split on ``&`` and ``;``, decoded and encoded again one way, so a client that re-encodes a link
(``|`` as ``%7C``) still follows it, while a parameter added, removed, changed or split off (``;_type=...``)
breaks the MAC. Links are signed for ``lifetime_seconds`` (the access token lifetime).

Keys: each signing key of the key ring (Key Vault: the same for every instance, kept across restarts) gives one
MAC key (HKDF, ``page_links.derive_page_key``). :class:`KeyRingPageKeys` reads them through the key ring's
``published_signing_keys()`` (the active key and the previous ones until they retire, all read from the key
index the ring loads anyway), so a link keeps working across a key rotation on every worker until the previous
key retires; after that it is judged as a request the gateway did not sign (docs/tokens.md, "Keys the gateway
signs with").
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import quote, unquote_plus

from gateway.clock import Clock
from gateway.http import Response
from gateway.proxy import page_links
from gateway.proxy.exchange import Exchange, ProxyStep
from gateway.proxy.needs import Need
from gateway.stores.errors import StoreUnavailable

if TYPE_CHECKING:
    from gateway.tokens.keys import SigningKey

PAGING_RELATIONS: Final = frozenset({"next", "prev", "previous", "first", "last"})
"""Bundle.link relations that page through a search (R4 §3.1.1.6 "Paging", IANA link relations)."""
KEPT_KEYS: Final = 8
_SEPARATORS: Final = re.compile(r"[&;]")
_JSON_LINK: Final = re.compile(
    rb'"relation"\s*:\s*"(?P<relation>[^"\\]*)"\s*,\s*"url"\s*:\s*"(?P<url>[^"\\]*(?:\\/[^"\\]*)*)"')
_XML_LINK: Final = re.compile(
    rb'<link>\s*<relation\s+value="(?P<relation>[^"<>]*)"\s*/>\s*<url\s+value="(?P<url>[^"<>]*)"\s*/>')


def continuation(path: str, query: str) -> str:
    """The canonical form of a request below a FHIR base: ``path?name=value&...`` with every name and value
    decoded (``+`` a space, as servers read a query) and percent-encoded again, ``&`` and ``;`` both separators."""
    parts = []
    for part in _SEPARATORS.split(query):
        if part:
            name, equals, value = part.partition("=")
            encoded = quote(unquote_plus(name), safe="")
            parts.append(f"{encoded}={quote(unquote_plus(value), safe='')}" if equals else encoded)
    return f"{path}?{'&'.join(parts)}"


class SigningKeys(Protocol):
    """The key ring's signing side (gateway.tokens.keyring.KeyRing)."""

    async def published_signing_keys(self) -> tuple[SigningKey, ...]: ...


class KeyRingPageKeys:
    """:class:`page_links.PageKeys` over the key ring: the MAC key of its active signing key, and of every key it
    still publishes (loaded by :meth:`refresh`), so that a link signed before a rotation keeps working on every
    worker, one started after the rotation included, until the previous key retires; keys this worker saw
    before are kept too, at most :data:`KEPT_KEYS` in all."""

    def __init__(self, ring: SigningKeys) -> None:
        self._ring = ring
        self._current: tuple[str, bytes] | None = None
        self._known: OrderedDict[str, bytes] = OrderedDict()

    async def refresh(self) -> bool:
        """Load the ring's published keys (the ring caches them); False when none can be had (Key Vault
        unreachable and nothing loaded before)."""
        try:
            published = await self._ring.published_signing_keys()
        except StoreUnavailable:
            return self._current is not None
        if not published:
            return self._current is not None
        if self._current is not None and self._current[0] == published[0].kid:
            return True
        for key in reversed(published):  # the active key last: the most recently kept
            if key.kid not in self._known:
                material = key.private_key.private_numbers().private_value.to_bytes(32, "big")
                self._known[key.kid] = page_links.derive_page_key(material, key.kid)
            self._known.move_to_end(key.kid)
        self._current = (published[0].kid, self._known[published[0].kid])
        while len(self._known) > KEPT_KEYS:
            self._known.popitem(last=False)
        return True

    def signing_key(self) -> tuple[str, bytes]:
        if self._current is None:
            raise LookupError("no page-link key loaded")
        return self._current

    def verifying_key(self, kid: str) -> bytes | None:
        return self._known.get(kid)


class PageLinks:
    """This worker's page links: tokens read from requests (:meth:`needs_of`) and written into answers
    (:meth:`sign`), with the keys of ``keys`` (loaded by :meth:`ready`) for ``lifetime_seconds``."""

    def __init__(self, keys: KeyRingPageKeys, *, clock: Clock, lifetime_seconds: int) -> None:
        self._keys = keys
        self._clock = clock
        self._lifetime = lifetime_seconds

    async def ready(self) -> bool:
        """Load the current key before a token is read or written; False when there is none."""
        return await self._keys.refresh()

    def needs_of(self, token: str, path: str, query: str, *, tenant: str, client_id: str) -> tuple[Need, ...] | None:
        """The needs signed into ``token`` for exactly this continuation and caller; None when it is not such a
        token (malformed, another link or caller, expired, a key no longer known)."""
        try:
            return page_links.verify(self._keys, token, continuation=continuation(path, query), tenant=tenant,
                                     client_id=client_id, now=self._clock.now().timestamp())
        except page_links.InvalidPageLink:
            return None

    def sign(self, body: bytes, *, base_url: str, tenant: str, client_id: str, needs: Sequence[Need],
             continues: bool) -> bytes:
        """``body`` with a token on every paging link (see the module docstring) on ``base_url``; unchanged when
        there is no key or the needs are too many to carry (such links are judged as unsigned requests)."""
        if len(needs) > page_links.MAX_NEEDS:
            return body
        try:
            self._keys.signing_key()
        except LookupError:
            return body
        expires = int(self._clock.now().timestamp()) + self._lifetime

        def token_for(relation: str, url: str) -> str | None:
            rest = _below(url, base_url)
            if rest is None:
                return None
            path, _, query = rest.lstrip("/").partition("?")
            if relation not in PAGING_RELATIONS and not (relation == "self" and (continues or not path)):
                return None
            return page_links.sign(self._keys, continuation=continuation(path, query), tenant=tenant,
                                   client_id=client_id, needs=needs, expires=expires)

        if b'"relation"' in body:
            body = _JSON_LINK.sub(_inserting(token_for, b"\\/", b"/", b"&"), body)
        if b"<relation" in body:
            body = _XML_LINK.sub(_inserting(token_for, b"&amp;", b"&", b"&amp;"), body)
        return body


def _below(url: str, base_url: str) -> str | None:
    """What follows ``base_url`` in ``url`` (empty, ``/...`` or ``?...``), None when ``url`` is not on it."""
    if not url.startswith(base_url):
        return None
    rest = url[len(base_url):]
    return rest if rest[:1] in ("", "/", "?") else None


def _inserting(token_for: Callable[[str, str], str | None], escaped: bytes, plain: bytes,
               separator: bytes) -> Callable[[re.Match[bytes]], bytes]:
    """A substitution adding ``_gateway_page=<token>`` as the last parameter of a link's URL (as the body writes
    it: ``escaped`` stands for ``plain`` in it, ``separator`` is its ``&``)."""

    def insert(match: re.Match[bytes]) -> bytes:
        written = match["url"]
        url = written.replace(escaped, plain).decode("utf-8", "replace")
        token = token_for(match["relation"].decode("utf-8", "replace"), url)
        if token is None:
            return match[0]
        joined = written + (separator if b"?" in written else b"?") + f"{page_links.PAGE_PARAMETER}={token}".encode()
        start, end = match.span("url")
        return match[0][: start - match.start()] + joined + match[0][end - match.start():]

    return insert


class PageLinkSigning(ProxyStep):
    """The proxy step that signs an answer's paging links (the module docstring); first in the list, so it sees
    the answer last, its links already on the base the client called and in the client's version."""

    def __init__(self, links: PageLinks) -> None:
        self._links = links

    def incoming(self, exchange: Exchange, response: Response) -> Response:
        target = exchange.target
        body = response.body
        if not body or target.needs is None or (b'"relation"' not in body and b"<relation" not in body):
            return response
        claims = exchange.caller.claims
        response.body = self._links.sign(body, base_url=exchange.base.url, tenant=claims.tenant_id,
                                         client_id=claims.client_id, needs=target.needs,
                                         continues=target.continuation)
        return response


def may_carry_links(body: bytes) -> bool:
    """Whether an answer may hold Bundle links to sign (JSON or XML)."""
    return b'"relation"' in body or b"<relation" in body
