"""Prebuilt resources of one FHIR version with their search index.

Each resource is serialized once (compact JSON bytes) when the catalog is
built, so a read is a dictionary lookup and a search concatenates bytes. The
index holds what the supported search parameters compare against, extracted
from the rendered resource itself so that it always agrees with what a client
receives.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

from devtools.demo_provider import data as d
from devtools.demo_provider import render

VERSION_ID = "1"
ETAG = f'W/"{VERSION_ID}"'
LAST_UPDATED = render.instant(d.AS_OF)
LAST_MODIFIED = format_datetime(d.AS_OF, usegmt=True)
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
Token = tuple[str, str]  # (system, code)
Range = tuple[float, float]  # [start, end) in Unix seconds


@dataclass(slots=True)
class Entry:
    """One prebuilt resource: ``body`` is its JSON; the rest is its search index."""

    type: str
    id: str
    body: bytes
    patient: str | None = None
    strings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # normalized
    exact: dict[str, tuple[str, ...]] = field(default_factory=dict)  # as written
    tokens: dict[str, frozenset[Token]] = field(default_factory=dict)
    dates: dict[str, Range] = field(default_factory=dict)


@dataclass
class Catalog:
    """All resources of one version, by type, by (type, id) and by (type, patient)."""

    version: str
    by_type: dict[str, list[Entry]] = field(default_factory=dict)
    by_id: dict[tuple[str, str], Entry] = field(default_factory=dict)
    by_patient: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self.by_type)


def normalize(text: str) -> str:
    """Case- and accent-insensitive form used by string search (FHIR search §3.1.1.4.8)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def date_range(value: str) -> Range:
    """The interval a FHIR date / dateTime value covers (its precision defines the width)."""
    if "T" in value:
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        start = moment.timestamp()
        return start, start + 1
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        first, after = date(parts[0], 1, 1), date(parts[0] + 1, 1, 1)
    elif len(parts) == 2:
        first = date(parts[0], parts[1], 1)
        after = date(parts[0] + (parts[1] == 12), parts[1] % 12 + 1, 1)
    else:
        first = date(*parts)
        after = first + timedelta(days=1)
    return _midnight(first), _midnight(after)


def _midnight(value: date) -> float:
    return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()


def _codings(concepts: Any) -> frozenset[Token]:
    if isinstance(concepts, dict):
        concepts = [concepts]
    return frozenset((c.get("system", ""), c.get("code", "")) for concept in concepts or ()
                     for c in concept.get("coding", ()))


def _patient_of(resource: dict[str, Any]) -> str | None:
    for key in ("patient", "subject", "beneficiary", "subscriber"):
        reference = resource.get(key, {}).get("reference", "")
        if reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")
    return None


def _index_names(entry: Entry, r: dict[str, Any]) -> None:
    """``family``, ``given``, ``name`` and ``identifier`` of a Patient or a Practitioner."""
    families: list[str] = []
    givens: list[str] = []
    others: list[str] = []
    for name in r.get("name", ()):
        family = name.get("family", ())
        families.extend([family] if isinstance(family, str) else family)
        givens.extend(name.get("given", ()))
        others.extend(name.get("prefix", ()))
        others.append(" ".join([*name.get("given", ()), *([family] if isinstance(family, str) else family)]))
    entry.exact = {"family": tuple(families), "given": tuple(givens), "name": tuple(families + givens + others)}
    entry.strings = {key: tuple(normalize(v) for v in values) for key, values in entry.exact.items()}
    entry.tokens = {"identifier": _identifiers(r)}


def _identifiers(r: dict[str, Any]) -> frozenset[Token]:
    return frozenset((i.get("system", ""), i["value"]) for i in r.get("identifier", ()))


def _index_patient(entry: Entry, r: dict[str, Any]) -> None:
    _index_names(entry, r)
    entry.tokens["gender"] = frozenset({(GENDER_SYSTEM, r.get("gender", ""))})
    entry.dates = {"birthdate": date_range(r["birthDate"])}


def _index(entry: Entry, r: dict[str, Any]) -> None:
    kind = entry.type
    if kind == "Patient":
        _index_patient(entry, r)
        return
    if kind == "Practitioner":
        _index_names(entry, r)
        return
    if kind in ("Location", "Organization"):
        entry.exact = {"name": (r["name"],)}
        entry.strings = {"name": (normalize(r["name"]),)}
        entry.tokens["identifier"] = _identifiers(r)
        return
    if "category" in r and kind in ("Observation", "Condition"):
        entry.tokens["category"] = _codings(r["category"])
    if "code" in r and kind in ("Observation", "Condition", "Medication"):
        entry.tokens["code"] = _codings(r["code"])
    if isinstance(r.get("status"), str):
        entry.tokens["status"] = frozenset({("", r["status"])})
    if kind == "Observation":
        entry.dates["date"] = date_range(r["effectiveDateTime"])
    elif kind == "Encounter":
        start = date_range(r["period"]["start"])
        end = date_range(r["period"]["end"]) if "end" in r["period"] else start
        entry.dates["date"] = (start[0], end[1])


def _with_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` with the server's ``meta.versionId`` and ``lastUpdated`` (beside its profiles)."""
    meta = {"versionId": VERSION_ID, "lastUpdated": LAST_UPDATED, **resource.get("meta", {})}
    return {"resourceType": resource["resourceType"], "id": resource["id"], "meta": meta} | {
        k: v for k, v in resource.items() if k != "meta"}


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON (non-ASCII kept as is)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def build(version: str, resources: Iterable[dict[str, Any]]) -> Catalog:
    """A catalog of ``resources`` (already rendered for ``version``)."""
    catalog = Catalog(version)
    for resource in resources:
        entry = Entry(resource["resourceType"], resource["id"], dumps(_with_meta(resource)))
        entry.patient = resource["id"] if entry.type == "Patient" else _patient_of(resource)
        _index(entry, resource)
        catalog.by_type.setdefault(entry.type, []).append(entry)
        catalog.by_id[(entry.type, entry.id)] = entry
        if entry.patient:
            catalog.by_patient.setdefault((entry.type, entry.patient), []).append(entry)
    return catalog


@lru_cache(maxsize=8)
def catalog_for(version: str, seed: int = d.DEFAULT_SEED, patients: int = d.DEFAULT_PATIENTS) -> Catalog:
    """The (cached) catalog of the synthetic data set in ``version``: DSTU2, STU3 or R4."""
    if version not in render.VERSIONS:
        raise ValueError(f"unsupported FHIR version {version!r}; expected one of {', '.join(render.VERSIONS)}")
    return build(version, render.render_all(version, d.generate(seed, patients)))
