"""The per-worker memo of verified tokens never outlives a token or memoizes a failure."""

import pytest

from gateway.proxy.verified_tokens import MEMO_SECONDS
from gateway.tokens.access_tokens import InvalidToken
from gateway.tokens.keyring import LEEWAY_SECONDS
from tests.support.constants import TENANT


async def test_expired_token_is_refused_even_when_memoized(services, clock):
    token = (await services.token_issuer.issue(client_id="c", tenant_id=TENANT)).access_token
    memo = services.verified_tokens
    assert (await memo.verify(token)).tenant_id == TENANT
    clock.advance(services.settings.token_lifetime_seconds + LEEWAY_SECONDS + 1)
    with pytest.raises(InvalidToken):
        await memo.verify(token)


async def test_entries_are_reverified_after_the_memo_lifetime(services, clock):
    token = (await services.token_issuer.issue(client_id="c", tenant_id=TENANT)).access_token
    memo = services.verified_tokens
    first = await memo.verify(token)
    clock.advance(MEMO_SECONDS + 1)
    assert await memo.verify(token) == first


async def test_failures_are_not_memoized(services):
    memo = services.verified_tokens
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await memo.verify("a.b.c")
