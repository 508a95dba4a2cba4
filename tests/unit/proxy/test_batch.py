"""Batch fan-out composes a standard batch-response, in order."""

import asyncio
import json

from gateway.outbound.transport import UpstreamResponse, UpstreamTimeout, UpstreamUnreachable
from gateway.proxy.access import parse_batch
from gateway.proxy.batch import fan_out


async def test_entries_run_concurrently_and_keep_their_order():
    body = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": u}} for u in ("Patient/1", "Condition?patient=1", "Encounter?patient=1",
                                                         "Coverage?patient=1")]}).encode()
    batch = parse_batch(body, "application/fhir+json", "http://gw/fhir")
    running = 0
    peak = 0

    async def send(entry):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if entry.path.path == "Encounter":
            raise UpstreamTimeout("the provider did not answer in time")
        if entry.path.path == "Coverage":
            raise UpstreamUnreachable("the provider could not be reached")
        if entry.path.path == "Condition":
            return UpstreamResponse(404, [("Content-Type", "application/fhir+json")],
                                    b'{"resourceType":"OperationOutcome","issue":[]}', "Not Found")
        return UpstreamResponse(200, [("ETag", 'W/"4"')], b'{"resourceType":"Patient","id":"1"}', "OK")

    out = json.loads(await fan_out(batch, send))
    assert peak == 4
    assert out["resourceType"] == "Bundle" and out["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses == ["200 OK", "404 Not Found", "504 Gateway Timeout", "502 Bad Gateway"]
    assert out["entry"][0]["resource"] == {"resourceType": "Patient", "id": "1"}
    assert out["entry"][0]["response"]["etag"] == 'W/"4"'
    assert out["entry"][2]["resource"]["resourceType"] == "OperationOutcome"


async def test_garbage_entry_body_becomes_an_outcome():
    body = b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1"}}]}'
    batch = parse_batch(body, "application/json", "http://gw/fhir")

    async def send(entry):
        return UpstreamResponse(200, [], b"<html>oops</html>", "OK")

    out = json.loads(await fan_out(batch, send))
    assert out["entry"][0]["response"]["status"].startswith("502")


def test_an_entry_response_carries_an_instant_and_only_links_the_policy_keeps():
    from gateway.outbound.transport import UpstreamResponse
    from gateway.proxy.batch import entry_of

    def policy(url):
        return url.replace("https://ehr/fhir", "https://gw/fhir") if url.startswith("https://ehr/fhir/") else None

    ok = UpstreamResponse(200, [("Last-Modified", "Tue, 01 Dec 2026 05:42:10 GMT"), ("ETag", 'W/"2"'),
                                ("Location", "https://ehr/fhir/Patient/1/_history/2")],
                          b'{"resourceType":"Patient","id":"1"}', "OK")
    assert entry_of(ok, policy)["response"] == {"status": "200 OK", "etag": 'W/"2"',
                                                "lastModified": "2026-12-01T05:42:10Z",
                                                "location": "https://gw/fhir/Patient/1/_history/2"}
    odd = UpstreamResponse(201, [("Last-Modified", "last tuesday"), ("Location", "https://evil/x")], b"", "Created")
    assert entry_of(odd, policy)["response"] == {"status": "201 Created"}
