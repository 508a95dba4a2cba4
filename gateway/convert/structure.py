"""The engine under every resource map: an R4 resource's elements, and how an older version differs.

A resource module declares its R4 elements once (:class:`ResourceMap`: name -> type, ``*`` for 0..*,
a tuple for a choice ``[x]``, a :class:`Backbone` for a nested element) and, per older version, an
:class:`Older`: elements it names differently, elements it lacks, single where R4 repeats, choice
types it allows, and two small functions for what changes meaning (a code that became a
CodeableConcept, a reference that moved). :func:`down` and :func:`up` walk a resource with that map,
the way HL7's StructureMaps (hl7.org/fhir/R4/r3maps.html) and HAPI's ``VersionConvertor_30_40`` /
``_10_40`` walk it: element by element, datatypes converted on the way (:mod:`.datatypes`).

An R4 element the older version lacks travels in HL7's cross-version extension
(R4 §2.5 "Extensions for representing elements from other versions":
``http://hl7.org/fhir/4.0/StructureDefinition/extension-<Type>.<path>``) on its parent element when its
type exists in the older version, and is read back from there by :func:`up`; otherwise it is dropped.
Elements of the older version that R4 lacks are dropped on the way up unless ``Older.up`` reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.convert.datatypes import (
    COMPLEX,
    JSON,
    PRIMITIVES,
    Converter,
    choice_key,
    choice_type,
    value_type_in,
)

XVER_R4 = "http://hl7.org/fhir/4.0/StructureDefinition/extension-"


@dataclass(frozen=True)
class Backbone:
    """A nested element (BackboneElement) and its own elements."""

    elements: Mapping[str, Element]
    repeats: bool = True


Element = str | tuple[str, ...] | Backbone
Elements = Mapping[str, Element]
Special = Callable[[JSON, JSON, Converter], None]


def _nothing(src: JSON, tgt: JSON, conv: Converter) -> None:
    return None


@dataclass(frozen=True)
class Older:
    """How one older version's resource differs from R4's (paths are dotted from the resource)."""

    renamed: Mapping[str, str] = field(default_factory=dict)
    """R4 path -> the older element's name (under the same parent)."""
    missing: frozenset[str] = frozenset()
    """R4 paths the older version lacks: cross-version extension when the type allows, else dropped."""
    single: frozenset[str] = frozenset()
    """R4 paths that repeat in R4 but not in the older version (the first is kept)."""
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """R4 path of a choice -> the types the older version allows."""
    handled: frozenset[str] = frozenset()
    """R4 paths that ``down``/``up`` convert themselves."""
    older_only: frozenset[str] = frozenset()
    """Paths of elements only the older version has; ``up`` reads what it can of them."""
    down: Special = _nothing
    """R4 -> older, after the walk: ``down(r4_source, older_target, converter)``."""
    up: Special = _nothing
    """Older -> R4, after the walk: ``up(older_source, r4_target, converter)``."""
    resource_type: str | None = None
    """The older version's name of the resource (``MedicationOrder``) when it differs."""


@dataclass(frozen=True)
class ResourceMap:
    """An R4 resource type's elements and how each older version differs."""

    resource_type: str
    elements: Mapping[str, Element]
    older: Mapping[str, Older]

    def name_in(self, version: str) -> str:
        found = self.older.get(version)
        return found.resource_type or self.resource_type if found is not None else self.resource_type


# -- keys of a map: element name, choice types -------------------------------------------------------------------

@dataclass(frozen=True)
class _Key:
    name: str
    kind: str | Backbone
    repeats: bool
    choice: bool


_KEYS: dict[int, dict[str, _Key]] = {}


def _keys(elements: Mapping[str, Element]) -> dict[str, _Key]:
    """JSON key -> element, with one key per type of each choice (``onsetDateTime`` ... ``onsetString``)."""
    found = _KEYS.get(id(elements))
    if found is not None:
        return found
    keys: dict[str, _Key] = {}
    for name, kind in elements.items():
        if isinstance(kind, tuple):
            for option in kind:
                keys[choice_key(name, option)] = _Key(name, option, False, True)
        elif isinstance(kind, Backbone):
            keys[name] = _Key(name, kind, kind.repeats, False)
        else:
            keys[name] = _Key(name, kind.rstrip("*"), kind.endswith("*"), False)
    _KEYS[id(elements)] = keys
    return keys


