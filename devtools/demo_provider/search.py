"""FHIR search over a :class:`~devtools.demo_provider.catalog.Catalog` (FHIR search, §3.1.1 in STU3/R4).

Supported: ``_id``; string (``family``, ``given``, ``name``; modifiers
``:contains`` and ``:exact``); token (``identifier``, ``gender``, ``category``,
``code``, ``status``; ``system|code``, ``|code``, ``code``, ``system|``);
reference (``patient``, ``subject``, ``beneficiary``: ``id``, ``Patient/id`` or
an absolute URL); date (``birthdate``, ``date``; precision YYYY, YYYY-MM,
YYYY-MM-DD or a dateTime; prefixes eq ne gt lt ge le sa eb ap). A comma in a
value means OR, a repeated parameter AND. ``_sort`` (``date``, ``-date``,
``_sort:desc=date``, ``_id``, ``birthdate``, ``family``), ``_count``,
``_getpagesoffset``/``_offset`` and ``_summary=count``.

Lenient handling: unknown parameters and empty values are ignored, as a
lenient server does; an unsupported modifier on a known parameter, or a value
that cannot be parsed (a non-numeric ``_count``, a malformed date) is a 400.
Error messages name the parameter, never its value (values may be PHI).

Plain string search is "starts with" per the specification, except where the
Patients app's documents ask for substring matching: STU3 ``family`` and DSTU2
``given``/``name`` (reference doc §2.1, §3.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from devtools.demo_provider.catalog import Catalog, Entry, Range, date_range, normalize

DEFAULT_COUNT = 50
MAX_COUNT = 1000
PAGING = frozenset({"_count", "_getpagesoffset", "_offset", "_getpages", "_bundletype"})
# Result parameters and others that do not filter: accepted and ignored.
IGNORED = frozenset({"_format", "_pretty", "_elements", "_include", "_revinclude", "_total", "_contained",
                     "_containedType"})

STRING, TOKEN, REFERENCE, DATE = "string", "token", "reference", "date"
_CLINICAL = {"patient": REFERENCE, "subject": REFERENCE}
PARAMETERS: dict[str, dict[str, str]] = {
    "Patient": {"family": STRING, "given": STRING, "name": STRING, "identifier": TOKEN, "gender": TOKEN,
                "birthdate": DATE},
    "Observation": {**_CLINICAL, "category": TOKEN, "code": TOKEN, "status": TOKEN, "date": DATE},
    "Encounter": {**_CLINICAL, "status": TOKEN, "date": DATE},
    "Condition": {**_CLINICAL, "category": TOKEN, "code": TOKEN},
    "AllergyIntolerance": {"patient": REFERENCE},
    "MedicationOrder": {"patient": REFERENCE, "status": TOKEN},
    "MedicationRequest": {**_CLINICAL, "status": TOKEN},
    "Coverage": {"patient": REFERENCE, "beneficiary": REFERENCE, "subscriber": REFERENCE},
    "Location": {"name": STRING, "identifier": TOKEN},
    "Practitioner": {"family": STRING, "given": STRING, "name": STRING, "identifier": TOKEN},
    "Organization": {"name": STRING, "identifier": TOKEN},
    "Medication": {"code": TOKEN},
}
MODIFIERS = {STRING: frozenset({"", "contains", "exact"}), TOKEN: frozenset({""}),
             REFERENCE: frozenset({"", "Patient"}), DATE: frozenset({""})}
SORT_KEYS = {"date": "date", "birthdate": "birthdate", "_id": "_id", "family": "family"}
CONTAINS_BY_DEFAULT = {("STU3", "family"), ("DSTU2", "given"), ("DSTU2", "name")}

_DATE = re.compile(r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
                   r"(?P<value>\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?)")

Predicate = Callable[[Entry], bool]


class SearchError(Exception):
    """A search the server cannot run: ``status`` (400) and a message naming the parameter."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Query:
    """A parsed search: filters (ANDed), order, and the page wanted."""

    filters: list[Predicate] = field(default_factory=list)
    patients: set[str] | None = None  # narrows the candidates when a single patient is asked for
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (key, descending)
    count: int = DEFAULT_COUNT
    offset: int = 0


@dataclass
class Result:
    total: int
    entries: list[Entry]
    count: int
    offset: int


def _non_negative(name: str, value: str) -> int:
    if not value.isdigit():
        raise SearchError(f"Search parameter '{name}' must be a non-negative integer")
    return int(value)


def _string_predicate(version: str, key: str, modifier: str, values: list[str]) -> Predicate:
    mode = modifier or ("contains" if (version, key) in CONTAINS_BY_DEFAULT else "starts")
    if mode == "exact":
        wanted = set(values)
        return lambda e: any(part in wanted for part in e.exact.get(key, ()))
    needles = [normalize(v) for v in values]
    if mode == "contains":
        return lambda e: any(n in part for part in e.strings.get(key, ()) for n in needles)
    return lambda e: any(part.startswith(n) for part in e.strings.get(key, ()) for n in needles)


