"""Codes that became CodeableConcepts in R4 (``clinicalStatus``, ``verificationStatus``) and code maps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.convert.datatype_tables import JSON

TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
LEGACY = "http://hl7.org/fhir/"


def systems(name: str) -> tuple[str, str]:
    """A code system's R4 URL and its pre-R4 spelling (``condition-clinical``)."""
    return TERMINOLOGY + name, LEGACY + name


def code_in(concept: Any, accepted: Iterable[str], mapping: Mapping[str, str] | None = None) -> str | None:
    """The first coding's code of ``concept`` whose system is one of ``accepted`` (mapped by ``mapping``).

    A coding without a system counts too (some servers leave it out); a code ``mapping`` lacks gives None.
    """
    if not isinstance(concept, dict):
        return None
    wanted = set(accepted)
    for coding in concept.get("coding", ()):
        if not isinstance(coding, dict) or coding.get("system", next(iter(wanted))) not in wanted:
            continue
        code = coding.get("code")
        if isinstance(code, str):
            return mapping.get(code) if mapping is not None else code
    return None


def concept(system: str, code: str) -> JSON:
    """A CodeableConcept of one coding."""
    return {"coding": [{"system": system, "code": code}]}


def first_text(annotations: Any) -> str | None:
    """The text of the first Annotation (for DSTU2/STU3 elements that are one string)."""
    if isinstance(annotations, list) and annotations and isinstance(annotations[0], dict):
        text = annotations[0].get("text")
        return text if isinstance(text, str) else None
    return None
