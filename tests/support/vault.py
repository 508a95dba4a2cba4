"""What a deployment's Key Vault holds before its first request, told apart from what a test writes."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any


def deployment_secret(name: str) -> bool:
    """A signing key, the signing key index or the client id key (``gateway.admin.readiness``)."""
    return "-signing-" in name or name.endswith("-client-id-key")


class CountingStore:
    """A store counting its calls by method (each a Key Vault or Table Storage request); optionally yielding to
    the loop first, as a network call would, or refusing as Key Vault does when it throttles (``throttle``:
    the Retry-After seconds)."""

    def __init__(self, inner: Any, *, yielding: bool = False) -> None:
        self.inner, self.calls, self.yielding = inner, Counter[str](), yielding
        self.throttle: float | None = None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            from gateway.stores.errors import StoreThrottled

            self.calls[name] += 1
            if self.yielding:
                await asyncio.sleep(0)
            if self.throttle is not None:
                raise StoreThrottled("throttled (simulated)", self.throttle)
            return await method(*args, **kwargs)

        return call


def counted_vault(services: Any, *, empty: bool = False) -> CountingStore:
    """Count the calls to ``services``' vault from now on; ``empty``: a new vault (a deployment before its
    ``ensure`` step: no signing key, no client id key)."""
    from gateway.stores.memory import MemorySecretStore

    services.secrets = CountingStore(MemorySecretStore(services.clock) if empty else services.secrets)
    return services.secrets
