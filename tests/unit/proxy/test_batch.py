"""Batch fan-out composes a standard batch-response, in order."""

import asyncio
import json

from gateway.proxy.access import parse_batch
from gateway.proxy.batch import fan_out
from gateway.proxy.transport import UpstreamResponse, UpstreamTimeout, UpstreamUnreachable


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
