"""The gateway's FHIR bases, one per client version (design.md, "FHIR versions"; R4 §3.3 "Managing Multiple FHIR
Versions" suggests a base per version)::

    <PUBLIC_BASE_URL>/fhir          clients of the default version (FHIR_VERSION)
    <PUBLIC_BASE_URL>/fhir/DSTU2    DSTU2 clients: Conformance 1.0.2
    <PUBLIC_BASE_URL>/fhir/STU3     STU3 clients: CapabilityStatement 3.0.1
    <PUBLIC_BASE_URL>/fhir/R4       R4 clients: CapabilityStatement 4.0.1

Each base has its own open metadata and SMART configuration naming the same token URL; the same access token
works on every base, and links in an answer stay on the base the client called. The version segment is
case-sensitive, as the rest of a FHIR URL is: ``/fhir/stu3/Patient`` is not the STU3 base.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import Settings
from gateway.fhir.versions import ALL, FhirVersion, from_name, of_base


@dataclass(frozen=True)
class ClientBase:
    """One FHIR base of the gateway: the version its clients speak, its absolute URL and its path segment."""

    version: FhirVersion
    url: str
    """Absolute, without a trailing slash (``http://localhost:7071/fhir/STU3``)."""
    segment: str
    """The part after ``/fhir``: empty for the default base, else the version's name."""


@functools.lru_cache(maxsize=8)
def bases(settings: Settings) -> dict[str, ClientBase]:
    """Every base of the gateway by its segment (``""`` the default one)."""
    found = {"": ClientBase(from_name(settings.fhir_version), settings.fhir_base_url, "")}
    for version in ALL:
        found[version.name] = ClientBase(version, f"{settings.fhir_base_url}/{version.name}", version.name)
    return found


def default_base(settings: Settings) -> ClientBase:
    """``/fhir``: the base of the default version."""
    return bases(settings)[""]


def split_base(path: str, known: Mapping[str, ClientBase]) -> tuple[ClientBase, str]:
    """The base a path below ``/fhir`` names and the rest of it, ``known`` being :func:`bases`: ``STU3/Patient/1``
    is the STU3 base and ``Patient/1``; a path without a version segment is on the default base."""
    first, slash, rest = path.partition("/")
    if of_base(first) is None:
        return known[""], path
    return known[first], rest if slash else ""
