"""metadata_fn (route ``fhir/{document}/{detail?}``): the discovery documents (``gateway.fhir.discovery``),
answered from the settings alone: this function never opens a store."""

from __future__ import annotations

from gateway.entry import Surface
from gateway.fhir.discovery import respond
from gateway.fhir.outcome import failure_outcome
from gateway.http import Request, Response
from gateway.services import Services


async def _never(request: Request, services: Services, deadline: float) -> Response:
    raise AssertionError("the metadata documents are always answered early")


handle = Surface("metadata", _never, failure_outcome, answer_early=respond)
"""metadata_fn's entry point: the documents need the settings only, never the stores."""
