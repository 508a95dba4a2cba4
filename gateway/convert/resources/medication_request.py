"""MedicationRequest (R4 §12.14) <-> STU3 MedicationRequest (r3maps MedicationRequest.map; HAPI
``MedicationRequest30_40``) and DSTU2 MedicationOrder (HAPI ``MedicationOrder10_40``; ids are kept).

- STU3: ``requester`` is ``requester.agent`` (R4's ``requester.onBehalfOf`` extension, HAPI
  ``EXT_MED_REQ_ONBEHALF``, becomes ``requester.onBehalfOf``); ``encounter`` is ``context``; one
  ``category``; ``intent`` has no ``original-order``, ``reflex-order``, ``filler-order`` (``order``) or
  ``option`` (``proposal``); ``substitution.allowed[x]`` is the boolean ``substitution.allowed``;
  ``dosageInstruction`` keeps its first ``doseAndRate`` as ``dose[x]``/``rate[x]``.
- DSTU2 MedicationOrder: ``authoredOn`` is ``dateWritten``, ``subject`` ``patient``, ``requester``
  ``prescriber``, the first ``reasonCode``/``reasonReference`` is ``reason[x]``, the first note's text
  ``note``; ``status`` has no ``cancelled`` (``stopped``) or ``unknown``; ``intent`` (required in R4:
  ``order`` on the way up) is carried in a cross-version extension; ``dispenseRequest`` may name the medication.
"""

from __future__ import annotations

from gateway.convert.codes import first_text
from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ON_BEHALF_OF = "http://hl7.org/fhir/3.0/StructureDefinition/extension-MedicationRequest.requester.onBehalfOf"

ELEMENTS: Elements = {
    "identifier": "Identifier*", "status": "code", "statusReason": "CodeableConcept", "intent": "code",
    "category": "CodeableConcept*", "priority": "code", "doNotPerform": "boolean",
    "reported": ("boolean", "Reference"), "medication": ("CodeableConcept", "Reference"), "subject": "Reference",
    "encounter": "Reference", "supportingInformation": "Reference*", "authoredOn": "dateTime",
    "requester": "Reference", "performer": "Reference", "performerType": "CodeableConcept", "recorder": "Reference",
    "reasonCode": "CodeableConcept*", "reasonReference": "Reference*", "instantiatesCanonical": "canonical*",
    "instantiatesUri": "uri*", "basedOn": "Reference*", "groupIdentifier": "Identifier",
    "courseOfTherapyType": "CodeableConcept", "insurance": "Reference*", "note": "Annotation*",
    "dosageInstruction": "Dosage*",
    "dispenseRequest": Backbone({
        "initialFill": Backbone({"quantity": "Quantity", "duration": "Duration"}, repeats=False),
        "dispenseInterval": "Duration", "validityPeriod": "Period", "numberOfRepeatsAllowed": "unsignedInt",
        "quantity": "Quantity", "expectedSupplyDuration": "Duration", "performer": "Reference"}, repeats=False),
    "substitution": Backbone({"allowed": ("boolean", "CodeableConcept"), "reason": "CodeableConcept"},
                             repeats=False),
    "priorPrescription": "Reference", "detectedIssue": "Reference*", "eventHistory": "Reference*",
}
_INTENT_STU3 = {"original-order": "order", "reflex-order": "order", "filler-order": "order", "option": "proposal"}
_R4_ONLY = frozenset({"statusReason", "doNotPerform", "reported", "performer", "performerType",
                      "instantiatesCanonical", "instantiatesUri", "courseOfTherapyType", "insurance",
                      "dispenseRequest.initialFill", "dispenseRequest.dispenseInterval"})


