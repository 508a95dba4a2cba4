"""One spelling per host (gateway.outbound.hosts): the host the HTTP client will connect to."""

from __future__ import annotations

import pytest
import yarl

from gateway.outbound.hosts import normal_host


@pytest.mark.parametrize("host, normal", [
    ("kv.vault.azure.net", "kv.vault.azure.net"),
    ("KV.Vault.Azure.NET.", "kv.vault.azure.net"),
    ("kv.vault.azure\u3002net", "kv.vault.azure.net"),
    ("kv.vault.azure\uff0enet", "kv.vault.azure.net"),
    ("kv.vault.azure\uff61net.", "kv.vault.azure.net"),
    ("b\u00fccher.example", "xn--bcher-kva.example"),
    ("B\u00dcCHER.example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("under_score.example", "under_score.example"),
    ("127\u30020\u30020\u30021", "127.0.0.1"),
    ("::1", "::1"),
    ("FE80::1", "fe80::1"),
])
def test_every_spelling_of_a_host_has_the_one_the_client_connects_to(host, normal):
    assert normal_host(host) == normal
    if ":" not in host:  # what aiohttp's URL library makes of it, trailing dot aside
        assert (yarl.URL(f"https://{host}/").raw_host or "").rstrip(".") == normal


@pytest.mark.parametrize("host", ["", ".", "a..b", "example.com..", "\u3002", "-x.\u00e9xample", "a\u00e9\u0000b"])
def test_what_cannot_be_a_host_has_no_normal_form(host):
    assert normal_host(host) is None
