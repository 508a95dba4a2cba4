"""Read requests of a DSTU2 or STU3 client in R4 terms (R4 §3.1.1 "Search", http.html; DSTU2/STU3 search.html).

What changes on the way to an R4 provider:

- resource types in paths, ``_include``/``_revinclude`` targets, reference values and ``:Type``
  modifiers: DSTU2 ``MedicationOrder`` is R4 ``MedicationRequest`` (ids are kept);
- ``_sort``: DSTU2/STU3 ``_sort:desc=date`` (and ``:asc``, and repeated ``_sort``) is R4's
  ``_sort=-date`` (one comma-separated list, in order);
- search parameters renamed between versions (:data:`RENAMES`: DSTU2 Condition ``clinicalstatus`` is
  ``clinical-status``, with its codes mapped; DSTU2 AllergyIntolerance ``status`` is ``clinical-status`` or
  ``verification-status`` by its value; STU3 ``context`` is ``encounter`` ...);
- form-encoded ``_search`` bodies and batch entries (``request.url``) the same way.

Whether a parameter exists in R4 is asked of an injected predicate ``parameter_exists(version, type,
name)`` (the generated search parameter tables at merge; a small fake in tests). A parameter that does
not exist, a modifier R4 lacks, a value with no R4 equivalent or a write raises
:class:`UntranslatableParameter` / :class:`UntranslatableRequest` naming it: nothing is dropped silently,
because an R4 server would refuse it (or, worse, ignore it and widen the search).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from gateway.convert.codes import LEGACY, TERMINOLOGY
from gateway.convert.datatype_tables import JSON
from gateway.convert.errors import UnsupportedResource, UntranslatableParameter, UntranslatableRequest
from gateway.convert.registry import r4_type
from gateway.fhir.versions import FhirVersion

ParameterExists = Callable[[str, str, str], bool]
"""(version name, resource type, parameter name) -> whether that search parameter is defined."""
Params = list[tuple[str, str]]

# Parameters of every resource (R4 §3.1.1.3 "Parameters for all resources", §3.1.1.5 result parameters).
COMMON = frozenset({"_id", "_lastUpdated", "_tag", "_profile", "_security", "_text", "_content", "_list"})
RESULT = frozenset({"_count", "_summary", "_elements", "_total", "_contained", "_containedType"})
PASSED_AS_IS = frozenset({"_format", "_pretty"})
MODIFIERS = frozenset({"missing", "exact", "contains", "text", "not", "above", "below", "in", "not-in",
                       "of-type", "identifier"})
_SUMMARY = frozenset({"true", "false", "count", "text", "data"})


@dataclass(frozen=True)
class Rename:
    """An older search parameter's R4 name, and how its values change (None: unchanged)."""

    name: str
    values: Mapping[str, str] | None = None


# client version -> R4 resource type -> older parameter -> R4 (from the DSTU2, STU3 and R4 search parameter lists).
_DSTU2_CONDITION_CLINICAL = {"active": "active", "relapse": "recurrence", "remission": "remission",
                             "resolved": "resolved"}
RENAMES: Mapping[str, Mapping[str, Mapping[str, Rename]]] = {
    "DSTU2": {
        "Condition": {"clinicalstatus": Rename("clinical-status", _DSTU2_CONDITION_CLINICAL),
                      "date-recorded": Rename("recorded-date"), "onset": Rename("onset-date")},
        "AllergyIntolerance": {"substance": Rename("code"), "reporter": Rename("asserter")},
        "MedicationRequest": {"datewritten": Rename("authoredon"), "prescriber": Rename("requester")},
        "Encounter": {"indication": Rename("reason-reference"), "reason": Rename("reason-code")},
        "Patient": {"careprovider": Rename("general-practitioner")},
        "Coverage": {"issuer": Rename("payor"), "plan": Rename("class-value"), "group": Rename("class-value"),
                     "subplan": Rename("class-value")},
    },
    "STU3": {
        "Condition": {"asserted-date": Rename("recorded-date"), "context": Rename("encounter")},
        "MedicationRequest": {"context": Rename("encounter")},
        "Observation": {"context": Rename("encounter")},
        "Encounter": {"reason": Rename("reason-code"), "incomingreferral": Rename("based-on")},
        "Coverage": {"plan": Rename("class-value"), "group": Rename("class-value"), "subplan": Rename("class-value"),
                     "subgroup": Rename("class-value"), "class": Rename("class-value"),
                     "subclass": Rename("class-value")},
    },
}
# DSTU2 AllergyIntolerance ``status`` holds both R4 statuses: the value decides which parameter it becomes.
_ALLERGY_STATUS = {"active": "clinical-status", "inactive": "clinical-status", "resolved": "clinical-status",
                   "unconfirmed": "verification-status", "confirmed": "verification-status",
                   "refuted": "verification-status", "entered-in-error": "verification-status"}
