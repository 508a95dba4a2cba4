"""Does a route's provider speak the FHIR version the route declares? Its ``<fhirBaseUrl>/metadata`` says, in
``fhirVersion`` (FHIR R4 §3.1.0.11 "capabilities"; DSTU2 Conformance, STU3 and R4 CapabilityStatement).

Read at every save of a route and on demand (``POST /manage/routes/{tenantId}/verify``), through the proxy's
outbound transport (gateway.outbound.transport), so under the same destination rules as every provider call:
each connection's address checked (loopback, private and link-local refused unless the route says
``privateNetwork``; DNS answers included), redirects not followed, :data:`CONNECT_SECONDS` and
:data:`READ_SECONDS` at most, :data:`MAX_BYTES` at most. No credentials are sent: metadata is open by FHIR's
rules (and the SMART App Launch's); a provider that wants a token for it is *unverified*, not refused.

    verified    ``fhirVersion`` is a number of the declared release (1.0.x DSTU2, 3.0.x STU3, 4.0.x R4)
    mismatch    ``fhirVersion`` is a number of another release: the save is refused (422 naming it)
    unverified  no answer, an error status, not a capability statement, a version the gateway does not know:
                the save goes on, and its answer and audit record say so
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from gateway.fhir.versions import UnknownFhirVersion, from_name, from_number
from gateway.outbound.transport import DestinationRefused, Transport, UpstreamError, UpstreamRequest, UpstreamTimeout

CONNECT_SECONDS: Final = 3.0
READ_SECONDS: Final = 5.0
MAX_BYTES: Final = 4 << 20
"""Large capability statements (every resource with its search parameters) stay far below this."""
ACCEPT: Final = "application/fhir+json, application/json+fhir;q=0.9, application/json;q=0.8"
CAPABILITY_TYPES: Final = frozenset({"CapabilityStatement", "Conformance"})
Status = Literal["verified", "mismatch", "unverified"]


@dataclass(frozen=True)
class VersionCheck:
    """What the provider's metadata said of the declared version; ``detail`` is safe to show (no body text)."""

    status: Status
    declared: str
    observed: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "declaredFhirVersion": self.declared, "observedFhirVersion": self.observed,
                "detail": self.detail}


class VersionChecks(Protocol):
    """How the admin API asks (a stand-in in tests that need no provider)."""

    async def check(self, fhir_base_url: str, declared: str, *, private_network: bool) -> VersionCheck: ...


class ProviderMetadata:
    """Reads ``<base>/metadata`` through ``transport`` and compares its ``fhirVersion`` with the declared one."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def check(self, fhir_base_url: str, declared: str, *, private_network: bool) -> VersionCheck:
        request = UpstreamRequest(method="GET", url=f"{fhir_base_url.rstrip('/')}/metadata",
                                  headers=[("Accept", ACCEPT)], connect_timeout=CONNECT_SECONDS,
                                  read_timeout=READ_SECONDS, private_network=private_network,
                                  max_response_bytes=MAX_BYTES)
        try:
            answer = await self._transport.send(request)
        except UpstreamTimeout:
            return _unverified(declared, "the provider's metadata did not answer in time")
        except DestinationRefused:
            return _unverified(declared, "the provider's address is one the gateway does not call (a private, "
                                         "loopback or link-local address without privateNetwork)")
        except UpstreamError as exc:
            return _unverified(declared, f"the provider's metadata could not be read ({type(exc).__name__})")
        if answer.status != 200:
            needs_auth = " (it asks for authentication)" if answer.status in (401, 403) else ""
            return _unverified(declared, f"the provider's metadata answered HTTP {answer.status}{needs_auth}")
        return compare(declared, _fhir_version_of(answer.body))


def _fhir_version_of(body: bytes) -> str | None:
    """``fhirVersion`` of a capability statement, None when the body is not one or has none."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(document, dict) or document.get("resourceType") not in CAPABILITY_TYPES:
        return None
    number = document.get("fhirVersion")
    if not isinstance(number, str):
        return None
    return "".join(c for c in number[:40] if c.isascii() and c.isprintable())  # the provider's text, shown


def compare(declared: str, observed: str | None) -> VersionCheck:
    """The check of ``declared`` against the ``fhirVersion`` a provider's metadata stated (None: no statement)."""
    if observed is None:
        return _unverified(declared, "the provider's metadata is not a FHIR JSON capability statement with a "
                                     "fhirVersion")
    try:
        seen = from_number(observed)
    except UnknownFhirVersion:
        return VersionCheck("unverified", declared, observed,
                            f"the provider states fhirVersion {observed}, which the gateway does not serve")
    if seen == from_name(declared):
        return VersionCheck("verified", declared, observed, f"the provider states fhirVersion {observed}")
    return VersionCheck("mismatch", declared, observed,
                        f"the provider's metadata states fhirVersion {observed} (FHIR {seen.name}), not {declared}")


def _unverified(declared: str, detail: str) -> VersionCheck:
    return VersionCheck("unverified", declared, None, detail)
