"""What an upstream authentication kind is (the interface every module of ``gateway.upstream`` implements), and
what its token fetch may use.

Stored, a route's ``upstreamAuth`` is the flat record :class:`gateway.stores.models.UpstreamAuth` (one JSON
column of the routes table: ``type``, ``tokenUrl``, ``clientId``, ``scope``, ``secretName``, ``algorithm``,
``keyName``); each kind reads its typed value from that record and writes it back into the same columns, so
routes stored before the kinds had types read unchanged. A record a kind cannot read (a route written to the
table some other way without a field its kind needs) raises :class:`Misconfigured`, which the proxy answers as
a provider authentication failure (502), never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, cast

from gateway.config import Settings
from gateway.outbound.transport import Transport
from gateway.stores.models import Route, UpstreamAuth
from gateway.stores.protocols import SecretStore
from gateway.upstream.bindings import Binding

REFRESH_MARGIN_SECONDS = 60.0
NOT_CONFIGURED = "The connection's provider authentication is not configured correctly."

V = TypeVar("V")

FieldProblem = tuple[str, str]
"""``(field, message)``: an admin API field (``upstreamAuth/tokenUrl``) and what is wrong, never its value."""


class UpstreamAuthError(Exception):
    """No provider token could be obtained (502); the message is safe to show."""


class Misconfigured(UpstreamAuthError):
    """A stored record its kind cannot read: a field the kind needs is missing."""

    def __init__(self) -> None:
        super().__init__(NOT_CONFIGURED)


@dataclass
class ProviderToken:
    """A provider's access token and when to stop using it (``time.monotonic()`` scale)."""

    value: str
    expires_at: float


def token_lifetime(expires_in: float) -> float:
    """Seconds a provider token is reused: until a margin before expiry (at most a tenth of it)."""
    return max(0.0, expires_in - min(REFRESH_MARGIN_SECONDS, expires_in / 10))


class AssertionSigner(Protocol):
    """Signs RFC 7523 client assertions with the gateway's provider keys (``gateway.tokens.provider_keys``)."""

    async def assertion(self, key_name: str, alg: str, client_id: str, audience: str) -> str: ...


@dataclass(frozen=True)
class FetchContext:
    """What a kind may use to get a provider token: the settings (URL rules, timeouts), the transport to the
    provider, the secret store, the provider key ring and the gateway's managed identity (built on first use)."""

    settings: Settings
    transport: Transport
    secrets: SecretStore
    signer: AssertionSigner
    identity: Callable[[], Any]


def stored_record(type_name: str, **fields: str | None) -> UpstreamAuth:
    """The stored record of a kind's value: its ``type`` and the columns the kind writes (the others empty)."""
    # The record's ``type`` is a Literal of the kinds that existed when the table format was fixed; the
    # registry is what decides which names exist.
    return UpstreamAuth(type=cast(Any, type_name), **fields)


class UpstreamAuthKind(Protocol[V]):
    """One kind of upstream authentication (see the module docstring of ``gateway.upstream``).

    A kind subclasses it, sets ``name``, ``value_type`` and ``schema_name``, implements :meth:`schema`,
    :meth:`from_input`, :meth:`from_record`, :meth:`to_record` and :meth:`fetch`, and overrides the defaults
    (credentials sent, no secret, nothing bound, nothing added to the view, no rule beyond the schema, no gateway
    key) where it differs."""

    name: ClassVar[str]
    """Its name, in the admin API (``upstreamAuth.type``) and in the stored record (``type``)."""
    value_type: ClassVar[type]
    """The class of its values."""
    schema_name: ClassVar[str]
    """The OpenAPI component of its admin input (``UpstreamAuthClientCredentials``)."""
    sends_credentials: ClassVar[bool] = True
    """False for a kind that sends no Authorization header (``none``): the proxy asks nothing more of it."""
    secret_field: ClassVar[str | None] = None
    """The admin field of a secret it keeps in Key Vault (``upstreamAuth/clientSecret``), None when it keeps none."""
    bound_to: ClassVar[tuple[Binding, ...]] = ()
    """The route fields its stored credential is bound to (``gateway.upstream.bindings``); () when none."""

    def schema(self) -> dict[str, Any]:
        """Its OpenAPI fragment: the JSON Schema of its admin input (``oneOf`` member of ``UpstreamAuthInput``)."""

    def view_schema(self) -> dict[str, Any]:
        """The properties it adds to the admin view of a route's ``upstreamAuth`` (OpenAPI), besides the common ones."""
        return {}

    def view(self, record: UpstreamAuth) -> dict[str, Any]:
        """Those properties' values for a stored record."""
        return {}

    def from_input(self, body: Mapping[str, Any]) -> V:
        """Its value from the admin's ``upstreamAuth`` object (already valid against :meth:`schema`)."""

    def problems(self, value: V, *, private_network: bool, settings: Settings) -> list[FieldProblem]:
        """What the admin must fix (a 422 naming each field); empty when the value may be saved."""
        return []

    def refusal(self, value: V, *, fhir_base_url: str) -> tuple[str, list[FieldProblem]] | None:
        """``(reason, problems)`` when a rule refuses the value for this provider (an audited 422), else None."""
        return None

    def provider_key(self, value: V) -> tuple[str, str] | None:
        """``(keyName, alg)`` of the gateway key the value signs with (created when the route is saved), or None."""
        return None

    def from_record(self, record: UpstreamAuth) -> V:
        """Its value from the stored record; :class:`Misconfigured` when a field it needs is missing."""

    def to_record(self, value: V, secret_name: str | None) -> UpstreamAuth:
        """The stored record of ``value``; ``secret_name``: the Key Vault name of its secret (kinds that keep one)."""

    async def fetch(self, value: V, route: Route, context: FetchContext) -> ProviderToken:
        """A provider token for ``route``; :class:`UpstreamAuthError` with a safe message when none can be had."""