_TYPE_TOKEN = re.compile(r"(?<![A-Za-z0-9])(MedicationOrder)(?=/)")


def _name(version: FhirVersion | str) -> str:
    return version.name if isinstance(version, FhirVersion) else version


def _r4_type_or_error(resource_type: str, client: str) -> str:
    name = r4_type(resource_type, client)
    if name is None:
        raise UnsupportedResource(resource_type, client, "R4")
    return name


def translate_path(path: str, client: FhirVersion | str) -> str:
    """A checked FHIR path (``gateway.proxy.paths``) with R4's resource type names.

    ``Type``, ``Type/id``, ``Type/_search``, ``Type/id/_history[/vid]`` and a compartment ``Type/id/Type2``;
    the base, ``metadata`` and ``_search`` stay as they are. A type outside the bridge raises UnsupportedResource.
    """
    version = _name(client)
    segments = path.split("/") if path else []
    if not segments or not segments[0][:1].isupper():
        return path
    segments[0] = _r4_type_or_error(segments[0], version)
    if len(segments) == 3 and segments[2][:1].isupper():
        segments[2] = _r4_type_or_error(segments[2], version)
    return "/".join(segments)


class _Translator:
    def __init__(self, resource_type: str | None, client: str, exists: ParameterExists) -> None:
        self.client = client
        self.exists = exists
        self.resource_type = _r4_type_or_error(resource_type, client) if resource_type else None
        self.renames = RENAMES.get(client, {}).get(self.resource_type or "", {})

    def params(self, params: Iterable[tuple[str, str]]) -> Params:
        out: Params = []
        sorts: list[str] = []
        for key, value in params:
            name, _, modifier = key.partition(":")
            if name == "_sort":
                sorts.extend(self._sort(key, modifier, value))
            elif name in ("_include", "_revinclude"):
                out.append((key, self._include(key, value)))
            elif self.resource_type is None or name in PASSED_AS_IS:
                out.append((key, value))  # a system-level request or a paging continuation: opaque to us
            else:
                out.append(self._search(key, name, modifier, value))
        if sorts:
            out.append(("_sort", ",".join(sorts)))
        return out

    def _sort(self, key: str, modifier: str, value: str) -> list[str]:
        if modifier not in ("", "asc", "desc"):
            raise UntranslatableParameter(key, "the _sort modifier must be :asc or :desc")
        fields = []
        for field in value.split(","):
            descending = field.startswith("-") or modifier == "desc"
            name = self._parameter_name(field.lstrip("-"), key) if field.lstrip("-") not in ("_id", "_lastUpdated") \
                else field.lstrip("-")
            fields.append(("-" if descending else "") + name)
        return fields

    def _include(self, key: str, value: str) -> str:
        if value == "*":
            return value
        parts = value.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise UntranslatableParameter(key, "expected Type:parameter or Type:parameter:TargetType")
        source = _r4_type_or_error(parts[0], self.client)
        name = _Translator(parts[0], self.client, self.exists)._parameter_name(parts[1], key)
        translated = [source, name]
        if len(parts) == 3:
            translated.append(_r4_type_or_error(parts[2], self.client))
        return ":".join(translated)

    def _search(self, key: str, name: str, modifier: str, value: str) -> tuple[str, str]:
        if name in RESULT:
            if name == "_summary" and value not in _SUMMARY:
                raise UntranslatableParameter(key, "_summary must be true, false, count, text or data")
            return key, value
        if name.startswith("_") and name not in COMMON:
            raise UntranslatableParameter(key, f"FHIR R4 has no {name} parameter the gateway can translate")
        if "." in name:
            raise UntranslatableParameter(key, "chained parameters are not translated between FHIR versions")
        if name == "status" and self.client == "DSTU2" and self.resource_type == "AllergyIntolerance":
            return self._allergy_status(key, modifier, value)
        rename = self.renames.get(name)
        r4_name = self._parameter_name(name, key)
        modifier = self._modifier(key, modifier)
        if rename is not None and rename.values is not None:
            value = ",".join(self._value(key, rename.values, v) for v in value.split(","))
        value = _TYPE_TOKEN.sub("MedicationRequest", value) if "MedicationOrder" in value else value
        return (f"{r4_name}:{modifier}" if modifier else r4_name), value

    def _parameter_name(self, name: str, key: str) -> str:
        if name in COMMON:
            return name
        rename = self.renames.get(name)
        r4_name = rename.name if rename is not None else name
        if self.resource_type is None or not self.exists("R4", self.resource_type, r4_name):
            raise UntranslatableParameter(key, f"FHIR R4 {self.resource_type or 'system'} search has no "
                                               f"equivalent of {name}")
        return r4_name

    def _modifier(self, key: str, modifier: str) -> str:
        if not modifier or modifier in MODIFIERS:
            return modifier
        if modifier[:1].isupper():  # a reference type modifier (subject:Patient)
            return _r4_type_or_error(modifier, self.client)
        raise UntranslatableParameter(key, f"the modifier :{modifier} has no FHIR R4 equivalent here")

    @staticmethod
    def _value(key: str, values: Mapping[str, str], value: str) -> str:
        """A token value's code mapped (``relapse`` -> ``recurrence``), a pre-R4 code system's URL with it."""
        system, bar, code = value.rpartition("|")
        mapped = values.get(code)
        if mapped is None:
            raise UntranslatableParameter(key, "a value has no FHIR R4 equivalent")
        if system.startswith(LEGACY):
            system = TERMINOLOGY + system[len(LEGACY):]
        return f"{system}{bar}{mapped}"

    def _allergy_status(self, key: str, modifier: str, value: str) -> tuple[str, str]:
        targets = {_ALLERGY_STATUS.get(v) for v in value.split(",")}
        if None in targets or len(targets) != 1 or modifier not in ("", "not"):
            raise UntranslatableParameter(key, "DSTU2 status values must all be clinical (active, inactive, "
                                               "resolved) or all verification statuses (unconfirmed, confirmed, "
                                               "refuted, entered-in-error)")
        name = targets.pop() or ""
        return (f"{name}:{modifier}" if modifier else name), value


