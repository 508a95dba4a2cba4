"""The version bridge on the proxy's path (docs/versions.md): a DSTU2 or STU3 client on an R4 provider.

``VersionBridge`` is the proxy step next to the provider (gateway.proxy.exchange)::

    request  the path's resource types, the search parameters (query, a ``POST _search`` form) and a batch's entry
             URLs in R4 terms (gateway.convert.requests); ``Accept`` (and a batch's ``Content-Type``) R4's media
             type. A request following a page link the gateway signed goes as the provider wrote the link: only a
             resource type renamed between the versions (DSTU2 ``MedicationOrder``) is put back in its path.
             A parameter R4 cannot express is refused (400 naming it), so is a type outside the bridged set (404)
             and a format other than JSON (406): nothing is sent.
    answer   a FHIR JSON body (a resource, a Bundle, the provider's OperationOutcome) converted to the client's
             version (gateway.convert.to_client) and labelled with its media type; a body that is not FHIR JSON,
             or that conversion refuses, becomes an OperationOutcome of the client's version (the provider's error
             status, else 502): a bridged client never gets the provider's bytes.

Bridged routes are read-only: the proxy refuses writes before any step (gateway.proxy.forward). Exchanges of one
version pass this step untouched after one comparison; the conversion code is loaded on the first bridged one.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from gateway.fhir.outcome import ISSUE_CODES
from gateway.fhir.search_parameters import definition
from gateway.fhir.versions import R4, FhirVersion
from gateway.http import Response
from gateway.outbound.transport import UpstreamRequest
from gateway.proxy.access import is_json
from gateway.proxy.exchange import Exchange, ProxyStep, StepRefused

JSON_FORMATS: Final = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
"""``_format`` values the bridge serves (R4 §3.1.0.1.6; DSTU2's spelling too): conversion reads JSON only."""
_REQUEST_HEADERS_SET: Final = frozenset({"accept", "content-type"})


def parameter_exists(version: str, resource_type: str, name: str) -> bool:
    """Whether ``version`` defines the search parameter ``name`` on ``resource_type`` (the official tables)."""
    return definition(version, resource_type, name) is not None


class VersionBridge(ProxyStep):
    """The proxy step that converts bridged exchanges (see the module docstring)."""

    def outgoing(self, exchange: Exchange, request: UpstreamRequest) -> UpstreamRequest:
        if not exchange.bridged:
            return request
        from gateway.convert import UnsupportedResource, UntranslatableRequest

        base = exchange.route.fhir_base_url.rstrip("/")
        path, _, query = request.url[len(base):].lstrip("/").partition("?")
        client = exchange.base.version
        try:
            url = self._url(path, query, client, continuation=exchange.target.continuation)
            body = self._body(exchange, request, path, client)
        except UnsupportedResource as exc:
            raise StepRefused(404, str(exc), "not-supported") from None
        except UntranslatableRequest as exc:
            raise StepRefused(400, str(exc), "not-supported") from None
        headers = [(k, v) for k, v in request.headers if k.lower() not in _REQUEST_HEADERS_SET]
        headers.append(("Accept", R4.media_type))
        content_type = next((v for k, v in request.headers if k.lower() == "content-type"), None)
        if content_type is not None:
            headers.append(("Content-Type", R4.media_type if is_json(content_type) else content_type))
        joined = f"{base}{url}" if url[:1] in ("", "?") else f"{base}/{url}"
        return dataclasses.replace(request, url=joined, headers=headers, body=body)

    @staticmethod
    def _url(path: str, query: str, client: FhirVersion, *, continuation: bool) -> str:
        """The path and query in R4 terms (a continuation: its path's types only)."""
        from gateway.convert.requests import translate_path, translate_url

        if continuation:
            translated = translate_path(path, client)
            return f"{translated}?{query}" if query else translated
        _refuse_other_formats(query)
        return translate_url(f"{path}?{query}" if query else path, client, parameter_exists=parameter_exists)

    @staticmethod
    def _body(exchange: Exchange, request: UpstreamRequest, path: str, client: FhirVersion) -> bytes | None:
        """A ``POST _search`` form or a batch Bundle in R4 terms; any other body as it is (reads carry none)."""
        from gateway.convert.requests import translate_batch, translate_form

        body = request.body
        if not body or request.method != "POST":
            return body
        if path.endswith("_search"):
            resource_type = path.split("/")[0] if path != "_search" else None
            _refuse_other_formats(body.decode("utf-8", "replace"))
            return translate_form(body, resource_type, client, parameter_exists=parameter_exists)
        if exchange.target.batch is not None and not path:
            bundle = json.loads(body)
            translated = translate_batch(bundle, client, parameter_exists=parameter_exists)
            return json.dumps(translated, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return body

    def incoming(self, exchange: Exchange, response: Response) -> Response:
        if not exchange.bridged:
            return response
        from gateway.convert import ConversionError, to_client

        client = exchange.base.version
        headers = response.headers
        if not response.body:
            if headers.get("content-type") is not None:
                headers.set("Content-Type", f"{client.media_type}; charset=utf-8")
            return response
        document = _fhir_json(response.body, headers.get("content-type", ""))
        if document is None:
            status = response.status if response.status >= 400 else 502
            return _outcome(response, client, status,
                            "The FHIR server's answer is not FHIR JSON, which the gateway converts between "
                            f"FHIR {R4.name} and FHIR {client.name}.")
        try:
            converted = to_client(document, client)
        except ConversionError as exc:
            return _outcome(response, client, 502, str(exc))
        response.body = json.dumps(converted, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers.set("Content-Type", f"{client.media_type}; charset=utf-8")
        return response


def _refuse_other_formats(query: str) -> None:
    """``_format`` other than JSON: 406 (the bridge converts JSON; a server would answer XML)."""
    if "_format" not in query:
        return
    from urllib.parse import parse_qsl

    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "_format" and value.split(";")[0].strip().lower() not in JSON_FORMATS:
            raise StepRefused(406, "Between FHIR versions the gateway converts JSON only: use _format=json.",
                              "not-supported")


def _fhir_json(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The JSON resource of a body labelled JSON (or unlabelled); None when it is not one."""
    if not is_json(content_type):
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("resourceType"), str) else None


def _outcome(response: Response, client: FhirVersion, status: int, text: str) -> Response:
    """``response`` made an OperationOutcome of the client's version (its headers kept, but for the body's)."""
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": ISSUE_CODES.get(status, "processing"), "diagnostics": text}]}
    response.status = status
    response.body = json.dumps(body, separators=(",", ":")).encode("utf-8")
    response.headers.remove("Content-Disposition")
    response.headers.set("Content-Type", f"{client.media_type}; charset=utf-8")
    return response
