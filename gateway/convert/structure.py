"""The engine under every resource map: an R4 resource's elements, and how an older version differs.

A resource module declares its R4 elements once (:class:`ResourceMap`: name -> type, ``*`` for 0..*,
a tuple for a choice ``[x]``, a :class:`Backbone` for a nested element) and, per older version, an
:class:`Older`: elements it names differently, elements it lacks, single where R4 repeats, choice
types it allows, and two small functions for what changes meaning (a code that became a
CodeableConcept, a reference that moved). A resource is converted with that map the way HL7's
StructureMaps (hl7.org/fhir/R4/r3maps.html) and HAPI's ``VersionConvertor_30_40`` / ``_10_40`` convert
it: element by element, datatypes converted on the way (:mod:`.datatypes`). What each JSON key becomes is
worked out once per map and direction (:func:`resource_plan`: a :class:`Plan` of key -> :class:`Step` per
level), so converting a resource is one dictionary lookup per key.

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

from gateway.convert.datatype_tables import COMPLEX, JSON, PRIMITIVES
from gateway.convert.datatypes import Converter, choice_key, choice_type, value_type_in

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


# -- plans: what each JSON key of the source becomes, worked out once per map and direction ------------------

AS_IS, FIRST, LIST = 0, 1, 2
"""Shapes of a step's value: as it is; the first of a list (single in the target); wrapped in a list."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one JSON key of the source becomes in the target."""

    key: str
    """The target's key (for a carried element: the cross-version extension's ``value[x]`` key)."""
    convert: Callable[[Any], Any] | None = None
    """The converter of the value (one or a list; see ``Converter.converter_of``); None: its JSON stays."""
    shape: int = AS_IS
    nested: Plan | None = None
    """The plan of a backbone element's own elements."""
    carry: str | None = None
    """For an element the target lacks: the URL of the cross-version extension that carries it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One level of a resource (the resource itself or a backbone element): source JSON key -> step.

    A key without a step is left out: an element of neither version, one the map's own ``down``/``up``
    functions convert, or one of the source's version only.
    """

    steps: Mapping[str, Step]
    restore: Restore | None = None
    """Older -> R4 only: the cross-version extensions of this level to read back into R4 elements."""
    plain: Mapping[str, tuple[str, Callable[[Any], Any] | None]] = field(init=False)
    """The steps that only convert the value (most of them), as (target key, converter): the quick lane of
    :func:`fill`."""

    def __post_init__(self) -> None:
        plain = {key: (step.key, step.convert) for key, step in self.steps.items()
                 if step.shape == AS_IS and step.nested is None and step.carry is None}
        object.__setattr__(self, "plain", plain)


def fill(plan: Plan, src: JSON, tgt: JSON) -> None:
    """Convert ``src`` (one level) by ``plan`` into ``tgt``."""
    plain, steps = plan.plain, plan.steps
    carried: list[JSON] = []
    for key, value in src.items():
        quick = plain.get(key)
        if quick is not None:  # what _apply does for a step that only converts, without the call
            out, convert = quick
            if convert is not None:
                value = convert(value)
                if value is None:
                    continue
            tgt[out] = value
        elif key in steps:
            _apply(steps[key], value, tgt, carried)
    if carried:
        tgt["extension"] = [*tgt.get("extension", ()), *carried]
    if plan.restore is not None and "extension" in tgt:
        plan.restore.read_back(tgt)


def _apply(step: Step, value: Any, tgt: JSON, carried: list[JSON]) -> None:
    """One source element by its step: shaped, then nested, carried in an extension or converted."""
    if step.shape:
        value = _shaped(value, step.shape)
        if value is None:
            return
    if step.carry is not None:
        carried.extend(_carried(step, value))
        return
    if step.nested is not None:
        value = [build(step.nested, v) for v in value] if type(value) is list else build(step.nested, value)
    elif step.convert is not None:
        value = step.convert(value)
        if value is None:
            return
    tgt[step.key] = value


def build(plan: Plan, src: Any) -> JSON:
    """A new dict of ``src`` (one level) converted by ``plan`` (empty when ``src`` is not an object)."""
    tgt: JSON = {}
    if type(src) is dict:
        fill(plan, src, tgt)
    return tgt


