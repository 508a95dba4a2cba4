"""Medication (R4 §12.12) <-> STU3 (HAPI ``Medication30_40``) and DSTU2 (HAPI ``Medication10_40``).

- STU3: ``ingredient.strength`` is ``ingredient.amount``; R4 ``batch`` is ``package.batch``; R4
  ``identifier`` and ``amount`` have no STU3 place (extensions).
- DSTU2: ``form``, ``ingredient`` and ``batch`` live under ``product`` (an ingredient's item must be a
  Reference there: a coded ingredient is dropped); no ``status``, ``identifier`` or ``amount`` (extensions).
"""

from __future__ import annotations

from gateway.convert.datatype_tables import JSON
from gateway.convert.datatypes import Converter
from gateway.convert.structure import Backbone, Elements, Older, ResourceMap

ELEMENTS: Elements = {
    "identifier": "Identifier*", "code": "CodeableConcept", "status": "code", "manufacturer": "Reference",
    "form": "CodeableConcept", "amount": "Ratio",
    "ingredient": Backbone({"item": ("CodeableConcept", "Reference"), "isActive": "boolean", "strength": "Ratio"}),
    "batch": Backbone({"lotNumber": "string", "expirationDate": "dateTime"}, repeats=False),
}


def _batch(value: object) -> JSON | None:
    if not isinstance(value, dict):
        return None
    batch = {k: value[k] for k in ("lotNumber", "expirationDate") if k in value}
    return batch or None


def _down_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    batch = _batch(src.get("batch"))
    if batch:
        tgt["package"] = {"batch": [batch]}


def _up_stu3(src: JSON, tgt: JSON, conv: Converter) -> None:
    batches = (src.get("package") or {}).get("batch") or [None]
    batch = _batch(batches[0])
    if batch:
        tgt["batch"] = batch


def _down_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    product: JSON = {}
    if "form" in src:
        product["form"] = conv.value("CodeableConcept", src["form"])
    ingredients = [{"item": conv.value("Reference", i["itemReference"]),
                    **({"amount": conv.value("Ratio", i["strength"])} if "strength" in i else {})}
                   for i in src.get("ingredient", ()) if isinstance(i, dict) and "itemReference" in i]
    if ingredients:
        product["ingredient"] = ingredients
    batch = _batch(src.get("batch"))
    if batch:
        product["batch"] = [batch]
    if product:
        tgt["product"] = product


def _up_dstu2(src: JSON, tgt: JSON, conv: Converter) -> None:
    product = src.get("product")
    if not isinstance(product, dict):
        return
    if "form" in product:
        tgt["form"] = conv.value("CodeableConcept", product["form"])
    ingredients = [{"itemReference": conv.value("Reference", i["item"]),
                    **({"strength": conv.value("Ratio", i["amount"])} if "amount" in i else {})}
                   for i in product.get("ingredient", ()) if isinstance(i, dict) and "item" in i]
    if ingredients:
        tgt["ingredient"] = ingredients
    batch = _batch((product.get("batch") or [None])[0])
    if batch:
        tgt["batch"] = batch


MAP = ResourceMap("Medication", ELEMENTS, {
    "STU3": Older(renamed={"ingredient.strength": "amount"}, missing=frozenset({"identifier", "amount"}),
                  handled=frozenset({"batch"}), older_only=frozenset({"package", "isBrand", "isOverTheCounter",
                                                                      "image"}),
                  down=_down_stu3, up=_up_stu3),
    "DSTU2": Older(missing=frozenset({"identifier", "amount", "status"}),
                   handled=frozenset({"form", "ingredient", "batch"}),
                   older_only=frozenset({"product", "package", "isBrand"}), down=_down_dstu2, up=_up_dstu2),
})
