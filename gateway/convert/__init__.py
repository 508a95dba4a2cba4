"""FHIR version conversion: DSTU2 and STU3 clients on R4 providers (R4 §3.3 "Managing Multiple FHIR Versions").

Plain dict-to-dict code, one module per resource under :mod:`.resources`, following HL7's official
maps (hl7.org/fhir/R4/r3maps.html; R2<->R4 through HAPI's ``org.hl7.fhir.convertors``, its reference
implementation); no network, no Functions types, nothing loaded before it is used.

Responses (R4 -> the client's version)::

    to_client(resource, client)            # a resource, Bundle, OperationOutcome or CapabilityStatement
    convert(resource, source, target)      # either direction between R4 and DSTU2/STU3

Requests (the client's version -> R4, see :mod:`.requests`)::

    translate_path(path, client)                     # "MedicationOrder/1" -> "MedicationRequest/1"
    translate_query(resource_type, params, client, parameter_exists=...)
    translate_batch(bundle, client, parameter_exists=...)

Errors (:mod:`.errors`): UnsupportedResource, MalformedResource, UnsupportedVersionPair, UntranslatableParameter; their
messages are safe to show the caller. Ids are kept; docs/versions.md lists every element that is lost.
"""

from __future__ import annotations

from gateway.convert.datatype_tables import JSON
from gateway.convert.errors import (
    ConversionError,
    MalformedResource,
    UnsupportedResource,
    UnsupportedVersionPair,
    UntranslatableParameter,
    UntranslatableRequest,
)
from gateway.fhir.versions import FhirVersion

__all__ = [
    "ConversionError", "MalformedResource", "UnsupportedResource", "UnsupportedVersionPair", "UntranslatableParameter",
    "UntranslatableRequest", "convert", "to_client", "to_provider", "bridged_types",
]


def _name(version: FhirVersion | str) -> str:
    return version.name if isinstance(version, FhirVersion) else version


def convert(resource: JSON, source: FhirVersion | str, target: FhirVersion | str) -> JSON:
    """``resource`` of version ``source`` as a resource of version ``target`` (a new dict; the input is
    not changed). The same version returns ``resource`` itself.

    Raises UnsupportedVersionPair (neither is R4, or a version is unknown), UnsupportedResource
    (a type outside the bridged set, or one the source version does not have) and MalformedResource
    (JSON without its version's shape where conversion reads it; a Bundle leaves such entries out instead).
    """
    from gateway.convert.registry import convert_resource_by, pair

    source_name, target_name = _name(source), _name(target)
    if source_name == target_name:
        return resource
    if not isinstance(resource, dict):
        raise UnsupportedResource("(not a resource)", source_name, target_name)
    return convert_resource_by(resource, pair(source_name, target_name))


def to_client(resource: JSON, client: FhirVersion | str) -> JSON:
    """An R4 provider's ``resource`` in the client's version."""
    return convert(resource, "R4", client)


def to_provider(resource: JSON, client: FhirVersion | str) -> JSON:
    """A client's ``resource`` (of its version) in R4."""
    return convert(resource, client, "R4")


def bridged_types(version: FhirVersion | str) -> tuple[str, ...]:
    """The resource types a client of ``version`` can read through the bridge, as that version names them."""
    from gateway.convert.registry import MODULES, type_in

    name = _name(version)
    return tuple(type_in(name, r4) for r4 in MODULES)
