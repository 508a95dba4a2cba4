"""The log scanner also reads exported telemetry: a credential in an envelope the ingestion stand-in
receives (gzip-compressed, as the exporter may send it) fails the run."""

from __future__ import annotations

import pytest

from tests.security.test_secrets import run_pytest

TELEMETRY_LEAK_TEST = '''
import gzip
import json

import httpx

from tests.fixtures.leaks import register_sensitive


def test_an_envelope_carries_a_registered_value(ingestion):
    value = "registered-provider-credential-0077"
    register_sensitive(value)
    envelope = {"name": "Microsoft.ApplicationInsights.Request", "data": {"baseType": "RequestData",
                "baseData": {"name": "GET /fhir/Patient/{id}", "properties": {"note": value}}}}
    answer = httpx.post(f"http://127.0.0.1:{ingestion.port}//v2.1/track", content=gzip.compress(
        json.dumps([envelope]).encode()), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert answer.json() == {"itemsReceived": 1, "itemsAccepted": 1, "errors": []}
    assert ingestion.requests()[0]["data"]["baseData"]["name"] == "GET /fhir/Patient/{id}"
'''


@pytest.mark.parametrize("leak", [True, False])
def test_the_log_scanner_reads_what_the_exporter_sends(tmp_path, leak):
    source = TELEMETRY_LEAK_TEST if leak else TELEMETRY_LEAK_TEST.replace('"note": value', '"note": "fine"')
    result = run_pytest(tmp_path, source, "tests.fixtures.leaks", "tests.fixtures.ingestion")
    assert (result.returncode != 0) is leak, result.stdout[-2000:]
    if leak:
        assert "credentials reached the logs" in result.stdout and "exported telemetry" in result.stdout
        assert "registered credential …0077" in result.stdout
