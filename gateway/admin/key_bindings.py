"""Which provider origins each gateway assertion key may serve: a provider token reaches only the origin it was
obtained for.

A hospital that registers one of the gateway's JWKS URLs (``/oauth2/provider-jwks?key=<keyName>``) for a client
id trusts every assertion that key signs for that client id. Without a rule, whoever holds the admin API could
copy a hospital's ``tokenUrl`` and ``clientId`` onto a route whose ``fhirBaseUrl`` is their own server (or move
the hospital's route there): the gateway would sign, get a real token from the hospital and send it to them. So a
key is **bound** to the origins it is first used with, the pair (origin of ``fhirBaseUrl``, origin of
``tokenUrl``), and the rule is:

- every route signing with a key must have one of the key's bound origin pairs (so a second route may share a
  key only if it points at the same origins, and moving a route's provider or token origin needs another key,
  which means a new registration at the hospital);
- a route that names no key gets a key of its own (``gateway.upstream``: ``keyName`` left out), and keeps it
  while its origins stay; when they move it gets a new one;
- a binding outlives the routes: it is kept in the secret store as ``<prefix>-provider-binding-<keyName>`` (a
  Key Vault secret whose value lists the bound pairs), so deleting a route and creating another frees nothing;
- a key used before bindings existed (the shared ``gateway`` key) is bound, at the first admin change that
  touches it, to the origin pairs of the routes using it then: each of them keeps working, none can move.

Binding, and every refusal, is audited (``provider-key.bind``; ``route.put`` ``failed:422
provider-key-bound-elsewhere``). Origins are compared normalised (``gateway.outbound.identity_scopes.origin_of``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any

from gateway.admin.actor import Actor
from gateway.admin.audit_trail import AuditTrail
from gateway.admin.problems import FieldError
from gateway.admin.writes import may_write, store_call
from gateway.outbound.identity_scopes import origin_of
from gateway.stores.models import Route
from gateway.stores.protocols import RouteStore, SecretStore
from gateway.upstream.kind import Misconfigured
from gateway.upstream.registry import KINDS

OriginPair = tuple[str, str]
"""``(origin of fhirBaseUrl, origin of tokenUrl)``: where a key's provider tokens come from and go to."""

BINDING_TAG = "provider-key-binding"
REFUSAL_REASON = "provider-key-bound-elsewhere"


def origin_pair(fhir_base_url: str, token_url: str | None) -> OriginPair | None:
    """The origins a route's provider token travels between; None when either is not an http(s) URL."""
    fhir, token = origin_of(fhir_base_url), origin_of(token_url or "")
    return None if fhir is None or token is None else (fhir, token)


def route_key(route: Route) -> tuple[str, OriginPair | None] | None:
    """``(keyName, origin pair)`` of a stored route that signs with a gateway key, else None."""
    kind = KINDS.get(route.upstream_auth.type)
    if kind is None:
        return None
    try:
        key = kind.provider_key(kind.from_record(route.upstream_auth))
    except Misconfigured:  # a record its kind cannot read signs nothing
        return None
    if key is None or key[0] is None:
        return None
    return key[0], origin_pair(route.fhir_base_url, route.upstream_auth.token_url)


def own_key_name(tenant_id: str) -> str:
    """A fresh key name for one route: the tenant's first GUID group and 32 random bits (``72f988bf-1a2b3c4d``)."""
    return f"{tenant_id[:8].lower()}-{secrets.token_hex(4)}"


class KeyBindings:
    """The origin pairs each provider key is bound to, kept in ``secrets`` under ``<prefix>-provider-binding-``;
    ``routes`` tells which pairs a key not yet bound is in use with; bindings and refusals audited in ``audit``."""

    def __init__(self, secrets_store: SecretStore, routes: RouteStore, *, audit: AuditTrail, prefix: str) -> None:
        self._secrets = secrets_store
        self._routes = routes
        self._audit = audit
        self._prefix = f"{prefix}-provider-binding-"

    def secret_name(self, key_name: str) -> str:
        return f"{self._prefix}{key_name}"

    async def bound(self, key_name: str) -> frozenset[OriginPair] | None:
        """The pairs ``key_name`` is bound to; None when it is not bound yet."""
        stored = await store_call(self._secrets.get(self.secret_name(key_name)))
        if stored is None or not stored.enabled or stored.value is None:
            return None
        try:
            pairs = json.loads(stored.value)["origins"]
            return frozenset((str(fhir), str(token)) for fhir, token in pairs)
        except (ValueError, KeyError, TypeError):
            return frozenset()  # unreadable: bound to nothing, so nothing may use it until an operator looks

    async def admit(self, actor: Actor, tenant_id: str, key_name: str, pair: OriginPair | None) -> None:
        """Let the route of ``tenant_id`` sign with ``key_name`` between ``pair``'s origins, binding the key when it
        is new; an audited 422 when the key is bound to other origins."""
        bound = await self.settle(actor, key_name, tenant_id=tenant_id, pair=pair)
        if pair is not None and pair in bound:
            return
        raise await self._audit.refused(actor, "route.put", "route", tenant_id, REFUSAL_REASON, [
            FieldError("upstreamAuth/keyName",
                       "is bound to other provider origins: a provider token obtained with it may only reach the "
                       "FHIR server and token endpoint its key was registered for; leave keyName out to get a key "
                       "of this route's own (and register its JWKS URL at the provider)"),
            FieldError("fhirBaseUrl", "with upstreamAuth/tokenUrl, must keep the origins the key is bound to"),
        ])

    async def settle(self, actor: Actor, key_name: str, *, tenant_id: str,
                     pair: OriginPair | None = None) -> frozenset[OriginPair]:
        """The key's binding, written first if it has none: the pairs of the routes using it now, or ``pair`` when
        nothing uses it (a new key)."""
        bound = await self.bound(key_name)
        if bound is not None:
            return bound
        in_use = await self._pairs_in_use(key_name)
        pairs = in_use or ({pair} if pair is not None else set())
        if not pairs:
            return frozenset()
        await self._bind(actor, key_name, pairs, tenant_id=tenant_id, legacy=bool(in_use))
        return frozenset(pairs)

    async def _bind(self, actor: Actor, key_name: str, pairs: Iterable[OriginPair], *, tenant_id: str,
                    legacy: bool) -> None:
        ordered = sorted(pairs)
        may_write()
        await store_call(self._secrets.set(self.secret_name(key_name), json.dumps({"origins": ordered}),
                                           tags={"kind": BINDING_TAG, "keyName": key_name}))
        details: dict[str, Any] = {"origins": [list(p) for p in ordered], "route": tenant_id,
                                   "from": "routes using it" if legacy else "its first route"}
        await self._audit.record(actor, "provider-key.bind", "provider-key", key_name, **details)

    async def _pairs_in_use(self, key_name: str) -> set[OriginPair]:
        """The origin pairs of every stored route signing with ``key_name`` (a full listing: admin changes only)."""
        pairs: set[OriginPair] = set()
        continuation: str | None = None
        while True:
            page = await store_call(self._routes.list(page_size=1000, continuation=continuation))
            for route in page.items:
                used = route_key(route)
                if used is not None and used[0] == key_name and used[1] is not None:
                    pairs.add(used[1])
            continuation = page.continuation
            if not continuation:
                return pairs