def _down_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    if isinstance(src.get("intent"), str):
        tgt["intent"] = _INTENT_STU3.get(src["intent"], src["intent"])
    requester = src.get("requester")
    if isinstance(requester, dict):
        agent = conv.value("Reference", requester)
        extensions = agent.get("extension", ())
        behalf = next((e for e in extensions if e.get("url") == ON_BEHALF_OF), None)
        if behalf is not None:  # a new dict without it (the source's may be shared)
            agent = {k: v for k, v in agent.items() if k != "extension"}
            if len(extensions) > 1:
                agent["extension"] = [e for e in extensions if e is not behalf]
        tgt["requester"] = {"agent": agent}
        if behalf is not None and "valueReference" in behalf:
            tgt["requester"]["onBehalfOf"] = behalf["valueReference"]
    substitution = src.get("substitution")
    if isinstance(substitution, dict) and isinstance(substitution.get("allowedBoolean"), bool):
        tgt.setdefault("substitution", {})["allowed"] = substitution["allowedBoolean"]


def _up_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    if isinstance(src.get("intent"), str):
        tgt["intent"] = src["intent"]
    requester = src.get("requester")
    if isinstance(requester, dict) and isinstance(requester.get("agent"), dict):
        agent = dict(conv.value("Reference", requester["agent"]))  # a copy: the source's may be shared
        if isinstance(requester.get("onBehalfOf"), dict):
            agent["extension"] = [*agent.get("extension", ()), {
                "url": ON_BEHALF_OF, "valueReference": conv.value("Reference", requester["onBehalfOf"])}]
        tgt["requester"] = agent
    substitution = src.get("substitution")
    if isinstance(substitution, dict) and isinstance(substitution.get("allowed"), bool):
        tgt.setdefault("substitution", {})["allowedBoolean"] = substitution["allowed"]


_STATUS_DSTU2 = {"active": "active", "on-hold": "on-hold", "completed": "completed",
                 "entered-in-error": "entered-in-error", "stopped": "stopped", "draft": "draft",
                 "cancelled": "stopped"}


def _down_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    status = _STATUS_DSTU2.get(src.get("status", ""))
    if status:
        tgt["status"] = status
    for stem, key, kind in (("reason", "reasonCode", "CodeableConcept"), ("reason", "reasonReference", "Reference")):
        if src.get(key) and "reasonCodeableConcept" not in tgt:
            tgt[stem + kind] = conv.value(kind, src[key][0])
    text = first_text(src.get("note"))
    if text is not None:
        tgt["note"] = text
    substitution = tgt.get("substitution")
    if isinstance(substitution, dict) and "type" not in substitution:
        del tgt["substitution"]  # DSTU2 requires substitution.type; R4 has no type


def _up_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    if isinstance(src.get("status"), str):
        tgt["status"] = src["status"]
    tgt.setdefault("intent", "order")  # 1..1 in R4; carried in an extension when it came from R4
    for kind, key in (("CodeableConcept", "reasonCode"), ("Reference", "reasonReference")):
        if isinstance(src.get("reason" + kind), dict):
            tgt[key] = [conv.value(kind, src["reason" + kind])]
    if isinstance(src.get("note"), str):
        tgt["note"] = [{"text": src["note"]}]


MAP = ResourceMap("MedicationRequest", ELEMENTS, {
    "STU3": Older(
        renamed={"encounter": "context"}, missing=_R4_ONLY, single=frozenset({"category"}),
        handled=frozenset({"intent", "requester", "substitution.allowed"}),
        older_only=frozenset({"requester", "substitution.allowed", "definition"}), down=_down_stu3, up=_up_stu3),
    "DSTU2": Older(
        resource_type="MedicationOrder",
        renamed={"authoredOn": "dateWritten", "subject": "patient", "requester": "prescriber"},
        missing=_R4_ONLY | {"category", "priority", "supportingInformation", "recorder", "basedOn",
                            "groupIdentifier", "detectedIssue", "eventHistory", "dispenseRequest.performer",
                            "substitution.allowed", "intent"},
        handled=frozenset({"status", "reasonCode", "reasonReference", "note"}),
        older_only=frozenset({"status", "reason", "note", "dateEnded", "reasonEnded", "dispenseRequest.medication",
                              "substitution.type"}),
        down=_down_dstu2, up=_up_dstu2),
})
