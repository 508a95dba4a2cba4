"""Continuation tokens of Table Storage listings as opaque strings.

The service's continuation (``NextPartitionKey``/``NextRowKey`` headers,
https://learn.microsoft.com/rest/api/storageservices/query-timeout-and-pagination)
is handed to callers as one base64url string, so that the admin API can pass it
through a query parameter untouched.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gateway.stores.errors import InvalidContinuation


def encode_continuation(token: dict[str, Any] | None) -> str | None:
    """The SDK's continuation dict as an opaque string (None: no more pages)."""
    if not token:
        return None
    raw = json.dumps({"pk": token.get("PartitionKey"), "rk": token.get("RowKey")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continuation(value: str | None) -> dict[str, Any] | None:
    """The SDK's continuation dict from :func:`encode_continuation`'s string; InvalidContinuation if garbled."""
    if value is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise InvalidContinuation("continuation token is not valid") from None
    if (not isinstance(data, dict) or set(data) != {"pk", "rk"}
            or not all(v is None or isinstance(v, str) for v in data.values())
            or (data["pk"] is None and data["rk"] is None)):
        raise InvalidContinuation("continuation token is not valid")
    return {"PartitionKey": data["pk"], "RowKey": data["rk"]}
