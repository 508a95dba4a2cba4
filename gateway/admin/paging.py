"""Paging of admin listings: ``pageSize`` and an opaque ``continuation`` carried in ``nextLink``.

The store's continuation token is wrapped (base64url JSON) so callers treat it
as opaque and a tampered one is a clean 400, never a store error.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import urlencode

from gateway.admin.problems import bad_request
from gateway.http import Request

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode_continuation(token: str) -> str:
    raw = json.dumps({"v": 1, "t": token}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_continuation(value: str | None) -> str | None:
    """The store token inside ``value``; 400 problem when it is not one of ours."""
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        payload = None
    token = payload.get("t") if isinstance(payload, dict) and payload.get("v") == 1 else None
    if not isinstance(token, str):
        raise bad_request("The continuation token is not valid; start again from the first page.",
                          "continuation")
    return token


def page_size_of(request: Request) -> int:
    raw = request.query_value("pageSize")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise bad_request(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}.", "pageSize")
    return int(raw)


def next_link(base_url: str, path: str, token: str | None, page_size: int,
              extra: dict[str, str] | None = None) -> str | None:
    """Absolute URL of the next page on PUBLIC_BASE_URL, or None on the last page."""
    if token is None:
        return None
    params = {**(extra or {}), "pageSize": str(page_size), "continuation": encode_continuation(token)}
    return f"{base_url}{path}?{urlencode(params)}"