def _shaped(value: Any, shape: int) -> Any:
    if shape == FIRST:
        return (value[0] if value else None) if type(value) is list else value
    return value if type(value) is list else [value]


def _carried(step: Step, value: Any) -> list[JSON]:
    """The cross-version extensions (R4 §2.5) of an element the target lacks, one per value."""
    convert = step.convert
    return [{"url": step.carry, step.key: item if convert is None else convert(item)}
            for item in (value if type(value) is list else [value])]


@dataclass(frozen=True)
class Restore:
    """Older -> R4: R4 elements carried in cross-version extensions (by :func:`_carried`) read back into place."""

    stem: str
    """``http://hl7.org/fhir/4.0/StructureDefinition/extension-<Type>.<path>.`` of this level."""
    elements: Elements
    conv: Converter

    def read_back(self, tgt: JSON) -> None:
        """Move the extensions of ``tgt`` that carry one of this level's elements into that element."""
        kept = []
        for extension in tgt["extension"]:
            url = extension.get("url")
            carried = isinstance(url, str) and url.startswith(self.stem)
            name = url[len(self.stem):].removesuffix("[x]") if carried else ""
            kind = self.elements.get(name) if name and "." not in name else None
            if kind is None or isinstance(kind, Backbone):
                kept.append(extension)
                continue
            self._read_one(name, kind, extension, tgt)
        if kept:
            tgt["extension"] = kept
        else:
            del tgt["extension"]

    def _read_one(self, name: str, kind: str | tuple[str, ...], extension: JSON, tgt: JSON) -> None:
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
            tgt[name] = [*tgt.get(name, ()), restored]
        else:
            tgt[name] = restored


def _base_steps(conv: Converter, root: bool) -> dict[str, Step]:
    """Every element's ``id`` and extensions; a resource's ``meta``, ``implicitRules``, ``language``, ``text``
    (R4 §2.36 Resource, DomainResource; contained resources are converted by the registry)."""
    steps = {"id": Step("id"), "extension": Step("extension", conv.extensions),
             "modifierExtension": Step("modifierExtension", conv.extensions)}
    if root:
        steps.update(meta=Step("meta", conv.converter_of("Meta")), text=Step("text", conv.converter_of("Narrative")))
        for key in ("implicitRules", "language"):
            _add(steps, key, key, "code", AS_IS, conv)
    return steps


def _add(steps: dict[str, Step], key: str, out: str, kind: str, shape: int, conv: Converter) -> None:
    """The step of an element of type ``kind`` (and of its ``_`` sibling when it is a primitive)."""
    steps[key] = Step(out, conv.converter_of(kind), shape)
    if kind in PRIMITIVES:
        steps["_" + key] = Step("_" + out, conv.primitive_element, shape)


class _Planner:
    def __init__(self, rmap: ResourceMap, older: Older, conv: Converter) -> None:
        self.rmap, self.older, self.conv = rmap, older, conv

    def level(self, elements: Elements, prefix: str) -> Plan:
        raise NotImplementedError


class _DownPlanner(_Planner):
    """R4 -> older: R4 keys; renamed, first of, carried in extensions, or dropped as ``Older`` says."""

    def level(self, elements: Elements, prefix: str) -> Plan:
        older = self.older
        steps = _base_steps(self.conv, root=not prefix)
        for name, kind in elements.items():
            path = prefix + name
            if path in older.handled:
                continue
            if isinstance(kind, Backbone):
                if path not in older.missing:  # a missing backbone has no extension to carry it: dropped
                    steps[name] = Step(older.renamed.get(path, name), shape=FIRST if path in older.single else AS_IS,
                                       nested=self.level(kind.elements, path + "."))
            elif isinstance(kind, tuple):
                for option in kind:
                    self._element(steps, path, name, option, choice=True)
            else:
                self._element(steps, path, name, kind.rstrip("*"), choice=False)
        return Plan(steps)

    def _element(self, steps: dict[str, Step], path: str, name: str, kind: str, choice: bool) -> None:
        conv, older = self.conv, self.older
        key = choice_key(name, kind) if choice else name
        if path in older.missing:
            carried = value_type_in(conv.target, kind)
            if carried is not None:  # else the older version has no type for it: dropped
                url = f"{XVER_R4}{self.rmap.resource_type}.{path}{'[x]' if choice else ''}"
                steps[key] = Step(choice_key("value", carried), conv.converter_of(kind), carry=url)
            return
        out = older.renamed.get(path, name)
        if choice:
            allowed = older.choices.get(path)
            new_kind = value_type_in(conv.target, kind, frozenset(allowed)) if allowed else kind
            if new_kind is None:
                return
            out = choice_key(out, new_kind)
        _add(steps, key, out, kind, FIRST if path in older.single else AS_IS, conv)


