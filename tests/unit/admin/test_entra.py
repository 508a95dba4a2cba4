"""The Entra ID verifier against a local issuer whose discovery document or key set is hostile or broken."""

from __future__ import annotations

import pytest

from gateway.admin.entra import EntraVerifier, IssuerUnavailable
from tests.fixtures.entra import ADMIN_ROLE, AUDIENCE


def verifier(issuer, clock, *, production: bool = False) -> EntraVerifier:
    return EntraVerifier(issuer.authority, AUDIENCE, ADMIN_ROLE, production=production, clock=clock)


async def test_a_valid_token_passes_the_control(entra_issuer, clock):
    identity = await verifier(entra_issuer, clock).verify(entra_issuer.user_token())
    assert identity.username == "alice@contoso.example" and ADMIN_ROLE in identity.roles


@pytest.mark.parametrize("overrides", [
    {"issuer": "https://login.microsoftonline.com/another-tenant/v2.0"},  # not the authority (Discovery §4.3)
    {"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"},  # the multi-tenant template
    {"issuer": None},
    {"jwks_uri": "http://keys.example.org/keys"},  # plain http off loopback
    {"jwks_uri": "file:///etc/passwd"},
    {"jwks_uri": None},
])
async def test_a_discovery_document_that_would_widen_trust_is_refused(entra_issuer, clock, overrides):
    entra_issuer.discovery_overrides = overrides
    with pytest.raises(IssuerUnavailable):
        await verifier(entra_issuer, clock).verify(entra_issuer.user_token())
    assert entra_issuer.key_fetches == 0


async def test_a_loopback_key_url_is_refused_in_production(entra_issuer, clock):
    with pytest.raises(IssuerUnavailable):
        await verifier(entra_issuer, clock, production=True).verify(entra_issuer.user_token())


async def test_an_oversized_key_set_is_refused(entra_issuer, clock):
    entra_issuer.jwks_extra = {"padding": "x" * 300_000}
    with pytest.raises(IssuerUnavailable):
        await verifier(entra_issuer, clock).verify(entra_issuer.user_token())


async def test_a_redirected_key_set_is_not_followed(entra_issuer, clock):
    entra_issuer.redirect_jwks_to = "http://169.254.169.254/metadata/identity"
    with pytest.raises(IssuerUnavailable):
        await verifier(entra_issuer, clock).verify(entra_issuer.user_token())


async def test_a_failed_fetch_is_retried_only_after_the_interval(entra_issuer, clock):
    entra_issuer.jwks_extra = {"keys": []}
    check = verifier(entra_issuer, clock)
    for _ in range(3):
        with pytest.raises(IssuerUnavailable):
            await check.verify(entra_issuer.user_token())
    assert entra_issuer.key_fetches == 1
    entra_issuer.jwks_extra = {}
    clock.advance(60)
    assert (await check.verify(entra_issuer.user_token())).object_id
    assert entra_issuer.key_fetches == 2
