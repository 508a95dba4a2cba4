"""The index of the gateway's signing keys: one small Key Vault secret naming every key still in use.

Workers find the keys by reading this one secret, never by listing the vault (whose size grows with the
number of clients: one verifier secret per client secret). Its value is JSON::

    {"keys": [{"kid": "20261207120000-0123456789abcdef", "generation": 2, "created": "2026-12-07T12:00:00+00:00"},
              ...]}

Each key itself is the secret ``signing_key_secret_name(prefix, kid)`` (PEM, PKCS#8). Only the admin side writes
the index (``gateway.tokens.key_admin``): when it creates the first key, rotates, or builds the index from the
keys an earlier version of the gateway left in the vault. Keys retired when the index is written are left out.

The rules every worker applies to the same index, so that workers agree without locks:

- *which key signs*: the highest generation, ties broken by the smallest kid (kids start with their creation
  time);
- *how long a superseded key is still accepted*: until superseded + ``grace`` (token lifetime + the workers'
  cache lifetime + leeway); then it is retired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

from gateway.credentials import signing_key_secret_name
from gateway.tokens.keys import ALGORITHM, KeyStatus, SigningKeyInfo

INDEX_NAME = "index"
"""The index's name after the signing key prefix: ``<prefix>-signing-index`` (no kid can be ``index``)."""
KID_TIME_FORMAT = "%Y%m%d%H%M%S"
_KID_TIME_DIGITS = 14


def index_secret_name(prefix: str) -> str:
    return signing_key_secret_name(prefix, INDEX_NAME)


def is_valid_kid(kid: object) -> TypeGuard[str]:
    """True when ``kid`` has the shape of a key id this gateway creates (``new_kid``), its time a real one."""
    return kid_time(kid) is not None


def kid_time(kid: object) -> datetime | None:
    """The creation time (to the second) a kid of the gateway's shape starts with, else None."""
    if not isinstance(kid, str) or len(kid) != 31 or kid[_KID_TIME_DIGITS] != "-":
        return None
    digits, tail = kid[:_KID_TIME_DIGITS], kid[_KID_TIME_DIGITS + 1:]
    if not (digits.isascii() and digits.isdigit()) or any(c not in "0123456789abcdef" for c in tail):
        return None
    try:
        return datetime.strptime(digits, KID_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class IndexedKey:
    """One key named by the index."""

    kid: str
    generation: int
    created_on: datetime

    def secret_name(self, prefix: str) -> str:
        return signing_key_secret_name(prefix, self.kid)


def _rank(key: IndexedKey) -> tuple[int, str]:
    return (-key.generation, key.kid)


def ordered(keys: list[IndexedKey] | tuple[IndexedKey, ...]) -> tuple[IndexedKey, ...]:
    """Best first (the active key first), each kid once."""
    unique = {key.kid: key for key in keys}
    return tuple(sorted(unique.values(), key=_rank))


def parse_index(value: str) -> tuple[IndexedKey, ...]:
    """The keys an index names, best first; ValueError when it is not an index."""
    try:
        raw = json.loads(value)
        keys = [IndexedKey(kid=item["kid"], generation=int(item["generation"]),
                           created_on=datetime.fromisoformat(item["created"])) for item in raw["keys"]]
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError("not a signing key index") from exc
    if any(not is_valid_kid(k.kid) or k.created_on.tzinfo is None or k.generation < 1 for k in keys):
        raise ValueError("not a signing key index")
    return ordered(keys)


def render_index(keys: tuple[IndexedKey, ...]) -> str:
    return json.dumps({"keys": [{"kid": k.kid, "generation": k.generation, "created": k.created_on.isoformat()}
                                for k in ordered(keys)]}, separators=(",", ":"))


def retire_times(keys: tuple[IndexedKey, ...], grace: timedelta) -> dict[str, datetime | None]:
    """When each key (best first) stops being accepted: superseded + ``grace``; None for the active key."""
    times: dict[str, datetime | None] = {}
    earliest_better: datetime | None = None
    for key in keys:
        if earliest_better is None:
            times[key.kid] = None
            earliest_better = key.created_on
        else:
            times[key.kid] = max(key.created_on, earliest_better) + grace
            earliest_better = min(earliest_better, key.created_on)
    return times


def infos(keys: tuple[IndexedKey, ...], now: datetime, grace: timedelta) -> list[SigningKeyInfo]:
    """Each key with its status at ``now`` (active, previous or retired), best first."""
    times = retire_times(keys, grace)
    out = []
    for key in keys:
        retire = times[key.kid]
        status: KeyStatus = "active" if retire is None else ("previous" if now < retire else "retired")
        out.append(SigningKeyInfo(kid=key.kid, alg=ALGORITHM, created_on=key.created_on, status=status,
                                  retire_after=retire, generation=key.generation))
    return out


def in_use(keys: tuple[IndexedKey, ...], now: datetime, grace: timedelta) -> tuple[IndexedKey, ...]:
    """The keys not retired at ``now`` (what an index written now keeps)."""
    live = {info.kid for info in infos(keys, now, grace) if info.status != "retired"}
    return tuple(key for key in keys if key.kid in live)
