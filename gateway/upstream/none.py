"""``none``: the gateway sends no ``Authorization`` header to the provider (a provider on a private network that
trusts the caller, a public test server)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gateway.stores.models import Route, UpstreamAuth
from gateway.upstream.kind import FetchContext, ProviderToken, UpstreamAuthError, UpstreamAuthKind, stored_record


@dataclass(frozen=True)
class NoUpstreamAuth:
    """No provider credentials."""


class NoneKind(UpstreamAuthKind[NoUpstreamAuth]):
    name: ClassVar[str] = "none"
    value_type: ClassVar[type] = NoUpstreamAuth
    schema_name: ClassVar[str] = "UpstreamAuthNone"
    sends_credentials: ClassVar[bool] = False

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": ["type"],
                "properties": {"type": {"type": "string", "const": self.name}}}

    def from_input(self, body: Mapping[str, Any]) -> NoUpstreamAuth:
        return NoUpstreamAuth()

    def from_record(self, record: UpstreamAuth) -> NoUpstreamAuth:
        return NoUpstreamAuth()

    def to_record(self, value: NoUpstreamAuth, secret_name: str | None) -> UpstreamAuth:
        return stored_record(self.name)

    async def fetch(self, value: NoUpstreamAuth, route: Route, context: FetchContext) -> ProviderToken:
        raise UpstreamAuthError("No provider token is sent for this connection.")  # never asked: sends_credentials


KIND = NoneKind()
