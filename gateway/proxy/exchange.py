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

Today's list is ``[LinkRewriting]`` (``gateway.proxy.rewrite``: every provider URL in the answer becomes the
gateway's). Adding a step: a subclass of :class:`ProxyStep` overriding what it changes, its place in the
list ``gateway.services`` hands ``FhirProxy``, and its tests; docs/proxy.md says where.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.http import Request, Response
from gateway.outbound.transport import UpstreamRequest
from gateway.proxy.access import Batch
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
    """What is asked, once checked: the method, the checked path and query, the batch (if any) and its kind."""

    method: str
    path: FhirPath
    query: str
    batch: Batch | None
    kind: str


@dataclass(slots=True)
class Exchange:
    """One forwarded request: the client's request, who sent it, its tenant's route, what it asks, and the
    provider URL it was sent to (None until sent, and for a batch the gateway fans out entry by entry)."""

    request: Request
    caller: Caller
    route: Route
    target: Target
    provider_url: str | None = None


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