def translate_query(resource_type: str | None, params: Sequence[tuple[str, str]], client: FhirVersion | str, *,
                    parameter_exists: ParameterExists) -> Params:
    """Search parameters of ``client``'s version on ``resource_type`` (None: the base) in R4 terms, in order."""
    return _Translator(resource_type, _name(client), parameter_exists).params(params)


def translate_form(body: bytes, resource_type: str | None, client: FhirVersion | str, *,
                   parameter_exists: ParameterExists) -> bytes:
    """A form-encoded ``_search`` body (application/x-www-form-urlencoded) in R4 terms."""
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise UntranslatableRequest("The form-encoded search body is not valid.") from None
    translated = translate_query(resource_type, params, client, parameter_exists=parameter_exists)
    return _encode(translated).encode("ascii")


def translate_url(url: str, client: FhirVersion | str, *, parameter_exists: ParameterExists) -> str:
    """A relative request URL (a batch entry's ``Type/id`` or ``Type?query``) in R4 terms."""
    path, question, query = url.partition("?")
    translated = translate_path(path.strip("/"), client)
    if not question:
        return translated
    resource_type = path.strip("/").split("/")[0] if path.strip("/")[:1].isupper() else None
    try:
        params = parse_qsl(query, keep_blank_values=True)
    except ValueError:
        raise UntranslatableRequest("A request URL's query is not valid.") from None
    params = translate_query(resource_type, params, client, parameter_exists=parameter_exists)
    return f"{translated}?{_encode(params)}"


def _encode(params: Params) -> str:
    """A query string; ``:`` ``,`` ``|`` ``/`` stay readable (allowed in a query, RFC 3986 §3.4)."""
    return urlencode(params, safe=":,|/")


_READ_METHODS = frozenset({"GET", "HEAD"})


def translate_batch(bundle: JSON, client: FhirVersion | str, *, parameter_exists: ParameterExists) -> JSON:
    """A client's read-only ``batch`` Bundle with every entry's ``request.url`` in R4 terms.

    Writes are not translated (a bridged route is read-only): an entry with another method raises.
    """
    entries = []
    for number, entry in enumerate(bundle.get("entry") or (), start=1):
        request: Any = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("url"), str):
            raise UntranslatableRequest(f"Batch entry {number} has no request.url.")
        if request.get("method") not in _READ_METHODS:
            raise UntranslatableRequest(f"Batch entry {number} is not a read; writes are not bridged between "
                                        "FHIR versions.")
        url = translate_url(request["url"], client, parameter_exists=parameter_exists)
        entries.append({**entry, "request": {**request, "url": url}})
    return {**bundle, "entry": entries} if "entry" in bundle else dict(bundle)