def _key_of(keys: Mapping[str, _Key], key: str, elements: Mapping[str, Element]) -> _Key | None:
    found = keys.get(key)
    if found is not None:
        return found
    for name, kind in elements.items():  # a choice type the map does not list (e.g. an older version's)
        if isinstance(kind, tuple):
            option = choice_type(key, name)
            if option is not None:
                return _Key(name, option, False, True)
    return None


# -- R4 -> older ---------------------------------------------------------------------------------------------------

class _Walker:
    """What both directions share: the map, the version's differences, the datatype converter."""

    def __init__(self, rmap: ResourceMap, older: Older, conv: Converter) -> None:
        self.rmap, self.older, self.conv = rmap, older, conv

    def walk(self, elements: Mapping[str, Element], src: JSON, tgt: JSON, prefix: str) -> None:
        raise NotImplementedError

    def _backbone(self, backbone: Backbone, value: Any, path: str) -> Any:
        if isinstance(value, list):
            return [self._backbone(backbone, item, path) for item in value]
        out: JSON = {}
        self.conv.element_base(value, out, backbone=True)
        self.walk(backbone.elements, value, out, path + ".")
        return out


class _Down(_Walker):

    def walk(self, elements: Mapping[str, Element], src: JSON, tgt: JSON, prefix: str) -> None:
        keys = _keys(elements)
        carried: list[JSON] = []
        for key, value in src.items():
            if key[0] == "_" or key in ("id", "extension", "modifierExtension", "resourceType"):
                continue
            element = _key_of(keys, key, elements)
            if element is None:
                continue
            path = prefix + element.name
            if path in self.older.handled:
                continue
            if path in self.older.missing:
                carried.extend(self._carry(path, element, key, value))
                continue
            self._copy(element, path, key, value, src, tgt)
        if carried:
            tgt.setdefault("extension", []).extend(carried)

    def _copy(self, element: _Key, path: str, key: str, value: Any, src: JSON, tgt: JSON) -> None:
        name = self.older.renamed.get(path, element.name)
        if path in self.older.single and isinstance(value, list):
            value = value[:1]
            if not value:
                return
            value = value[0]
            src = {}
        if isinstance(element.kind, Backbone):
            tgt[name] = self._backbone(element.kind, value, path)
            return
        kind = element.kind
        new_key = name
        if element.choice:
            allowed = self.older.choices.get(path)
            new_kind = value_type_in(self.conv.target, kind, frozenset(allowed)) if allowed else kind
            if new_kind is None:
                return
            new_key = choice_key(name, new_kind)
            tgt[new_key] = self.conv.value(kind, value, new_kind)
        else:
            tgt[new_key] = self.conv.value(kind, value)
        self.conv.primitive_extension(src, key, tgt, new_key)

    def _carry(self, path: str, element: _Key, key: str, value: Any) -> list[JSON]:
        """The cross-version extensions of an element the older version lacks (none when its type is absent)."""
        if isinstance(element.kind, Backbone):
            return []
        kind = element.kind
        target_kind = value_type_in(self.conv.target, kind)
        if target_kind is None:
            return []
        url = f"{XVER_R4}{self.rmap.resource_type}.{path}{'[x]' if element.choice else ''}"
        values = value if isinstance(value, list) else [value]
        return [{"url": url, choice_key("value", target_kind): self.conv.value(kind, item, target_kind)}
                for item in values]


def down(rmap: ResourceMap, src: JSON, conv: Converter) -> JSON:
    """An R4 resource in ``conv.target`` by ``rmap``."""
    older = rmap.older[conv.target]
    tgt: JSON = {"resourceType": rmap.name_in(conv.target)}
    resource_base(src, tgt, conv)
    _Down(rmap, older, conv).walk(rmap.elements, src, tgt, "")
    older.down(src, tgt, conv)
    return tgt


# -- older -> R4 ---------------------------------------------------------------------------------------------------

