"""fhir_metadata_fn: each FHIR base's ``metadata`` and ``.well-known/smart-configuration``, unauthenticated.

The route is ``fhir/{*path:regex(^((DSTU2|STU3|R4)/)?(metadata|\\.well-known/[^/]+)/?$)}``: the default base
(``/fhir/metadata``) and one base per version (``/fhir/STU3/metadata``, gateway.fhir.bases), each with the
capability statement of its version (DSTU2 Conformance 1.0.2, STU3 3.0.1, R4 4.0.1) and the same SMART
configuration (one token URL); any other ``.well-known`` document is an open 404. The documents are built from
the settings (PUBLIC_BASE_URL, never the Host header), serialised once per worker and served with
``Cache-Control: public, max-age``. This module imports no Azure SDK and no fhir.resources: it is cheap on a
cold start.
"""

from __future__ import annotations

import functools
import json

from gateway.config import Settings
from gateway.fhir.bases import ClientBase, bases, split_base
from gateway.fhir.capability import capability_document
from gateway.fhir.outcome import operation_outcome
from gateway.fhir.smart import smart_configuration
from gateway.http import Headers, Request, Response

MAX_AGE_SECONDS = 3600
DOCUMENTS = {"metadata": "metadata", ".well-known/smart-configuration": "smart"}


@functools.lru_cache(maxsize=16)
def _prebuilt(settings: Settings, which: str, base: ClientBase) -> tuple[bytes, str]:
    if which == "metadata":
        document, media = capability_document(settings, base), base.version.media_type
    else:
        document, media = smart_configuration(settings), "application/json"
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body, f"{media}; charset=utf-8"


def respond(request: Request, settings: Settings) -> Response:
    """Serve one of the two documents of the base the path names, a 404 or 405 OperationOutcome otherwise."""
    base, rest = split_base(request.route_params.get("path", "").rstrip("/"), bases(settings))
    which = DOCUMENTS.get(rest)
    if which is None:
        return operation_outcome(404, "no such document; see /fhir/metadata", fhir_version=base.version)
    if request.method not in ("GET", "HEAD"):
        return operation_outcome(405, "method not allowed; use GET", fhir_version=base.version,
                                 headers={"Allow": "GET, HEAD"})
    body, content_type = _prebuilt(settings, which, base)
    headers = Headers({"Content-Type": content_type, "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}"})
    return Response(status=200, body=b"" if request.method == "HEAD" else body, headers=headers)
