"""metadata_fn: ``GET /fhir/metadata`` and ``GET /fhir/.well-known/smart-configuration``, unauthenticated.

The route is ``fhir/{document:regex(^(metadata|\\.well-known)$)}/{detail?}``. The
documents are built from the settings (PUBLIC_BASE_URL, never the Host header),
serialised once per worker and served with ``Cache-Control: public, max-age``.
This module imports no Azure SDK and no fhir.resources: it is cheap on a cold start.
"""

from __future__ import annotations

import functools
import json

from gateway.config import Settings
from gateway.fhir.capability import capability_document
from gateway.fhir.outcome import fhir_json_media_type, operation_outcome
from gateway.fhir.smart import smart_configuration
from gateway.http import Headers, Request, Response

MAX_AGE_SECONDS = 3600


@functools.lru_cache(maxsize=8)
def _prebuilt(settings: Settings, which: str) -> tuple[bytes, str]:
    if which == "metadata":
        document, media = capability_document(settings), fhir_json_media_type(settings.fhir_version)
    else:
        document, media = smart_configuration(settings), "application/json"
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body, f"{media}; charset=utf-8"


def _document(request: Request) -> str | None:
    document = request.route_params.get("document", "")
    detail = request.route_params.get("detail") or ""
    if document == "metadata" and not detail:
        return "metadata"
    if document == ".well-known" and detail == "smart-configuration":
        return "smart"
    return None


def respond(request: Request, settings: Settings) -> Response:
    """Serve one of the two documents, a 404 or 405 OperationOutcome otherwise."""
    which = _document(request)
    if which is None:
        return operation_outcome(404, "no such document; see /fhir/metadata",
                                 fhir_version=settings.fhir_version)
    if request.method not in ("GET", "HEAD"):
        return operation_outcome(405, "method not allowed; use GET", fhir_version=settings.fhir_version,
                                 headers={"Allow": "GET, HEAD"})
    body, content_type = _prebuilt(settings, which)
    headers = Headers({"Content-Type": content_type, "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}"})
    return Response(status=200, body=b"" if request.method == "HEAD" else body, headers=headers)