class _Up(_Walker):
    def __init__(self, rmap: ResourceMap, older: Older, conv: Converter) -> None:
        super().__init__(rmap, older, conv)
        self.renamed: dict[tuple[str, str], str] = {}
        for path, name in older.renamed.items():
            parent, _, r4_name = path.rpartition(".")
            self.renamed[(parent + "." if parent else "", name)] = r4_name

    def walk(self, elements: Mapping[str, Element], src: JSON, tgt: JSON, prefix: str) -> None:
        keys = _keys(elements)
        for key, value in src.items():
            if key[0] == "_" or key in ("id", "extension", "modifierExtension", "resourceType"):
                continue
            if prefix + key in self.older.older_only:
                continue
            r4_key = self.renamed.get((prefix, key), key)
            for stem, r4_stem in self.renamed.items():  # a renamed choice: medicationCodeableConcept ...
                if stem[0] == prefix and key.startswith(stem[1]) and key != stem[1] and key[len(stem[1])].isupper():
                    r4_key = r4_stem + key[len(stem[1]):]
            element = _key_of(keys, r4_key, elements)
            if element is None:
                continue
            path = prefix + element.name
            if path in self.older.handled or path in self.older.missing:
                continue
            if element.choice:
                element, r4_key = self._r4_choice(elements, element)
            self._copy(element, path, r4_key, key, value, src, tgt)
        self._restore(elements, src, tgt, prefix)

    def _r4_choice(self, elements: Mapping[str, Element], element: _Key) -> tuple[_Key, str]:
        """An older choice type R4 lacks as the R4 type it stands for (DSTU2 ``onsetQuantity``: ``onsetAge``)."""
        options = elements[element.name]
        kind = str(element.kind)
        if isinstance(options, tuple) and kind not in options:
            kind = next((o for o in options if value_type_in(self.conv.older, o, frozenset({kind})) == kind), kind)
        return _Key(element.name, kind, False, True), choice_key(element.name, kind)

    def _copy(self, element: _Key, path: str, r4_key: str, key: str, value: Any, src: JSON, tgt: JSON) -> None:
        repeats = element.repeats
        if path in self.older.single and not isinstance(value, list):
            value = [value]
            src = {}
        if isinstance(element.kind, Backbone):
            converted = self._backbone(element.kind, value, path)
        else:
            converted = self.conv.value(element.kind, value)
        if repeats and not isinstance(converted, list):
            converted = [converted]
        tgt[r4_key] = converted
        self.conv.primitive_extension(src, key, tgt, r4_key)

    def _restore(self, elements: Mapping[str, Element], src: JSON, tgt: JSON, prefix: str) -> None:
        """Read the cross-version extensions of R4 elements back into them (and out of ``extension``)."""
        extensions = tgt.get("extension")
        if not extensions:
            return
        stem = f"{XVER_R4}{self.rmap.resource_type}.{prefix}"
        kept = []
        for extension in extensions:
            url = extension.get("url", "")
            name = url[len(stem):].removesuffix("[x]") if url.startswith(stem) else ""
            kind = elements.get(name) if name and "." not in name else None
            if kind is None or isinstance(kind, Backbone):
                kept.append(extension)
                continue
            self._restore_one(name, kind, extension, tgt)
        if kept:
            tgt["extension"] = kept
        else:
            del tgt["extension"]

    def _restore_one(self, name: str, kind: str | tuple[str, ...], extension: JSON, tgt: JSON) -> None:
        key, value = next(((k, v) for k, v in extension.items() if k.startswith("value")), ("", None))
        carried = choice_type(key, "value") if key else None
        if carried is None:
            return
        if isinstance(kind, tuple):
            original = next((option for option in kind if value_type_in(self.conv.older, option) == carried
                             or option == carried), carried)
            tgt[choice_key(name, original)] = value
            return
        plain = kind.rstrip("*")
        restored = value if plain in PRIMITIVES or plain not in COMPLEX else self.conv.value(plain, value)
        if kind.endswith("*"):
            tgt.setdefault(name, []).append(restored)
        else:
            tgt[name] = restored


def up(rmap: ResourceMap, src: JSON, conv: Converter) -> JSON:
    """An older version's resource (``conv.source``) in R4 by ``rmap``."""
    older = rmap.older[conv.source]
    tgt: JSON = {"resourceType": rmap.resource_type}
    resource_base(src, tgt, conv)
    _Up(rmap, older, conv).walk(rmap.elements, src, tgt, "")
    older.up(src, tgt, conv)
    return tgt


# -- Resource and DomainResource --------------------------------------------------------------------------------

_BASE_TYPES = {"meta": "Meta", "implicitRules": "uri", "language": "code", "text": "Narrative"}


def resource_base(src: JSON, tgt: JSON, conv: Converter) -> None:
    """``id``, ``meta``, ``implicitRules``, ``language``, ``text``, extensions (R4 §2.36 Resource, DomainResource).

    Contained resources are converted by the caller's registry (:func:`gateway.convert.resources.convert_contained`).
    """
    if "id" in src:
        tgt["id"] = src["id"]
    for key, kind in _BASE_TYPES.items():
        if key in src:
            tgt[key] = conv.value(kind, src[key])
            conv.primitive_extension(src, key, tgt, key)
    conv.element_base(src, tgt, backbone=True)
