"""Why an outbound call to a provider gave no usable answer.

Each error maps to one answer of the proxy (``gateway.proxy.forward``); messages
never carry URLs or PHI::

    UpstreamError
    ├── UpstreamUnreachable   connection refused / reset / closed early        -> 502
    ├── UpstreamTimeout       connect or read timeout                          -> 504
    ├── UpstreamTooLarge      decoded body above PROXY_MAX_RESPONSE_BYTES      -> 502
    ├── UpstreamGarbage       not HTTP, or a body that cannot be decoded       -> 502
    └── DestinationRefused    resolved address refused by gateway.outbound.destinations -> 502

Raised by ``gateway.outbound.transport`` and ``gateway.outbound.guarded``; kept apart
so that neither imports the other.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """The provider could not give a usable answer; messages never carry URLs or PHI."""


class UpstreamUnreachable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamTooLarge(UpstreamError):
    pass


class UpstreamGarbage(UpstreamError):
    pass


class DestinationRefused(UpstreamError):
    pass
