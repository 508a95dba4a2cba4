"""HTTP-date (RFC 9110 §5.6.7) to FHIR instant."""

import re

import pytest

from gateway.proxy.httpdate import fhir_instant

FHIR_INSTANT = re.compile(  # FHIR R4 datatypes: instant
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))")


@pytest.mark.parametrize("http_date, instant", [
    ("Tue, 01 Dec 2026 05:42:10 GMT", "2026-12-01T05:42:10Z"),
    ("Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z"),
    ("Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37Z"),
    ("Tuesday, 01-Dec-26 05:42:10 GMT", "2026-12-01T05:42:10Z"),
    ("Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37Z"),
    ("Wed Dec 31 23:59:59 2025", "2025-12-31T23:59:59Z"),
    ("  Tue, 01 Dec 2026 05:42:10 GMT ", "2026-12-01T05:42:10Z"),
])
def test_the_three_http_date_forms_become_instants(http_date, instant):
    assert fhir_instant(http_date) == instant
    assert FHIR_INSTANT.fullmatch(instant)


@pytest.mark.parametrize("value", [
    "", "yesterday", "2026-12-01T05:42:10Z", "Tue, 01 Dec 2026 05:42:10 UTC", "Tue, 1 Dec 2026 05:42:10 GMT",
    "Tue, 31 Feb 2026 05:42:10 GMT", "Tue, 01 Dec 2026 24:00:00 GMT", "Tue, 01 Foo 2026 05:42:10 GMT",
    "Tue, 01 Dec 2026 05:42:10 GMT; x", "Tue,  01 Dec 2026 05:42:10 GMT",
])
def test_anything_else_is_left_out(value):
    assert fhir_instant(value) is None
