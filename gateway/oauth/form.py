"""Token request body parsing, RFC 6749 §3.2 and Appendix B (application/x-www-form-urlencoded, UTF-8).

Parameters come from the body only (§2.3.1: never the request URI), each at
most once (§3.2), and a parameter sent without a value counts as omitted (§3.1).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from gateway.http import Request
from gateway.oauth.errors import InvalidRequest, RequestTooLarge

MAX_BODY_BYTES = 8192
"""A token request is a few hundred bytes; anything above this is refused with 413."""
MAX_FIELDS = 32
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def parse_form(request: Request) -> dict[str, str]:
    """The request's form parameters; InvalidRequest / RequestTooLarge on anything else."""
    if len(request.body) > MAX_BODY_BYTES:
        raise RequestTooLarge(MAX_BODY_BYTES)
    if request.raw_query:
        raise InvalidRequest("parameters must be sent in the request body, not the URL")
    media, _, params = request.headers.get("content-type", "").partition(";")
    if media.strip().lower() != FORM_MEDIA_TYPE:
        raise InvalidRequest(f"the request body must be {FORM_MEDIA_TYPE}")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value.strip('"').lower() not in ("utf-8", "us-ascii"):
            raise InvalidRequest("the request body must be UTF-8")
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the request body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"parameter {_safe_name(name)} is repeated")
        form[name] = value
    return {name: value for name, value in form.items() if value != ""}


def _safe_name(name: str) -> str:
    """A parameter name fit for an error description (names are ours to echo; values never are)."""
    cleaned = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "_-."))[:40]
    return cleaned or "(unnamed)"
