"""The registry of upstream authentication kinds: the one table the admin API, the OpenAPI document and the proxy
read (never a kind by name). Its order is the documentation's and the OpenAPI ``oneOf``'s."""

from __future__ import annotations

from typing import Any

from gateway.stores.models import UpstreamAuth
from gateway.upstream import client_credentials, managed_identity, none, private_key_jwt
from gateway.upstream.client_credentials import ClientCredentialsAuth
from gateway.upstream.kind import Misconfigured, UpstreamAuthKind
from gateway.upstream.managed_identity import ManagedIdentityAuth
from gateway.upstream.none import NoUpstreamAuth
from gateway.upstream.private_key_jwt import PrivateKeyJwtAuth

UpstreamAuthValue = NoUpstreamAuth | ClientCredentialsAuth | ManagedIdentityAuth | PrivateKeyJwtAuth
"""A route's upstream authentication: one typed value of one kind."""

KINDS: dict[str, UpstreamAuthKind[Any]] = {kind.name: kind for kind in (
    none.KIND,
    client_credentials.KIND,
    managed_identity.KIND,
    private_key_jwt.KIND,
)}
"""Every kind, by its name (``upstreamAuth.type``)."""


def kind_named(type_name: str) -> UpstreamAuthKind[Any]:
    """The kind of a stored record's or an admin input's ``type``; :class:`Misconfigured` for an unknown one."""
    kind = KINDS.get(type_name)
    if kind is None:
        raise Misconfigured()
    return kind


def kind_of(value: object) -> UpstreamAuthKind[Any]:
    """The kind whose values are of ``value``'s class."""
    return next(kind for kind in KINDS.values() if type(value) is kind.value_type)


def value_of(record: UpstreamAuth) -> UpstreamAuthValue:
    """The typed value of a stored record; :class:`Misconfigured` when it cannot be read."""
    value: UpstreamAuthValue = kind_named(record.type).from_record(record)
    return value
