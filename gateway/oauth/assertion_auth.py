"""Authenticating a client by its signed assertion (``private_key_jwt``: RFC 7523 §2.2 and §3; SMART App
Launch 2.x Backend Services, "Authenticating to the token endpoint").

The assertion names its client only in its unverified ``iss``
(``gateway.oauth.client_assertion.read_client_assertion``). That id is looked up as a presented
secret's would be (``gateway.oauth.known_clients`` first, then the cached client record), and
only a registered, ``private_key_jwt`` client's keys are ever used: an unknown id never causes a
JWKS fetch. The keys are the client's inline JWKS (parsed once per record version) or its
``jwksUrl`` (``gateway.oauth.jwks_fetcher``: SSRF-guarded, bounded, cached per HTTP caching headers).
``gateway.oauth.client_assertion.ClientAssertionVerifier`` then checks the assertion, its audience
being the token URL that discovery advertises (``PUBLIC_BASE_URL`` + ``/oauth2/token``), and records
its ``jti`` in the replay store every instance shares.

Every refusal raises :class:`~gateway.oauth.authentication.AuthenticationFailed` (the endpoint
counts it toward the failure limits). Its public description is the generic ``invalid_client``
one unless the signature was verified, or the refusal depends on the assertion alone (its
``alg``): before that, any detail could tell an attacker whether a client id exists or what keys it
has. Unknown ids, clients not using assertions and unknown ``kid``s cost one signature verification
with the algorithm the assertion names, as a known client's bad signature does. A replay store
that cannot be reached raises ``StoreUnavailable`` (503).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections import OrderedDict
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.oauth.authentication import UNKNOWN_CLIENT, AuthenticationFailed, ClientRecords, KnownClients
from gateway.oauth.client_assertion import (
    AssertionRejected,
    ClientAssertion,
    ClientAssertionVerifier,
    InlineKeys,
    KeySource,
    parse_compact_jws,
)
from gateway.oauth.jwks import JwksError, parse_public_jwks
from gateway.oauth.jwks_fetcher import JwksFetcher
from gateway.stores.errors import StoreUnavailable
from gateway.stores.models import Client

logger = logging.getLogger("gateway.oauth")

BEFORE_SIGNATURE = frozenset({"malformed", "algorithm", "unknown-key", "keys-unavailable"})
"""Refusals before any signature was verified: they do the equal work (``_equal_work``) too."""
PUBLIC_REASONS = frozenset({"algorithm", "malformed", "issuer", "audience", "expired", "lifetime",
                            "not-yet-valid", "jti", "replayed"})
"""Reasons whose description is shown: about the assertion alone, or found after its signature verified."""
_MAX_INLINE_KEY_SETS = 10_000


_Verify = Callable[[bytes, bytes], None]
"""Verifies (signature, signing input) with one key and algorithm; InvalidSignature when it does not match."""


@functools.cache
def _dummy_verifiers() -> dict[str, _Verify]:
    """Verifications with public keys no assertion is signed with, by algorithm: the refused request's work."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    pkcs1, sha384, sha256 = padding.PKCS1v15(), hashes.SHA384(), hashes.SHA256()
    return {"RS384": lambda signature, data: rsa_key.verify(signature, data, pkcs1, sha384),
            "RS256": lambda signature, data: rsa_key.verify(signature, data, pkcs1, sha256),
            "ES384": lambda signature, data: p384.verify(signature, data, ec.ECDSA(sha384)),
            "ES256": lambda signature, data: p256.verify(signature, data, ec.ECDSA(sha256))}


def _equal_work(assertion: ClientAssertion) -> None:
    """One signature verification that always fails, with the algorithm the assertion names (RS384 for any
    other): what a known client's wrong signature costs, so a refusal before any key was used takes as long."""
    jws = parse_compact_jws(assertion.assertion)  # parsed once already: cannot fail here
    alg = jws.header.get("alg")
    verify = _dummy_verifiers().get(alg if isinstance(alg, str) else "", _dummy_verifiers()["RS384"])
    with contextlib.suppress(InvalidSignature, ValueError):
        verify(jws.signature or b"\0", jws.signing_input)


class NoReplayStore:
    """Stands in when a worker has no replay store: every assertion is refused with 503 (fail closed)."""

    async def use_once(self, client_id: str, jti: str, expires_at: object) -> bool:
        raise StoreUnavailable("no replay store is configured")

    async def purge_expired(self, *, limit: int = 1000) -> int:
        return 0


class AssertionAuthenticator:
    """This worker's private_key_jwt authenticator: the client id against ``known`` and ``clients``, the assertion
    by ``verifier`` with the client's inline keys (parsed once per record version) or ``fetcher``'s."""

    def __init__(self, *, known: KnownClients, clients: ClientRecords, verifier: ClientAssertionVerifier,
                 fetcher: JwksFetcher) -> None:
        self._known = known
        self._clients = clients
        self.verifier = verifier
        self.fetcher = fetcher
        self._inline: OrderedDict[str, tuple[str, InlineKeys]] = OrderedDict()

    def _inline_keys(self, client: Client) -> InlineKeys:
        text = client.authentication.jwks or ""
        found = self._inline.get(client.client_id)
        if found is not None and found[0] == text:
            return found[1]
        try:
            keys = InlineKeys(parse_public_jwks(text))
        except JwksError:
            raise AuthenticationFailed("stored JWKS unusable") from None
        self._inline[client.client_id] = (text, keys)
        while len(self._inline) > _MAX_INLINE_KEY_SETS:
            self._inline.popitem(last=False)
        return keys

    def _key_source(self, client: Client) -> KeySource:
        auth = client.authentication
        if auth.jwks_url:
            return self.fetcher.key_source(client.client_id, auth.jwks_url)
        return self._inline_keys(client)

    async def _client(self, assertion: ClientAssertion) -> Client:
        client_id = assertion.client_id
        if self._clients.cached(client_id) is None and not await self._known.may_exist(client_id):
            raise AuthenticationFailed(UNKNOWN_CLIENT)
        client = await self._clients.get(client_id)
        if client is None:
            raise AuthenticationFailed(UNKNOWN_CLIENT)
        self._known.found(client_id)
        if not client.authentication.uses_assertions:
            raise AuthenticationFailed("client does not use private_key_jwt")
        return client

    async def authenticate(self, assertion: ClientAssertion) -> Client:
        """The enabled client this assertion authenticates; AuthenticationFailed otherwise."""
        try:
            client = await self._client(assertion)
        except AuthenticationFailed:
            _equal_work(assertion)
            raise
        try:
            await self.verifier.verify(assertion, client.client_id, self._key_source(client))
        except AssertionRejected as rejected:
            if rejected.reason in BEFORE_SIGNATURE:
                _equal_work(assertion)
            failed = AuthenticationFailed(f"assertion {rejected.reason}")
            if rejected.reason in PUBLIC_REASONS:
                failed.description = rejected.description
            raise failed from None
        if not client.enabled:
            raise AuthenticationFailed("client disabled")
        return client

    def forget(self, client_id: str) -> None:
        """Forget the client's fetched and parsed keys (its JWKS or JWKS URL changed, or it was deleted)."""
        self.fetcher.invalidate(client_id)
        self._inline.pop(client_id, None)

    async def aclose(self) -> None:
        await self.fetcher.aclose()
