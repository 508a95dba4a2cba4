"""JWKS URL rules and cache freshness of gateway.oauth.jwks_fetcher (the fetching itself: tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oauth.jwks_fetcher import (
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    freshness_seconds,
    validate_jwks_url,
)
from tests.fixtures.common import make_settings

PRODUCTION = make_settings(GATEWAY_ENVIRONMENT="production", PUBLIC_BASE_URL="https://gw.example",
                           KEY_VAULT_URL="https://kv.vault.azure.net", TABLES_ENDPOINT="https://t.table.core.windows.net")
DEVELOPMENT = make_settings()
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("url", ["https://client.example/.well-known/jwks.json", "https://client.example:8443/jwks"])
def test_public_https_urls_are_accepted_everywhere(url):
    assert validate_jwks_url(url, PRODUCTION) == [] and validate_jwks_url(url, DEVELOPMENT) == []


@pytest.mark.parametrize("url", [
    "http://client.example/jwks",                  # https only in production
    "http://127.0.0.1:8080/jwks",
    "https://127.0.0.1/jwks",                      # loopback
    "https://localhost/jwks",
    "https://10.1.2.3/jwks",                       # private
    "https://192.168.0.10/jwks",
    "https://169.254.169.254/metadata/identity",   # cloud metadata
    "https://168.63.129.16/jwks",
    "https://[::1]/jwks",
    "https://[::ffff:10.0.0.1]/jwks",
    "https://2130706433/jwks",                     # 127.0.0.1 spelled as a number
    "https://0x7f.1/jwks",
    "https://user:pw@client.example/jwks",         # credentials
    "https://client.example/jwks#frag",
    "ftp://client.example/jwks",
    "",
    "https://client.example/a/../jwks",
])
def test_refused_urls_in_production(url):
    problems = validate_jwks_url(url, PRODUCTION)
    assert problems
    assert all("provider" not in p and url not in p for p in problems if url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/jwks", "http://localhost:8080/jwks", "http://[::1]:9/jwks"])
def test_development_allows_http_to_loopback(url):
    assert validate_jwks_url(url, DEVELOPMENT) == []


@pytest.mark.parametrize("url", ["http://client.example/jwks", "http://10.0.0.5/jwks", "https://10.0.0.5/jwks",
                                 "https://169.254.169.254/jwks"])
def test_development_refuses_http_elsewhere_and_private_addresses(url):
    assert validate_jwks_url(url, DEVELOPMENT)


@pytest.mark.parametrize(("headers", "seconds"), [
    ({}, DEFAULT_TTL_SECONDS),
    ({"Cache-Control": "max-age=600"}, 600),
    ({"cache-control": "public, max-age=7200, must-revalidate"}, 7200),
    ({"Cache-Control": "max-age=600", "Age": "100"}, 500),
    ({"Cache-Control": "max-age=31536000"}, MAX_TTL_SECONDS),              # at most a day
    ({"Cache-Control": "max-age=0"}, MIN_TTL_SECONDS),                     # at least a minute
    ({"Cache-Control": "no-store"}, MIN_TTL_SECONDS),
    ({"Cache-Control": "no-cache, max-age=600"}, MIN_TTL_SECONDS),
    ({"Cache-Control": "max-age=soon"}, MIN_TTL_SECONDS),                  # invalid: stale
    ({"Cache-Control": "max-age=-5"}, MIN_TTL_SECONDS),
    ({"Cache-Control": "max-age=600", "Expires": "Sun, 01 Mar 2026 13:00:00 GMT"}, 600),  # max-age wins
    ({"Expires": "Sun, 01 Mar 2026 12:30:00 GMT"}, 1800),                  # against now without Date
    ({"Expires": "Sun, 01 Mar 2026 12:30:00 GMT", "Date": "Sun, 01 Mar 2026 12:10:00 GMT"}, 1200),
    ({"Expires": "Sun, 01 Mar 2026 11:00:00 GMT"}, MIN_TTL_SECONDS),       # in the past
    ({"Expires": "0"}, MIN_TTL_SECONDS),                                   # invalid: already expired
    ({"Expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, MAX_TTL_SECONDS),
])
def test_freshness_follows_the_caching_headers_within_a_minute_and_a_day(headers, seconds):
    assert freshness_seconds(headers, now=NOW) == seconds


@given(st.dictionaries(st.sampled_from(["Cache-Control", "Expires", "Date", "Age", "cache-control"]),
                       st.one_of(st.text(max_size=40), st.sampled_from([
                           "max-age=99999999999999999999999", "Fri, 31 Dec 99999 23:59:59 GMT", "max-age=",
                           "Mon, 01 Jan 0001 00:00:00 GMT", "-1", "max-age=1, max-age=2", "Tue, 32 Foo 2026"]))))
@settings(max_examples=300, deadline=None)
def test_any_caching_headers_give_a_freshness_within_the_bounds(headers):
    assert MIN_TTL_SECONDS <= freshness_seconds(headers, now=NOW) <= MAX_TTL_SECONDS
