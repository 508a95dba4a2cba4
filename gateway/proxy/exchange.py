"""The proxy's steps: an ordered list of what changes a request on its way out and the answer on its way back.

After google/fhir-gateway's ``AccessDecision`` (a request mutation, then ``postProcess``), each
:class:`ProxyStep` sees one forwarded :class:`Exchange` twice::

    checked request ─► step 1 ─► step 2 … ─► provider          outgoing(exchange, upstream request)
    client's answer ◄─ step 1 ◄─ step 2 … ◄─ header policy ◄─ provider answer   incoming(exchange, response)

Requests pass the steps in order, answers in reverse order, so the step that changed a request last is the
first to see its answer. ``outgoing`` gets the request as the provider will receive it (URL, headers with the
provider's credentials, body; each entry of a batch the gateway fans out); ``incoming`` gets the answer as the
client will receive it (status, headers after the response policy of ``gateway.proxy.headers``, body), before
a ``HEAD`` answer loses its body. Steps see forwarded exchanges only: what the gateway answers itself
(refusals, 502, 504) never reaches the provider and passes no step. A step keeps no per-request state.

The list ``gateway.services`` hands ``FhirProxy``, in order::

    LinkRewriting     (gateway.proxy.rewrite)  answers: every provider URL becomes the base the client called, and
                                               in the same pass paging links get the gateway's page token
                                               (gateway.proxy.paging)
    VersionBridge     (gateway.proxy.bridge)   bridged routes only: requests to the provider's version, answers
                                               to the client's

A step may refuse a request on its way out by raising :class:`StepRefused` (the proxy answers it as an
OperationOutcome of the client's version; nothing reaches the provider). Adding a step: a subclass of
:class:`ProxyStep` overriding what it changes, its place in the list, and its tests; docs/proxy.md says where.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.fhir.bases import ClientBase
from gateway.fhir.versions import FhirVersion
from gateway.http import Request, Response
from gateway.outbound.transport import UpstreamRequest
from gateway.proxy.access import Batch
from gateway.proxy.needs import Need
from gateway.proxy.paths import FhirPath
from gateway.stores.models import Client, Route
from gateway.tokens.access_tokens import AccessTokenClaims


@dataclass(frozen=True)
class Caller:
    """Who is calling: the verified token's claims, its client and its tenant's route (as stored)."""

    claims: AccessTokenClaims
    client: Client
    route: Route | None


@dataclass(frozen=True)
class Target:
    """What is asked, once checked: the method, the checked path (below the client's base) and query (without a
    page token), the batch (if any) and its kind; what it needed of the token's scopes, and whether it follows a
    page link the gateway signed (``continuation``: then as the provider wrote it)."""

    method: str
    path: FhirPath
    query: str
    batch: Batch | None
    kind: str
    needs: tuple[Need, ...] | None = None
    continuation: bool = False


@dataclass(slots=True)
class Exchange:
    """One forwarded request: the client's request, who sent it, its tenant's route, what it asks, the base the
    client called (its version), the provider's version, and the provider URL it was sent to (None until sent,
    and for a batch the gateway fans out entry by entry)."""

    request: Request
    caller: Caller
    route: Route
    target: Target
    base: ClientBase
    provider: FhirVersion
    provider_url: str | None = None
    bridged: bool = field(init=False)
    """A client of another version than the provider's (converted both ways by ``VersionBridge``)."""

    def __post_init__(self) -> None:
        self.bridged = self.base.version is not self.provider


class StepRefused(Exception):
    """A step refuses the request before it is sent: ``status`` and a message safe to show the client (an
    OperationOutcome of the client's version, issue ``code``)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ProxyStep:
    """One step of the proxy (see the module docstring); a step overrides what it changes. The proxy calls only
    what a step overrides, so a step that leaves requests alone costs a request nothing on its way out."""

    def outgoing(self, exchange: Exchange, request: UpstreamRequest) -> UpstreamRequest:
        """The request the provider receives."""
        return request

    def incoming(self, exchange: Exchange, response: Response) -> Response:
        """The answer the client receives."""
        return response

    @classmethod
    def changes_requests(cls) -> bool:
        return cls.outgoing is not ProxyStep.outgoing

    @classmethod
    def changes_answers(cls) -> bool:
        return cls.incoming is not ProxyStep.incoming
