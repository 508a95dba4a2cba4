"""Page links the gateway signs: a continuation link handed to a client works for that client and tenant, with
the permissions the first page needed, until it expires, and nothing else does (docs/security.md, "Paging").

Providers of the HAPI family put ``next`` on the FHIR base (``<base>?_getpages=<id>&_getpagesoffset=2``); such a
server serves the page its id names whatever else the URL says, so the gateway cannot judge the request by its
URL. Instead, when it rewrites such a link, it appends one parameter, always last::

    <gateway base>?_getpages=…&_getpagesoffset=2&_count=2&_gateway_page=v1.<kid>.<expires>.<needs>.<mac>

- ``kid``: the id of the key the MAC key comes from (:class:`PageKeys`; rotation and lifetime follow that key),
- ``expires``: Unix seconds; ``needs``: base64url of the first page's needs (``[[type or "*", interaction,
  included], …]``, gateway.proxy.needs),
- ``mac``: base64url HMAC-SHA256 over the version, kid, expiry, needs, tenant, client id and the exact
  continuation (the link's path relative to the FHIR base and its normalised query, without the token).

A link is accepted (:func:`verify`) only if its MAC matches (compared in constant time) for the caller's tenant
and client, the continuation is exactly the one signed (``&_type=Patient`` added changes it), the key is still
accepted and the expiry has not passed; the proxy then checks the signed needs against the token's scopes *now*.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from gateway.proxy.needs import Need
from gateway.scopes import INTERACTION_LETTER, WILDCARD

PAGE_PARAMETER: Final = "_gateway_page"
VERSION: Final = "v1"
MAX_NEEDS: Final = 64
_KID: Final = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_TYPE: Final = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")
_TOKEN: Final = re.compile(
    r"v1\.(?P<kid>[A-Za-z0-9_\-]{1,64})\.(?P<expires>[1-9][0-9]{0,11})\.(?P<needs>[A-Za-z0-9_\-]{1,4096})"
    r"\.(?P<mac>[A-Za-z0-9_\-]{43})")
_KDF_SALT: Final = b"fhir-gateway/page-links/v1"
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))  # json.dumps(..., separators=...) makes one per call


class InvalidPageLink(Exception):
    """The page token is malformed, not signed by the gateway for this caller and link, or expired."""


class PageKeys(Protocol):
    """Where page-link MAC keys come from (shared by every instance, surviving restarts)."""

    def signing_key(self) -> tuple[str, bytes]:
        """``(kid, key)`` to sign new links with."""

    def verifying_key(self, kid: str) -> bytes | None:
        """The key for ``kid`` while links signed with it are accepted; None otherwise."""


PageLinkCheck = Callable[[str, str], Sequence[Need]]
"""``(token, continuation) -> needs``, InvalidPageLink otherwise: :func:`verify` bound to the caller."""


def derive_page_key(key_material: bytes, kid: str) -> bytes:
    """The page-link MAC key of a signing key (HKDF-SHA256, RFC 5869): 32 bytes, one per ``kid``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=kid.encode()).derive(key_material)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "==")  # the decoder ignores padding beyond what it needs


def _signed_head(kid: str, expires: str, needs: str, tenant: str, client_id: str) -> bytes:
    """The MAC input up to the continuation: compact JSON ``["v1",kid,expires,needs,tenant,client_id,`` (the
    continuation and ``]`` follow, :func:`_signed_tail`), the same for every link of an answer."""
    return _COMPACT.encode([VERSION, kid, expires, needs, tenant, client_id])[:-1].encode() + b","


def _signed_tail(continuation: str) -> bytes:
    return json.dumps(continuation).encode() + b"]"


def _mac(key: bytes, kid: str, expires: str, needs: str, tenant: str, client_id: str, continuation: str) -> bytes:
    signed = _signed_head(kid, expires, needs, tenant, client_id) + _signed_tail(continuation)
    return hmac.new(key, signed, hashlib.sha256).digest()


def encode_needs(needs: Sequence[Need]) -> str:
    rows = [[WILDCARD if n.resource_type is None else n.resource_type, n.interaction, int(n.included)]
            for n in needs]
    return _b64(_COMPACT.encode(rows).encode("ascii"))


