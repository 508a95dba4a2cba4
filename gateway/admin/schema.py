"""A small JSON Schema (2020-12 subset) validator for the admin API's request bodies.

The OpenAPI document (``gateway.admin.openapi``) is the single source of truth:
handlers validate bodies against its component schemas with :func:`validate`.
Supported keywords: ``$ref`` (local), ``type``, ``properties``, ``required``,
``additionalProperties: false``, ``enum``, ``const``, ``minLength``,
``maxLength``, ``pattern``, ``format`` (``uuid``, ``uri``), ``minimum``,
``maximum``, ``exclusiveMinimum``, ``items``, ``minItems``, ``maxItems``,
``uniqueItems``, ``oneOf`` with a ``discriminator``, ``minProperties``.
Messages name the field and the rule, never the value (it may be a secret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway.admin.problems import FieldError
from gateway.stores.models import GUID

_TYPE_NAMES = {
    "object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "null",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float)
    return False


def _join(path: str, part: str | int) -> str:
    return f"{path}/{part}" if path else str(part)


class Validator:
    """Validates instances against schemas that may ``$ref`` into ``root`` (an OpenAPI document)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref}")
            node: Any = self._root
            for part in ref[2:].split("/"):
                node = node[part]
            schema = node
        return schema

    def validate(self, instance: Any, schema: Mapping[str, Any], path: str = "") -> list[FieldError]:
        errors: list[FieldError] = []
        self._check(instance, self.resolve(schema), path, errors)
        return errors

    def _check(self, value: Any, schema: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
        schema = self.resolve(schema)
        if "oneOf" in schema:
            self._one_of(value, schema, path, errors)
            return
        types = schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else list(types)
            if not any(_is_type(value, n) for n in names):
                wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
                errors.append(FieldError(path, f"must be {wanted}"))
                return
        if "const" in schema and value != schema["const"]:
            errors.append(FieldError(path, f"must be {schema['const']!r}"))
        if "enum" in schema and value not in schema["enum"]:
            errors.append(FieldError(path, "must be one of " + ", ".join(map(str, schema["enum"]))))
        if isinstance(value, str):
            self._string(value, schema, path, errors)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self._number(value, schema, path, errors)
        elif isinstance(value, list):
            self._array(value, schema, path, errors)
        elif isinstance(value, dict):
            self._object(value, schema, path, errors)

    def _string(self, value: str, schema: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(FieldError(path, f"must be at least {schema['minLength']} characters long"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(FieldError(path, f"must be at most {schema['maxLength']} characters long"))
        if "pattern" in schema and (not re.search(schema["pattern"], value)
                                    or (schema["pattern"].endswith("$") and value.endswith("\n"))):
            errors.append(FieldError(path, f"must match the pattern {schema['pattern']}"))
        fmt = schema.get("format")
        if fmt == "uuid" and not GUID.fullmatch(value):
            errors.append(FieldError(path, "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"))
        elif fmt == "uri":
            try:
                parts = urlsplit(value)
                ok = parts.scheme in ("http", "https") and bool(parts.hostname) and value.isprintable() \
                    and " " not in value
                parts.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                ok = False
            if not ok:
                errors.append(FieldError(path, "must be an absolute http(s) URL"))

    def _number(self, value: float, schema: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(FieldError(path, f"must be at least {schema['minimum']}"))
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(FieldError(path, f"must be greater than {schema['exclusiveMinimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(FieldError(path, f"must be at most {schema['maximum']}"))

    def _array(self, value: list[Any], schema: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(FieldError(path, f"must have at least {schema['minItems']} item(s)"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(FieldError(path, f"must have at most {schema['maxItems']} items"))
        if schema.get("uniqueItems"):
            seen: list[Any] = []
            for item in value:
                if item in seen:
                    errors.append(FieldError(path, "must not repeat items"))
                    break
                seen.append(item)
        if "items" in schema:
            for index, item in enumerate(value):
                self._check(item, schema["items"], _join(path, index), errors)

    def _object(self, value: dict[str, Any], schema: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
        properties = schema.get("properties", {})
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            errors.append(FieldError(path, f"must have at least {schema['minProperties']} field(s)"))
        for name in schema.get("required", ()):
            if name not in value:
                errors.append(FieldError(_join(path, name), "is required"))
        for name, item in value.items():
            if name in properties:
                prop = self.resolve(properties[name])
                if prop.get("readOnly"):
                    errors.append(FieldError(_join(path, name), "is read-only"))
                else:
                    self._check(item, prop, _join(path, name), errors)
            elif schema.get("additionalProperties") is False:
                errors.append(FieldError(_join(path, name), "is not a known field"))

    def _one_of(self, value: Any, schema: Mapping[str, Any], path: str, errors: list[FieldError]) -> None:
        discriminator = schema.get("discriminator", {})
        prop = discriminator.get("propertyName")
        mapping = discriminator.get("mapping", {})
        if not prop:
            raise ValueError("oneOf without discriminator is not supported")
        if not isinstance(value, dict):
            errors.append(FieldError(path, "must be an object"))
            return
        kind = value.get(prop)
        if not isinstance(kind, str) or kind not in mapping:
            errors.append(FieldError(_join(path, prop), "must be one of " + ", ".join(mapping)))
            return
        self._check(value, {"$ref": mapping[kind]}, path, errors)