class _UpPlanner(_Planner):
    """Older -> R4: the older version's keys back to R4's; cross-version extensions read back."""

    def level(self, elements: Elements, prefix: str) -> Plan:
        older, conv = self.older, self.conv
        steps = _base_steps(conv, root=not prefix)
        for name, kind in elements.items():
            path = prefix + name
            if path in older.handled or path in older.missing:
                continue
            older_name = older.renamed.get(path, name)
            if isinstance(kind, tuple):
                for option, r4_option in self._choice_types(path, kind):
                    _add(steps, choice_key(older_name, option), choice_key(name, r4_option), r4_option, AS_IS, conv)
                continue
            if prefix + older_name in older.older_only:
                continue  # the map's ``up`` reads it
            repeats = kind.repeats if isinstance(kind, Backbone) else kind.endswith("*")
            shape = LIST if repeats or path in older.single else AS_IS
            if isinstance(kind, Backbone):
                steps[older_name] = Step(name, shape=shape, nested=self.level(kind.elements, path + "."))
            else:
                _add(steps, older_name, name, kind.rstrip("*"), shape, conv)
        return Plan(steps, Restore(f"{XVER_R4}{self.rmap.resource_type}.{prefix}", elements, conv))

    def _choice_types(self, path: str, r4_options: tuple[str, ...]) -> list[tuple[str, str]]:
        """(older type, R4 type) of a choice: a type R4 lacks is the R4 type it stands for (DSTU2
        ``onsetQuantity``: ``onsetAge``); one with no R4 type is dropped."""
        found = []
        for option in dict.fromkeys((*r4_options, *self.older.choices.get(path, ()))):
            r4 = option if option in r4_options else next(
                (o for o in r4_options if value_type_in(self.conv.older, o, frozenset({option})) == option), None)
            if r4 is not None:
                found.append((option, r4))
        return found


@dataclass(frozen=True, slots=True)
class ResourcePlan:
    """A resource map in one direction: the target's type name, the plan of its elements, the map's function."""

    resource_type: str
    plan: Plan
    finish: Special
    """``Older.down`` or ``Older.up``: what the map converts itself, after the plan."""
    conv: Converter

    def convert(self, src: JSON) -> JSON:
        """``src`` (a resource of ``conv.source``) as a new resource of ``conv.target``."""
        tgt: JSON = {"resourceType": self.resource_type}
        fill(self.plan, src, tgt)
        self.finish(src, tgt, self.conv)
        return tgt


_PLANS: dict[tuple[str, str, str], ResourcePlan] = {}


def resource_plan(rmap: ResourceMap, conv: Converter) -> ResourcePlan:
    """``rmap`` in ``conv``'s direction (R4 -> older: :class:`_DownPlanner`, else :class:`_UpPlanner`), worked out
    on first use."""
    key = (rmap.resource_type, conv.source, conv.target)
    found = _PLANS.get(key)
    if found is None:
        older = rmap.older[conv.older]
        if conv.up:
            plan = _UpPlanner(rmap, older, conv).level(rmap.elements, "")
            found = ResourcePlan(rmap.resource_type, plan, older.up, conv)
        else:
            plan = _DownPlanner(rmap, older, conv).level(rmap.elements, "")
            found = ResourcePlan(rmap.name_in(conv.target), plan, older.down, conv)
        _PLANS[key] = found
    return found