def _token_predicate(key: str, values: list[str]) -> Predicate:
    wanted: list[tuple[str | None, str | None]] = []
    for value in values:
        if "|" in value:
            system, code = value.split("|", 1)
            wanted.append((system, code.casefold() or None))
        else:
            wanted.append((None, value.casefold()))

    def match(entry: Entry) -> bool:
        for system, code in entry.tokens.get(key, ()):
            for want_system, want_code in wanted:
                if (want_system is None or want_system == system) and (want_code is None
                                                                       or want_code == code.casefold()):
                    return True
        return False
    return match


def patient_id_of(value: str) -> str | None:
    """The patient id a reference parameter names (``id``, ``Patient/id``, ``<base>/Patient/id``)."""
    parts = value.rstrip("/").split("/")
    if len(parts) == 1:
        return parts[0]
    return parts[-1] if parts[-2] == "Patient" else None


def _date_predicate(name: str, key: str, values: list[str]) -> Predicate:
    tests: list[Callable[[Range], bool]] = []
    for value in values:
        found = _DATE.fullmatch(value)
        if not found:
            raise SearchError(f"Search parameter '{name}' has an invalid date")
        try:
            low, high = date_range(found["value"].replace("Z", "+00:00"))
        except ValueError:
            raise SearchError(f"Search parameter '{name}' has an invalid date") from None
        tests.append(_compare(found["prefix"] or "eq", low, high))
    return lambda e: key in e.dates and any(test(e.dates[key]) for test in tests)


def _compare(prefix: str, low: float, high: float) -> Callable[[Range], bool]:
    """FHIR date comparison of a resource's range [s, t) against the parameter's [low, high)."""
    def eq(r: Range) -> bool:
        return low <= r[0] and r[1] <= high
    return {
        "eq": eq,
        "ne": lambda r: not eq(r),
        "gt": lambda r: r[1] > high,
        "lt": lambda r: r[0] < low,
        "ge": lambda r: r[1] > high or eq(r),
        "le": lambda r: r[0] < low or eq(r),
        "sa": lambda r: r[0] >= high,
        "eb": lambda r: r[1] <= low,
        "ap": lambda r: r[0] < high and r[1] > low,
    }[prefix]


def _split(value: str) -> list[str]:
    return [v for v in value.split(",") if v != ""]


def _add_sort(query: Query, value: str, descending: bool | None) -> None:
    for item in _split(value):
        desc = item.startswith("-") if descending is None else descending
        key = SORT_KEYS.get(item.lstrip("-"))
        if key:  # unknown sort keys are ignored (lenient)
            query.sort.append((key, desc))


def parse(version: str, resource_type: str, pairs: Iterable[tuple[str, str]]) -> Query:
    """Parse search parameters (query string and/or form body, in order) into a :class:`Query`."""
    known = PARAMETERS.get(resource_type, {})
    query = Query()
    for raw_name, value in pairs:
        name, _, modifier = raw_name.partition(":")
        if name == "_sort":
            if modifier not in ("", "asc", "desc"):
                raise SearchError("Search parameter '_sort' has an unsupported modifier")
            _add_sort(query, value, None if not modifier else modifier == "desc")
            continue
        if name == "_count":
            query.count = min(_non_negative(name, value), MAX_COUNT)
            continue
        if name in ("_getpagesoffset", "_offset"):
            query.offset = _non_negative(name, value)
            continue
        if name == "_summary":
            if value == "count":
                query.count = 0
            continue
        if name in PAGING or name in IGNORED or value == "":
            continue
        if name == "_id":
            ids = set(_split(value))
            query.filters.append(lambda e, ids=ids: e.id in ids)
            continue
        kind = known.get(name)
        if kind is None:
            continue  # unknown parameter: ignored, as a lenient server does
        if modifier not in MODIFIERS[kind]:
            raise SearchError(f"Search parameter '{name}' does not support the modifier ':{modifier}'")
        values = _split(value)
        if kind == STRING:
            query.filters.append(_string_predicate(version, name, modifier, values))
        elif kind == TOKEN:
            query.filters.append(_token_predicate(name, values))
        elif kind == DATE:
            query.filters.append(_date_predicate(name, name, values))
        else:
            ids = {pid for pid in map(patient_id_of, values) if pid}
            query.patients = ids if query.patients is None else query.patients & ids
    return query


def _sort_value(entry: Entry, key: str) -> object:
    if key == "_id":
        return entry.id
    if key in entry.dates:
        return entry.dates[key][0]
    if key in entry.strings:
        return entry.strings[key][0] if entry.strings[key] else ""
    return 0.0


def run(catalog: Catalog, resource_type: str, query: Query) -> Result:
    """The matches of ``query`` in order, and the requested page of them."""
    candidates: Sequence[Entry]
    if query.patients is not None:
        candidates = [e for pid in sorted(query.patients) for e in catalog.by_patient.get((resource_type, pid), ())]
    else:
        candidates = catalog.by_type.get(resource_type, ())
    matches = [e for e in candidates if all(f(e) for f in query.filters)] if query.filters else list(candidates)
    for key, descending in reversed(query.sort):  # stable sorts, last key first
        matches.sort(key=lambda e, k=key: _sort_value(e, k), reverse=descending)  # type: ignore[arg-type, return-value]
    page = matches[query.offset:query.offset + query.count]
    return Result(total=len(matches), entries=page, count=query.count, offset=query.offset)
