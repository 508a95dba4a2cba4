"""Errors of version conversion; every message is safe to show a caller (it names types and
parameters, never values), so the proxy can answer it as an OperationOutcome of the client's version.

    ConversionError                  (ValueError)
     ├── UnsupportedResource         a resource type outside the bridged set (proxy: 404/400)
     ├── MalformedResource           a resource that is not valid JSON of its version's shape (proxy: 502)
     ├── UnsupportedVersionPair      no conversion between these two versions (proxy: 400)
     └── UntranslatableRequest       a request the provider's version cannot express (proxy: 400)
          └── UntranslatableParameter   one search parameter or modifier, named in ``parameter``
"""

from __future__ import annotations


class ConversionError(ValueError):
    """A document or request cannot be converted between FHIR versions."""

    status = 400
    issue_code = "not-supported"


class UnsupportedResource(ConversionError):
    """A resource type the bridge does not convert (or that does not exist in one of the versions)."""

    def __init__(self, resource_type: str, source: str, target: str) -> None:
        self.resource_type = resource_type
        super().__init__(f"Resource type {resource_type[:64]} cannot be converted from FHIR {source} to FHIR "
                         f"{target} by this gateway.")


class MalformedResource(ConversionError):
    """A resource whose JSON does not have its version's shape where conversion reads it (a list where a code
    goes...): from a provider, its fault (502); nothing of its content is named."""

    status = 502
    issue_code = "processing"

    def __init__(self, resource_type: str, source: str, target: str) -> None:
        self.resource_type = resource_type
        super().__init__(f"A {resource_type[:64]} resource is not valid FHIR {source} and cannot be converted to "
                         f"FHIR {target} by this gateway.")


class UnsupportedVersionPair(ConversionError):
    """No conversion between the two versions (only DSTU2 and STU3 to and from R4 are bridged)."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"FHIR {source} cannot be converted to FHIR {target} by this gateway.")


class UntranslatableRequest(ConversionError):
    """A request whose meaning the provider's version cannot express."""


class UntranslatableParameter(UntranslatableRequest):
    """One search parameter (or modifier, or value) with no equivalent in the provider's version."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        super().__init__(f"Search parameter {parameter[:80]!r} cannot be translated: {reason}")