def decode_needs(text: str) -> tuple[Need, ...]:
    """The needs a (MAC-checked) token carries; InvalidPageLink when they are not needs the gateway writes."""
    try:
        rows = json.loads(_unb64(text))
    except ValueError:
        raise InvalidPageLink("the page token's needs cannot be read") from None
    if not isinstance(rows, list) or len(rows) > MAX_NEEDS:
        raise InvalidPageLink("the page token's needs cannot be read")
    return tuple(_need(row) for row in rows)


def _need(row: object) -> Need:
    if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
            and row[1] in INTERACTION_LETTER and row[2] in (0, 1) and not isinstance(row[2], bool)):
        raise InvalidPageLink("the page token's needs cannot be read")
    if row[0] != WILDCARD and not _TYPE.fullmatch(row[0]):
        raise InvalidPageLink("the page token's needs cannot be read")
    return Need(None if row[0] == WILDCARD else row[0], row[1], included=row[2] == 1)


class Signer:
    """Page tokens for the links of one answer: one caller, one set of needs, one expiry, the current key.

    What every link shares is prepared once (the key id checked, the needs encoded, the HMAC state after the
    MAC input's common head); each :meth:`token` then hashes only its continuation. LookupError when there is no
    signing key; ValueError for a key id that would break the token's format.
    """

    def __init__(self, keys: PageKeys, *, tenant: str, client_id: str, needs: Sequence[Need], expires: int) -> None:
        kid, key = keys.signing_key()
        if not _KID.fullmatch(kid):
            raise ValueError("a page key id must be 1-64 URL-safe characters")
        encoded = encode_needs(needs)
        self._prefix = f"{VERSION}.{kid}.{expires}.{encoded}."
        self._head = hmac.new(key, _signed_head(kid, str(expires), encoded, tenant, client_id), hashlib.sha256)

    def token(self, continuation: str) -> str:
        """The page token for ``continuation`` (path relative to the base, ``?``, normalised query)."""
        mac = self._head.copy()
        mac.update(_signed_tail(continuation))
        return self._prefix + _b64(mac.digest())


def sign(keys: PageKeys, *, continuation: str, tenant: str, client_id: str, needs: Sequence[Need],
         expires: int) -> str:
    """The page token for ``continuation`` (path relative to the base, ``?``, normalised query)."""
    return Signer(keys, tenant=tenant, client_id=client_id, needs=needs, expires=expires).token(continuation)


def verify(keys: PageKeys, token: str, *, continuation: str, tenant: str, client_id: str,
           now: float) -> tuple[Need, ...]:
    """The needs signed into ``token`` for exactly this continuation, tenant and client; InvalidPageLink else."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidPageLink("not a page token")
    key = keys.verifying_key(match["kid"])
    if key is None:
        raise InvalidPageLink("the page token's key is not accepted")
    expected = _mac(key, match["kid"], match["expires"], match["needs"], tenant, client_id, continuation)
    if not hmac.compare_digest(expected, _unb64(match["mac"])):
        raise InvalidPageLink("the page token was not signed for this link and caller")
    if int(match["expires"]) <= now:
        raise InvalidPageLink("the page token has expired")
    return decode_needs(match["needs"])


def link_with_token(url: str, token: str) -> str:
    """``url`` with the token appended as its last query parameter (the token needs no percent-encoding)."""
    return f"{url}{'&' if '?' in url else '?'}{PAGE_PARAMETER}={token}"


def split_token(query: str) -> tuple[str, str | None]:
    """``(query without the token, token)`` when the query's last parameter is the one token; else (query, None).

    A token anywhere else, or twice, is not taken: the parameter then stays in the query, where the scope
    check refuses it as a special parameter it does not know.
    """
    head, _, last = query.rpartition("&")
    name, equals, token = last.partition("=")
    if name != PAGE_PARAMETER or not equals or f"{PAGE_PARAMETER}=" in head:
        return query, None
    return head, token  # head is "" when the token is the only parameter
