"""Scope handling of the client credentials grant (RFC 6749 §3.3, §4.4.2)."""

from __future__ import annotations

import pytest

from gateway.oauth.errors import InvalidScope
from gateway.oauth.grant import requested_tenant
from tests.support.constants import OTHER_TENANT, TENANT


@pytest.mark.parametrize("scope", [TENANT, TENANT.upper(), f"  {TENANT}  ", f"system/*.read {TENANT}",
                                   f"{TENANT} {TENANT.upper()}"])
def test_one_tenant(scope):
    assert requested_tenant(scope) == TENANT


@pytest.mark.parametrize("scope", [None, "", " ", "openid", f"{TENANT} {OTHER_TENANT}", TENANT.replace("-", ""),
                                   f"openid {TENANT}", f"patient/*.read {TENANT}",
                                   " ".join(["system/*.rs"] * 200) + f" {TENANT}"])
def test_not_exactly_one_tenant(scope):
    with pytest.raises(InvalidScope):
        requested_tenant(scope)
