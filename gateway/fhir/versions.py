"""FHIR versions the gateway speaks, as values (FHIR R4 §3.3 "Managing Multiple FHIR Versions").

One frozen :class:`FhirVersion` per release: DSTU2 (1.0.2), STU3 (3.0.1), R4 (4.0.1). Each knows
its JSON media type (DSTU2 ``application/json+fhir``; STU3/R4 ``application/fhir+json``, R4 §3.1.0.1.6),
the name of its capability resource (DSTU2 ``Conformance``, later ``CapabilityStatement``), the Bundle
types of batch and transaction responses, and its medication order type (DSTU2 ``MedicationOrder``).

:func:`from_name` parses a route's or a base's declared name (``DSTU2``, ``stu3``); :func:`from_number`
parses a server's metadata ``fhirVersion`` (``1.0.x``, ``3.0.x``, ``4.0.x``). Both raise
:class:`UnknownFhirVersion`, whose message is safe to show a caller.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownFhirVersion(ValueError):
    """A version name or number the gateway does not serve; the message names what was seen."""


@dataclass(frozen=True)
class FhirVersion:
    """One FHIR release."""

    name: str
    """``DSTU2``, ``STU3`` or ``R4``: how routes, settings and client bases name it."""
    number: str
    """The release's full version number, as its metadata ``fhirVersion`` states it."""
    media_type: str
    """The FHIR JSON media type of the release."""
    capability_type: str
    """``Conformance`` (DSTU2) or ``CapabilityStatement``."""
    medication_order_type: str
    """``MedicationOrder`` (DSTU2) or ``MedicationRequest``."""
    batch_response_type: str = "batch-response"
    transaction_response_type: str = "transaction-response"

    @property
    def major_minor(self) -> str:
        """``1.0``, ``3.0`` or ``4.0``: the part of ``fhirVersion`` that decides compatibility."""
        return ".".join(self.number.split(".")[:2])

    def __str__(self) -> str:
        return self.name


DSTU2 = FhirVersion("DSTU2", "1.0.2", "application/json+fhir", "Conformance", "MedicationOrder")
STU3 = FhirVersion("STU3", "3.0.1", "application/fhir+json", "CapabilityStatement", "MedicationRequest")
R4 = FhirVersion("R4", "4.0.1", "application/fhir+json", "CapabilityStatement", "MedicationRequest")
ALL: tuple[FhirVersion, ...] = (DSTU2, STU3, R4)
_BY_NAME = {version.name: version for version in ALL}
_BY_MAJOR_MINOR = {version.major_minor: version for version in ALL}


def from_name(name: str) -> FhirVersion:
    """The version a route or base declares (``DSTU2``, ``STU3``, ``R4``; any case)."""
    version = _BY_NAME.get(name.strip().upper()) if isinstance(name, str) else None
    if version is None:
        raise UnknownFhirVersion(f"unknown FHIR version name {str(name)[:20]!r}; expected DSTU2, STU3 or R4")
    return version


def from_number(number: str) -> FhirVersion:
    """The version of a server's metadata ``fhirVersion``: any ``1.0.x``, ``3.0.x`` or ``4.0.x``.

    Only the major and minor parts count (a provider on 4.0.0 or 3.0.2 is R4 or STU3); a
    pre-release label (``4.0.1-cibuild``) is ignored.
    """
    text = number.strip() if isinstance(number, str) else ""
    parts = text.split("-", 1)[0].split(".")
    version = _BY_MAJOR_MINOR.get(".".join(parts[:2])) if len(parts) >= 2 and all(p.isdigit() for p in parts) else None
    if version is None:
        raise UnknownFhirVersion(f"unsupported FHIR version number {text[:20]!r}; expected 1.0.x, 3.0.x or 4.0.x")
    return version
