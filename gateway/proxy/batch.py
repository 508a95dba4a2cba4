"""Batch fan-out (docs/proxy.md, "Batch"): the gateway runs a read-only batch Bundle's entries itself,
concurrently, and composes a standard ``batch-response`` (FHIR R4 §3.1.0.11, STU3/DSTU2
http.html#transaction): one entry per request, in order, each with ``response.status`` and,
when the provider sent one, the ``resource``. For providers without batch support; latency
approaches the slowest entry rather than the sum.

``response.lastModified`` is a FHIR ``instant``: the provider's ``Last-Modified`` HTTP-date is
converted (and left out when it is not a valid HTTP-date). ``response.location`` follows the
same link policy as the ``Location`` header (rewritten to the gateway, or left out).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from gateway.outbound.transport import UpstreamError, UpstreamResponse, UpstreamTimeout
from gateway.proxy.access import Batch, BatchEntry
from gateway.proxy.httpdate import fhir_instant

MAX_CONCURRENT_ENTRIES = 16
MAX_FANOUT_ENTRIES = 100
"""A larger batch is refused (413) before any entry is sent: one request must not become thousands."""


def _status_line(status: int, reason: str = "") -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".strip()


def _outcome(code: str, diagnostics: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]}


def _as_given(url: str) -> str | None:
    return url


def entry_of(result: UpstreamResponse | UpstreamError,
             location: Callable[[str], str | None] = _as_given) -> dict[str, Any]:
    """One ``batch-response`` entry for an entry's upstream result; ``location`` is the link policy."""
    if isinstance(result, UpstreamError):
        timeout = isinstance(result, UpstreamTimeout)
        return {"resource": _outcome("timeout" if timeout else "transient", str(result)),
                "response": {"status": _status_line(504 if timeout else 502)}}
    response: dict[str, Any] = {"status": _status_line(result.status, result.reason)}
    etag = result.header("ETag")
    if etag:
        response["etag"] = etag
    last_modified = fhir_instant(result.header("Last-Modified") or "")
    if last_modified:
        response["lastModified"] = last_modified
    where = result.header("Location")
    where = location(where) if where else None
    if where:
        response["location"] = where
    entry: dict[str, Any] = {}
    if result.body:
        try:
            resource = json.loads(result.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            resource = None
        if isinstance(resource, dict) and "resourceType" in resource:
            entry["resource"] = resource
        else:
            entry["resource"] = _outcome("transient", "The provider's answer to this entry was not FHIR JSON.")
            response = {"status": _status_line(502)}
    entry["response"] = response
    return entry


async def fan_out(batch: Batch, send: Callable[[BatchEntry], Awaitable[UpstreamResponse]],
                  location: Callable[[str], str | None] = _as_given) -> bytes:
    """Run every entry through ``send`` concurrently and return the ``batch-response`` JSON."""
    limit = asyncio.Semaphore(MAX_CONCURRENT_ENTRIES)

    async def one(entry: BatchEntry) -> UpstreamResponse | UpstreamError:
        async with limit:
            try:
                return await send(entry)
            except UpstreamError as exc:
                return exc

    results = await asyncio.gather(*(one(entry) for entry in batch.entries))
    bundle = {"resourceType": "Bundle", "type": "batch-response", "entry": [entry_of(r, location) for r in results]}
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
