"""Signed page links on the proxy's path (docs/security.md, "Paging"): the links an answer hands out, and what a
request that follows one may do. The token and its MAC are :mod:`gateway.proxy.page_links`; this module puts
them on the path::

    answer  ─► LinkRewriting (gateway.proxy.rewrite) with PageLinks.link_parameter: in the pass that rewrites
               the answer's links, each paging link of a Bundle on the base the client called (``next``,
               ``prev``, ``previous``, ``first``, ``last``; ``self`` when it continues a search) gets a token for
               the tenant, the client and the needs of the request that produced the answer
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

import functools
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import quote, unquote_plus

from gateway.clock import Clock
from gateway.proxy import page_links
from gateway.proxy.exchange import Exchange
from gateway.proxy.needs import Need
from gateway.proxy.rewrite import LinkParameter
from gateway.stores.errors import StoreUnavailable

if TYPE_CHECKING:
    from gateway.tokens.keys import SigningKey

PAGING_RELATIONS: Final = frozenset({"next", "prev", "previous", "first", "last"})
"""Bundle.link relations that page through a search (R4 §3.1.1.6 "Paging", IANA link relations)."""
KEPT_KEYS: Final = 8
_SEPARATORS: Final = re.compile(r"[&;]")


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

    async def signing_key(self) -> SigningKey: ...

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
            active = await self._ring.signing_key()
            if self._current is not None and self._current[0] == active.kid:
                return True  # the usual request: the published keys are read only when the active key changes
            published = await self._ring.published_signing_keys()
        except StoreUnavailable:
            return self._current is not None
        if not published:
            return self._current is not None
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
    (:meth:`link_parameter`), with the keys of ``keys`` (loaded by :meth:`ready`) for ``lifetime_seconds``."""

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

    def link_parameter(self, exchange: Exchange) -> LinkParameter | None:
        """The page token parameter for the paging links of ``exchange``'s answer (:class:`PageTokens`); None
        when no link gets one: no key, or needs too many to carry (such links are judged as unsigned requests)."""
        needs = exchange.target.needs
        if needs is None or len(needs) > page_links.MAX_NEEDS:
            return None
        try:
            self._keys.signing_key()
        except LookupError:
            return None
        return PageTokens(self._keys, exchange, needs, expires=int(self._clock.now().timestamp()) + self._lifetime)


class PageTokens:
    """A ``gateway.proxy.rewrite.LinkParameter`` for one answer: ``_gateway_page=<token>`` for each paging link
    on the base the client called (``next``, ``prev``, ``previous``, ``first``, ``last``; ``self`` when it
    continues a search or is the base itself), for the caller and the needs of the request; the MAC's common
    part prepared once, at the first such link."""

    def __init__(self, keys: page_links.PageKeys, exchange: Exchange, needs: Sequence[Need], *, expires: int) -> None:
        self._keys = keys
        self._claims = exchange.caller.claims
        self._base_url = exchange.base.url
        self._continues = exchange.target.continuation
        self._needs = needs
        self._expires = expires

    @functools.cached_property
    def _signer(self) -> page_links.Signer:
        claims = self._claims
        return page_links.Signer(self._keys, tenant=claims.tenant_id, client_id=claims.client_id, needs=self._needs,
                                 expires=self._expires)

    def __call__(self, relation: str, url: str) -> str | None:
        rest = _below(url, self._base_url)
        if rest is None:
            return None
        path, _, query = rest.lstrip("/").partition("?")
        if relation not in PAGING_RELATIONS and not (relation == "self" and (self._continues or not path)):
            return None
        return f"{page_links.PAGE_PARAMETER}={self._signer.token(continuation(path, query))}"


def _below(url: str, base_url: str) -> str | None:
    """What follows ``base_url`` in ``url`` (empty, ``/...`` or ``?...``), None when ``url`` is not on it."""
    if not url.startswith(base_url):
        return None
    rest = url[len(base_url):]
    return rest if rest[:1] in ("", "/", "?") else None
