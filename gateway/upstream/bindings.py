"""Which route fields a stored provider secret is bound to.

A provider secret (the ``clientCredentials`` client secret, in Key Vault) was given for one token
endpoint, one client id and one provider. Whoever changes where it would be sent, or as whom, must
present the secret again: otherwise a function-key holder could point ``tokenUrl`` at a host of their
own and receive ``clientId:secret`` with the next proxied request. Changes that move nothing (display
name, timeouts, enabled, batch mode, the read-only flag, the scope) keep the stored secret.

Each kind of upstream authentication declares its secret field and the fields that bind it
(``secret_field`` and ``bound_to`` of its module in ``gateway.upstream``); a new kind declares its own and is
held to the same rule by the admin API.

``privateKeyJwt`` binds the same fields but has no secret field: its credential is the gateway's own Key Vault
key, which no administrator holds and which never leaves the vault, so there is nothing to present again. A
change of its token URL, client id or provider origin is allowed, and the route's audit record names the
moved binding fields (``boundFieldsMoved``) besides the old and new values. What it cannot do is make the gateway
sign for another audience than the saved one: an assertion's ``aud`` is always the route's stored ``tokenUrl``
(which passes the provider URL rules when saved and again before every signature), so an assertion obtained by
pointing a route at another host is worthless at the real provider. The key a route uses (``keyName``) is a
binding too: moving a route onto another key changes which hospitals' registrations it can act under.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.outbound.identity_scopes import origin_of
from gateway.stores.models import UpstreamAuth


@dataclass(frozen=True)
class CredentialTarget:
    """Where and as whom a stored credential is used: the parts of a route (stored or proposed) that matter."""

    provider_origin: str | None
    token_url: str | None
    client_id: str | None
    key_name: str | None = None

    @staticmethod
    def of(fhir_base_url: str, token_url: str | None, client_id: str | None,
           key_name: str | None = None) -> CredentialTarget:
        return CredentialTarget(origin_of(fhir_base_url), token_url, client_id, key_name)


@dataclass(frozen=True)
class Binding:
    """A field (admin API name) whose change moves a stored secret, and how to read it from a target."""

    field: str
    value: Callable[[CredentialTarget], str | None]


PROVIDER_ORIGIN = Binding("fhirBaseUrl", lambda t: t.provider_origin)
TOKEN_URL = Binding("upstreamAuth/tokenUrl", lambda t: t.token_url)
CLIENT_ID = Binding("upstreamAuth/clientId", lambda t: t.client_id)
KEY_NAME = Binding("upstreamAuth/keyName", lambda t: t.key_name)


def moved_fields(bound_to: tuple[Binding, ...], stored: CredentialTarget, proposed: CredentialTarget) -> list[str]:
    """The binding fields (of ``bound_to``) whose value differs between the stored route and the proposed one.

    The provider is compared by origin (scheme and host lowercase, default port elided): a new path on
    the same server moves nothing. Token URL and client id are compared exactly.
    """
    return [b.field for b in bound_to if b.value(stored) != b.value(proposed)]


def target_of(fhir_base_url: str, record: UpstreamAuth) -> CredentialTarget:
    """Where a route's stored (or proposed, as its record) credential is used."""
    return CredentialTarget.of(fhir_base_url, record.token_url, record.client_id, record.key_name)
