"""Which route fields a stored provider secret is bound to.

A provider secret (the ``clientCredentials`` client secret, in Key Vault) was given for one token
endpoint, one client id and one provider. Whoever changes where it would be sent, or as whom, must
present the secret again: otherwise a function-key holder could point ``tokenUrl`` at a host of their
own and receive ``clientId:secret`` with the next proxied request. Changes that move nothing (display
name, timeouts, enabled, batch mode, the read-only flag, the scope) keep the stored secret.

Each credential kind declares its secret field and the fields that bind it (:data:`CREDENTIAL_KINDS`);
a new kind (for example a ``privateKeyJwt`` private key) adds one entry and is held to the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.proxy.identity_scopes import origin_of


@dataclass(frozen=True)
class CredentialTarget:
    """Where and as whom a stored credential is used: the parts of a route (stored or proposed) that matter."""

    provider_origin: str | None
    token_url: str | None
    client_id: str | None

    @staticmethod
    def of(fhir_base_url: str, token_url: str | None, client_id: str | None) -> CredentialTarget:
        return CredentialTarget(origin_of(fhir_base_url), token_url, client_id)


@dataclass(frozen=True)
class Binding:
    """A field (admin API name) whose change moves a stored secret, and how to read it from a target."""

    field: str
    value: Callable[[CredentialTarget], str | None]


PROVIDER_ORIGIN = Binding("fhirBaseUrl", lambda t: t.provider_origin)
TOKEN_URL = Binding("upstreamAuth/tokenUrl", lambda t: t.token_url)
CLIENT_ID = Binding("upstreamAuth/clientId", lambda t: t.client_id)


@dataclass(frozen=True)
class CredentialKind:
    """An upstream authentication type that keeps a secret in Key Vault, and what that secret is bound to."""

    type: str
    secret_field: str
    bound_to: tuple[Binding, ...]


CREDENTIAL_KINDS: dict[str, CredentialKind] = {
    "clientCredentials": CredentialKind("clientCredentials", "upstreamAuth/clientSecret",
                                        (TOKEN_URL, CLIENT_ID, PROVIDER_ORIGIN)),
}


def moved_fields(kind: CredentialKind, stored: CredentialTarget, proposed: CredentialTarget) -> list[str]:
    """The binding fields whose value differs between the stored route and the proposed one.

    The provider is compared by origin (scheme and host lowercase, default port elided): a new path on
    the same server moves nothing. Token URL and client id are compared exactly.
    """
    return [b.field for b in kind.bound_to if b.value(stored) != b.value(proposed)]
