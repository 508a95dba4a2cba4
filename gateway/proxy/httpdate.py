"""HTTP dates (RFC 9110 §5.6.7) as FHIR ``instant`` values (FHIR R4 §2.24.0.1 "instant").

A recipient must accept all three HTTP-date forms: IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``),
the obsolete RFC 850 form (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime (``Sun Nov  6 08:49:37 1994``).
All are UTC. The instant is ``YYYY-MM-DDThh:mm:ssZ``. Parsing does not depend on the locale.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
_FORMS = (
    re.compile(rf"{_DAY}, (?P<day>\d{{2}}) {_MONTH} (?P<year>\d{{4}}) {_TIME} GMT"),
    re.compile(rf"{_LONG_DAY}, (?P<day>\d{{2}})-{_MONTH}-(?P<year>\d{{2}}) {_TIME} GMT"),
    re.compile(rf"{_DAY} {_MONTH} (?P<day>[ \d]\d) {_TIME} (?P<year>\d{{4}})"),
)


def parse_http_date(value: str) -> datetime | None:
    """The UTC moment an HTTP-date names, or None when ``value`` is not one."""
    for form in _FORMS:
        match = form.fullmatch(value.strip())
        if match is None:
            continue
        year = int(match["year"])
        if len(match["year"]) == 2:  # RFC 9110 §5.6.7: more than 50 years ahead means the past century
            year += 2000 if year + 2000 <= datetime.now(UTC).year + 50 else 1900
        try:
            return datetime(year, _MONTHS[match["month"]], int(match["day"]), int(match["hour"]),
                            int(match["minute"]), int(match["second"]), tzinfo=UTC)
        except ValueError:  # 31 Feb, hour 25 ...
            return None
    return None


def fhir_instant(http_date: str) -> str | None:
    """``http_date`` as a FHIR instant (``2026-12-01T05:42:10Z``), or None when it is not an HTTP-date."""
    moment = parse_http_date(http_date)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
