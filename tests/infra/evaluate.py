"""Deploys infra/*.bicep on paper: what Resource Manager would create for given parameters.

Bicep cannot be compiled here, so the tests evaluate the templates themselves, parsed with the tree-sitter
Bicep grammar: parameters (with their decorators' bounds), variables, conditions, loops, modules (recursively,
with their scopes), nested and extension resources, outputs and the template functions the project uses.
``fail()`` raises :class:`DeploymentFailed`, as the deployment would. What only Azure knows (a storage account's
endpoints, an identity's principal id, a module output built from them) is an :class:`Unknown` that carries
its origin (``storage.properties.primaryEndpoints.blob``) and renders as ``$(...)`` inside strings.

    deployment = deploy(INFRA / "main.bicep", {"environmentName": "prod", "location": "westeurope", ...})
    vault = deployment.one("Microsoft.KeyVault/vaults")
    assert vault.properties["publicNetworkAccess"] == "Disabled"

Variables are evaluated eagerly, as Resource Manager validates a template, so a ``fail()`` in a variable that
a parameter combination reaches fails the deployment even when nothing reads the variable.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_bicep

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
SUBSCRIPTION_ID = "00000000-0000-0000-0000-0000000000aa"
TENANT_ID = "11111111-2222-3333-4444-555555555555"
ENVIRONMENT = {  # environment() in the public cloud
    "name": "AzureCloud",
    "authentication": {"loginEndpoint": "https://login.microsoftonline.com/"},
    "suffixes": {"storage": "core.windows.net", "keyvaultDns": ".vault.azure.net"},
}


class DeploymentFailed(Exception):
    """The deployment would fail: ``fail()``, a parameter out of its bounds, a reference to a skipped module."""


@dataclass(frozen=True)
class Unknown:
    """A value only Azure knows at deployment time."""

    path: str

    def __str__(self) -> str:
        return f"$({self.path})"


@dataclass
class Resource:
    """One deployed resource: full type (``Microsoft.Web/sites/config``), full name (``app/web``) and body."""

    file: str
    symbol: str
    type: str
    api_version: str
    name: str
    id: str
    body: dict[str, Any]
    scope: str | None = None  # the id of the resource an extension resource (role assignment, setting) applies to

    @property
    def properties(self) -> dict[str, Any]:
        return self.body.get("properties") or {}

    def __repr__(self) -> str:
        return f"<{self.type} {self.name} ({self.file}:{self.symbol})>"


@dataclass
class Deployment:
    file: str
    resources: list[Resource]
    outputs: dict[str, Any]
    modules: dict[str, list[Deployment]]

    def all_resources(self) -> Iterator[Resource]:
        yield from self.resources
        for deployments in self.modules.values():
            for child in deployments:
                yield from child.all_resources()

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.all_resources() if r.type.lower() == resource_type.lower()]

    def one(self, resource_type: str, where: Callable[[Resource], bool] | None = None) -> Resource:
        found = [r for r in self.of_type(resource_type) if where is None or where(r)]
        assert len(found) == 1, f"expected one {resource_type}, found {found}"
        return found[0]


# ---------------------------------------------------------------- parsing
def text(node: tree_sitter.Node) -> str:
    return node.text.decode("utf-8")


def named(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    return [c for c in node.children if c.is_named and c.type != "comment"]


@dataclass
class Declaration:
    kind: str  # param, var, resource, module, output
    name: str
    node: tree_sitter.Node  # the value (param default, var value, resource/module body, output value)
    decorators: dict[str, Any] = field(default_factory=dict)
    type_string: str = ""  # resource type@api or module path
    existing: bool = False
    param_type: str = ""


@dataclass
class Template:
    path: Path
    target_scope: str
    declarations: dict[str, Declaration]

    @classmethod
    def load(cls, path: Path) -> Template:
        tree = PARSER.parse(path.read_bytes())
        if tree.root_node.has_error:
            raise SyntaxError(f"{path}: not valid Bicep")
        declarations: dict[str, Declaration] = {}
        target_scope = "resourceGroup"
        pending: dict[str, Any] = {}
        for node in named(tree.root_node):
            if node.type == "decorators":
                pending = _decorators(node)
                continue
            if text(node).startswith("targetScope"):
                target_scope = _string_literal(named(node)[-1])
            declaration = _declaration(node, pending)
            pending = {}
            if declaration is not None:  # outputs have their own namespace: `output name` beside `param name`
                key = f"output:{declaration.name}" if declaration.kind == "output" else declaration.name
                declarations[key] = declaration
        return cls(path, target_scope, declarations)

    def of_kind(self, kind: str) -> list[Declaration]:
        return [d for d in self.declarations.values() if d.kind == kind]


def _string_literal(node: tree_sitter.Node) -> str:
    assert node.type == "string", node.type
    return "".join(text(c) for c in node.children if c.type == "string_content")


def _decorators(node: tree_sitter.Node) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for decorator in named(node):
        call = named(decorator)[0]
        if call.type != "call_expression":
            continue
        function, arguments = call.child_by_field_name("function"), call.child_by_field_name("arguments")
        args = named(arguments) if arguments is not None else []
        name = text(function)
        if name in ("minValue", "maxValue", "minLength", "maxLength"):
            found[name] = int(text(args[0]))
        elif name == "allowed":
            found[name] = [_literal(item) for item in named(args[0])]
        elif name == "description":
            found[name] = _string_literal(args[0])
    return found


def _literal(node: tree_sitter.Node) -> Any:
    if node.type == "string":
        return _string_literal(node)
    if node.type == "number":
        return int(text(node))
    raise ValueError(f"not a literal: {text(node)}")


def _declaration(node: tree_sitter.Node, decorators: dict[str, Any]) -> Declaration | None:
    parts = named(node)
    if node.type == "parameter_declaration":
        default = parts[2] if len(parts) > 2 else None
        return Declaration("param", text(parts[0]), default, decorators, param_type=text(parts[1]))  # type: ignore[arg-type]
    if node.type == "variable_declaration":
        return Declaration("var", text(parts[0]), parts[-1], decorators)
    if node.type in ("resource_declaration", "module_declaration"):
        kind = "resource" if node.type == "resource_declaration" else "module"
        existing = any(c.type == "existing" for c in node.children)
        return Declaration(kind, text(parts[0]), parts[-1], decorators, _string_literal(parts[1]), existing)
    if node.type == "output_declaration":
        return Declaration("output", text(parts[0]), parts[-1], decorators)
    return None


# ---------------------------------------------------------------- values and references
@dataclass
class ResourceRef:
    """A resource symbol in an expression: its id and name, and what its body declares."""

    symbol: str
    type: str
    api_version: str
    name: Any
    id: Any
    body: dict[str, Any]
    existing: bool
    children: dict[str, Any] = field(default_factory=dict)  # nested symbol -> ResourceRef | list

    def member(self, key: str) -> Any:
        if key in ("id", "name", "type"):
            return getattr(self, key)
        if key == "apiVersion":
            return self.api_version
        if key == "properties":
            return Properties(f"{self.label}.properties", {} if self.existing else self.body.get("properties") or {})
        if not self.existing and key in self.body:
            return self.body[key]
        return Unknown(f"{self.label}.{key}")

    @property
    def label(self) -> str:
        """How unknown values of this resource are named: its type and name (two identities stay apart)."""
        return f"{self.type.rsplit('/', 1)[-1]}:{to_string(self.name)}"


@dataclass
class Properties:
    """``resource.properties``: declared values, anything else (read from Azure) unknown."""

    path: str
    declared: dict[str, Any]

    def member(self, key: str) -> Any:
        return self.declared[key] if key in self.declared else Unknown(f"{self.path}.{key}")


@dataclass
class ModuleRef:
    symbol: str
    deployment: Deployment | None
    name: Any

    def member(self, key: str) -> Any:
        if self.deployment is None:
            raise DeploymentFailed(f"module {self.symbol} is not deployed (its condition is false) but is referenced")
        if key == "outputs":
            return self.deployment.outputs
        if key == "name":
            return self.name
        raise KeyError(key)


def _unknown_in(*values: Any) -> Unknown | None:
    return next((v for v in values if isinstance(v, Unknown)), None)


def to_string(value: Any) -> str:
    """ARM string(): booleans lower case, arrays and objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def unique_string(*parts: Any) -> str:
    digest = hashlib.sha256("|".join(to_string(p) for p in parts).encode()).hexdigest()
    return "".join("abcdefghijklmnopqrstuvwxyz234567"[int(digest[i:i + 2], 16) % 32] for i in range(0, 26, 2))


def deep_union(*objects: Any) -> Any:
    if all(isinstance(o, list) for o in objects):
        merged: list[Any] = []
        for items in objects:
            merged += [i for i in items if i not in merged]
        return merged
    result: dict[str, Any] = {}
    for obj in objects:
        for key, value in obj.items():
            result[key] = deep_union(result[key], value) if isinstance(value, dict) and isinstance(
                result.get(key), dict) else value
    return result


# ---------------------------------------------------------------- evaluation
class Scope:
    """The evaluation of one template for one set of parameters (a deployment, or a module's)."""

    def __init__(self, template: Template, params: dict[str, Any], resource_group: str, deployment_name: str) -> None:
        self.template = template
        root = next((p for p in template.path.parents if p.name == "infra"), template.path.parent)
        self.file = template.path.relative_to(root).as_posix()
        self.resource_group = resource_group
        self.deployment_name = deployment_name
        self.values: dict[str, Any] = {}
        self.resources: list[Resource] = []
        self.modules: dict[str, list[Deployment]] = {}
        self._evaluating: set[str] = set()
        self._bind_params(params)

    # -- parameters
    def _bind_params(self, given: dict[str, Any]) -> None:
        declared = {d.name: d for d in self.template.of_kind("param")}
        unknown = set(given) - set(declared)
        if unknown:
            raise DeploymentFailed(f"{self.template.path.name}: unknown parameters {sorted(unknown)}")
        for name, declaration in declared.items():
            if name in given:
                value = given[name]
            elif declaration.node is not None:
                value = self.eval(declaration.node, {})
            else:
                raise DeploymentFailed(f"{self.template.path.name}: parameter {name} is required")
            self._check_bounds(name, declaration, value)
            self.values[name] = value

    def _check_bounds(self, name: str, declaration: Declaration, value: Any) -> None:
        if isinstance(value, Unknown):
            return
        bounds = declaration.decorators
        problems = []
        if "allowed" in bounds and value not in bounds["allowed"]:
            problems.append(f"not one of {bounds['allowed']}")
        if "minValue" in bounds and value < bounds["minValue"]:
            problems.append(f"below {bounds['minValue']}")
        if "maxValue" in bounds and value > bounds["maxValue"]:
            problems.append(f"above {bounds['maxValue']}")
        if "minLength" in bounds and len(value) < bounds["minLength"]:
            problems.append(f"shorter than {bounds['minLength']}")
        if "maxLength" in bounds and len(value) > bounds["maxLength"]:
            problems.append(f"longer than {bounds['maxLength']}")
        if problems:
            raise DeploymentFailed(f"{self.template.path.name}: parameter {name}={value!r} is " + ", ".join(problems))

    # -- symbols
    def symbol(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        declaration = self.template.declarations.get(name)
        if declaration is None:
            raise NameError(f"{self.template.path.name}: unknown symbol {name}")
        if name in self._evaluating:
            raise RecursionError(f"{self.template.path.name}: {name} refers to itself")
        self._evaluating.add(name)
        try:
            if declaration.kind == "var":
                value = self.eval(declaration.node, {})
            elif declaration.kind == "resource":
                value = self._declare_resource(declaration, None)
            elif declaration.kind == "module":
                value = self._deploy_module(declaration)
            else:
                raise NameError(f"{name} is an {declaration.kind}")
        finally:
            self._evaluating.discard(name)
        self.values[name] = value
        return value

    def run(self) -> Deployment:
        for declaration in self.template.declarations.values():
            if declaration.kind in ("var", "resource", "module"):
                self.symbol(declaration.name)
        outputs = {}
        for declaration in self.template.of_kind("output"):
            try:
                outputs[declaration.name] = self.eval(declaration.node, {})
            except (TypeError, KeyError, NameError) as error:
                raise type(error)(f"{self.template.path.name}: output {declaration.name}: {error}") from error
        return Deployment(self.file, self.resources, outputs, self.modules)

    # -- resources
    def _declare_resource(self, declaration: Declaration, parent: ResourceRef | None,
                          locals_: dict[str, Any] | None = None) -> Any:
        type_name, _, api = declaration.type_string.partition("@")
        return self._each(declaration.node, locals_ or {}, lambda body, env: self._resource(
            declaration, type_name, api, body, env, parent))

    def _each(self, node: tree_sitter.Node, env: dict[str, Any],
              make: Callable[[tree_sitter.Node, dict[str, Any]], Any]) -> Any:
        """A declaration body: an object, ``if (cond) {...}`` or a loop of those. None where the condition is false."""
        if node.type == "for_statement":
            variable, index, source = self._loop_header(node, env)
            results = []
            for position, item in enumerate(self._iterable(source, env)):
                local = {**env, variable: item, **({index: position} if index else {})}
                results.append(self._each(node.child_by_field_name("body"), local, make))
            return results
        if node.type == "if_statement":
            condition, body = named(node)
            if not self._truth(self.eval(condition, env)):
                return None
            return make(body, env)
        return make(node, env)

    def _resource(self, declaration: Declaration, type_name: str, api: str, body_node: tree_sitter.Node,
                  env: dict[str, Any], parent: ResourceRef | None) -> ResourceRef:
        body, nested = self._object(body_node, env)
        parent = parent or (body.pop("parent", None) if isinstance(body.get("parent"), ResourceRef) else parent)
        body.pop("parent", None)
        scope = body.pop("scope", None)
        body.pop("dependsOn", None)
        full_type = f"{parent.type}/{type_name}" if parent is not None and "/" not in type_name else type_name
        name = body.get("name")
        full_name = f"{parent.name}/{name}" if parent is not None else name
        if isinstance(scope, ResourceRef):
            resource_id: Any = f"{scope.id}/providers/{full_type}/{full_name}"
        else:
            segments = full_type.split("/")
            names = to_string(full_name).split("/")
            path = "/".join(f"{t}/{n}" for t, n in zip(segments[1:], names, strict=False))
            resource_id = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{self.resource_group}/providers/"
                           f"{segments[0]}/{path}")
            if full_type == "Microsoft.Resources/resourceGroups":
                resource_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}"
        ref = ResourceRef(declaration.name, full_type, api or (parent.api_version if parent else ""), full_name,
                          resource_id, body, declaration.existing)
        if not declaration.existing:
            scope_id = scope.id if isinstance(scope, ResourceRef) else None
            self.resources.append(Resource(self.file, declaration.name, full_type, ref.api_version,
                                           to_string(full_name), to_string(resource_id), body, scope_id))
        for child in nested:
            ref.children[child.name] = self._declare_resource(child, ref, env)
        return ref

    def _object(self, node: tree_sitter.Node, env: dict[str, Any]) -> tuple[dict[str, Any], list[Declaration]]:
        """An object literal's entries, and the resources declared inside it (nested child resources)."""
        entries: dict[str, Any] = {}
        nested: list[Declaration] = []
        for prop in named(node):
            if prop.type != "object_property":
                continue
            parts = named(prop)
            if parts[0].type == "resource_declaration":
                nested.append(_declaration(parts[0], {}))  # type: ignore[arg-type]
                continue
            key = self._string(parts[0], env) if parts[0].type == "string" else text(parts[0])
            if key == "dependsOn":
                continue
            entries[key] = self.eval(parts[-1], env)
        return entries, nested

    # -- modules
    def _deploy_module(self, declaration: Declaration) -> Any:
        path = (self.template.path.parent / declaration.type_string).resolve()
        deployments = self.modules.setdefault(declaration.name, [])

        def deploy_one(body_node: tree_sitter.Node, env: dict[str, Any]) -> ModuleRef:
            body, _ = self._object(body_node, env)
            scope = body.get("scope")
            resource_group = self.resource_group
            if isinstance(scope, ResourceRef) and scope.type == "Microsoft.Resources/resourceGroups":
                resource_group = to_string(scope.name)
            elif isinstance(scope, dict) and "resourceGroupName" in scope:
                resource_group = to_string(scope["resourceGroupName"])
            child = Scope(Template.load(path), body.get("params") or {}, resource_group, to_string(body.get("name")))
            deployment = child.run()
            deployments.append(deployment)
            return ModuleRef(declaration.name, deployment, body.get("name"))

        result = self._each(declaration.node, {}, deploy_one)
        return ModuleRef(declaration.name, None, None) if result is None else result

    # -- expressions
    def eval(self, node: tree_sitter.Node, env: dict[str, Any]) -> Any:  # noqa: C901 - one branch per node type
        kind = node.type
        if kind == "string":
            return self._string(node, env)
        if kind == "number":
            return int(text(node))
        if kind == "boolean":
            return text(node) == "true"
        if kind == "null":
            return None
        if kind == "identifier":
            name = text(node)
            return env[name] if name in env else self.symbol(name)
        if kind == "parenthesized_expression":
            return self.eval(named(node)[0], env)
        if kind == "array":
            items = named(node)
            if any(text(item).startswith("(") and item.type == "member_expression" for item in items):
                # The grammar splits `f().x` on its own line of an array into `f` and `().x`.
                raise NotImplementedError(f"{self.template.path.name}: assign `{text(node)}` items to a variable")
            return [self.eval(item, env) for item in items]
        if kind == "object":
            return self._object(node, env)[0]
        if kind == "for_statement":
            variable, index, source = self._loop_header(node, env)
            items = []
            for position, item in enumerate(self._iterable(source, env)):
                local = {**env, variable: item, **({index: position} if index else {})}
                body = node.child_by_field_name("body")
                if body.type == "if_statement":
                    condition, value = named(body)
                    if not self._truth(self.eval(condition, local)):
                        continue
                    body = value
                items.append(self.eval(body, local))
            return items
        if kind in OPERATORS:
            return self._operation(normalize(node), env)
        if kind == "resource_expression":
            parent = self.eval(node.child_by_field_name("object"), env)
            return parent.children[text(node.child_by_field_name("resource"))]
        if kind == "call_expression":
            return self._call(node, env)
        if kind == "lambda_expression":
            return self._lambda(node, env)
        raise NotImplementedError(f"{self.template.path.name}: expression {kind}: {text(node)[:80]}")

    def _loop_header(self, node: tree_sitter.Node, env: dict[str, Any]) -> tuple[str, str | None, Any]:
        parameters = next((c for c in node.children if c.type == "for_loop_parameters"), None)
        if parameters is not None:
            variable = text(next(c for c in parameters.children if c.type == "loop_variable"))
            index = text(next(c for c in parameters.children if c.type == "loop_enumerator"))
        else:
            variable, index = text(node.child_by_field_name("initializer")), None
        source = named(node)[1 if parameters is None else 1]
        return variable, index, self.eval(source, env)

    def _iterable(self, source: Any, env: dict[str, Any]) -> list[Any]:
        if isinstance(source, Unknown):
            raise DeploymentFailed(f"cannot loop over a value only Azure knows: {source}")
        return list(source)

    def _string(self, node: tree_sitter.Node, env: dict[str, Any]) -> Any:
        pieces: list[Any] = []
        for child in node.children:
            if child.type == "string_content":
                pieces.append(text(child))
            elif child.type == "escape_sequence":
                pieces.append(ESCAPES[text(child)])
            elif child.type == "interpolation":
                pieces.append(to_string(self.eval(named(child)[0], env)))
        return "".join(pieces)

    def _truth(self, value: Any) -> bool:
        if isinstance(value, Unknown):
            raise DeploymentFailed(f"a condition depends on a value only Azure knows: {value}")
        return bool(value)

    def _operation(self, op: Op | tree_sitter.Node, env: dict[str, Any]) -> Any:
        if not isinstance(op, Op):
            return self.eval(op, env)
        if op.kind == "member":
            return self._member(self._operation(op.parts[0], env), op.operator, safe=op.safe)
        if op.kind == "subscript":
            obj, index = self._operation(op.parts[0], env), self._operation(op.parts[1], env)
            if isinstance(obj, Unknown) or isinstance(index, Unknown):
                return Unknown(f"{obj}[{index}]")
            return obj.member(index) if isinstance(obj, (ResourceRef, Properties)) else obj[index]
        if op.kind == "ternary":
            condition = self._truth(self._operation(op.parts[0], env))
            return self._operation(op.parts[1] if condition else op.parts[2], env)
        if op.kind == "unary":
            value = self._operation(op.parts[0], env)
            if isinstance(value, Unknown):
                return value
            return (not self._truth(value)) if op.operator == "!" else -value
        left = self._operation(op.parts[0], env)
        if op.operator == "&&":
            return self._truth(left) and self._truth(self._operation(op.parts[1], env))
        if op.operator == "||":
            return self._truth(left) or self._truth(self._operation(op.parts[1], env))
        if op.operator == "??":
            return left if left is not None else self._operation(op.parts[1], env)
        right = self._operation(op.parts[1], env)
        if _unknown_in(left, right):
            raise DeploymentFailed(f"comparison with a value only Azure knows: {left} {op.operator} {right}")
        return OPERATIONS[op.operator](left, right)

    def _member(self, obj: Any, key: str, *, safe: bool) -> Any:
        if isinstance(obj, Unknown):
            return Unknown(f"{obj.path}.{key}")
        if isinstance(obj, (ResourceRef, Properties, ModuleRef)):
            return obj.member(key)
        if obj is None and safe:
            return None
        if isinstance(obj, dict):
            if key in obj:
                return obj[key]
            if safe:
                return None
            raise KeyError(f"{key} not in {sorted(obj)}")
        raise TypeError(f"cannot read .{key} of {obj!r}")

    def _lambda(self, node: tree_sitter.Node, env: dict[str, Any]) -> Callable[..., Any]:
        head, body = named(node)[0], named(node)[-1]
        names = [text(n) for n in named(head)] if head.type == "parenthesized_expression" else [text(head)]
        return lambda *args: self.eval(body, {**env, **dict(zip(names, args, strict=True))})

    def _call(self, node: tree_sitter.Node, env: dict[str, Any]) -> Any:
        function = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        name = text(function)
        argument_nodes = named(arguments) if arguments is not None else []
        if name == "fail":
            raise DeploymentFailed(self.eval(argument_nodes[0], env))
        args = [self.eval(a, env) for a in argument_nodes]
        handler = FUNCTIONS.get(name)
        if handler is None:
            raise NotImplementedError(f"{self.template.path.name}: function {name}()")
        lazy = name in ("union", "concat", "filter", "map", "toObject", "string", "json", "coalesce", "any",
                        "resourceGroup", "resourceId", "subscriptionResourceId", "guid", "uniqueString")
        unknown = None if lazy else _unknown_in(*args)
        if unknown is not None:
            return Unknown(f"{name}({', '.join(to_string(a) for a in args)})")
        return handler(self, *args)


ESCAPES = {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}
OPERATORS = frozenset({"member_expression", "subscript_expression", "unary_expression", "binary_expression",
                       "ternary_expression"})
# Bicep's binary operators, loosest first (learn.microsoft.com, "Bicep operators", operator precedence).
PRECEDENCE = {op: level for level, ops in enumerate((("??",), ("||",), ("&&",), ("==", "!=", "=~", "!~"),
                                                     ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%")))
              for op in ops}


@dataclass
class Op:
    """An operator expression with Bicep's precedence. parts: operands (Op or tree-sitter nodes)."""

    kind: str  # member, subscript, unary, binary, ternary
    parts: tuple[Any, ...]
    operator: str = ""  # the property name of a member
    safe: bool = False  # `.?`


def normalize(node: Any) -> Any:
    """The operator tree of ``node``, repaired where the tree-sitter grammar gets Bicep's precedence wrong.

    The grammar binds a trailing `.x` or `[i]` to a whole ternary, unary or binary expression (`c ? a : b.x`
    parses as `(c ? a : b).x`, `!a.b` as `(!a).b`, `f || o.x == 5` as `((f || o).x) == 5`). Bicep binds member
    access tighter than any operator: the chain goes to the last operand, and a binary operator then finds a
    looser one as its left operand, which only the grammar's slip can produce (parentheses would show), so it is
    rotated back: `(a || b) == c` unparenthesised is `a || (b == c)`."""
    if not isinstance(node, tree_sitter.Node) or node.type not in OPERATORS:
        return node
    if node.type in ("member_expression", "subscript_expression"):
        base, chain = node, []
        while base.type in ("member_expression", "subscript_expression"):
            chain.append(base)
            base = base.child_by_field_name("object")
        return _attach(normalize(base), list(reversed(chain)))
    if node.type == "unary_expression":
        return Op("unary", (normalize(node.child_by_field_name("argument")),),
                  text(node.child_by_field_name("operator")))
    if node.type == "ternary_expression":
        return Op("ternary", tuple(normalize(node.child_by_field_name(f))
                                   for f in ("condition", "consequence", "alternative")))
    return _rebalance(Op("binary", (normalize(node.child_by_field_name("left")),
                                    normalize(node.child_by_field_name("right"))),
                         text(node.child_by_field_name("operator"))))


def _attach(base: Any, chain: list[tree_sitter.Node]) -> Any:
    if not chain:
        return base
    if isinstance(base, Op) and base.kind in ("unary", "binary", "ternary"):
        return _rebalance(Op(base.kind, (*base.parts[:-1], _attach(base.parts[-1], chain)), base.operator))
    step = chain[0]
    if step.type == "member_expression":
        wrapped = Op("member", (base,), text(step.child_by_field_name("property")),
                     safe=any(c.type == ".?" for c in step.children))
    else:
        wrapped = Op("subscript", (base, normalize(step.child_by_field_name("index"))))
    return _attach(wrapped, chain[1:])


def _rebalance(op: Op) -> Op:
    if op.kind != "binary":
        return op
    left = op.parts[0]
    if isinstance(left, Op) and left.kind == "ternary":
        return Op("ternary", (*left.parts[:2], _rebalance(Op("binary", (left.parts[2], op.parts[1]), op.operator))))
    if isinstance(left, Op) and left.kind == "binary" and PRECEDENCE[left.operator] < PRECEDENCE[op.operator]:
        return Op("binary", (left.parts[0], _rebalance(Op("binary", (left.parts[1], op.parts[1]), op.operator))),
                  left.operator)
    return op
OPERATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "=~": lambda a, b: a.lower() == b.lower(),
    "!~": lambda a, b: a.lower() != b.lower(), "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "+": lambda a, b: a + b, "-": lambda a, b: a - b,
    "*": lambda a, b: a * b, "/": lambda a, b: a // b, "%": lambda a, b: a % b}


def _resource_id(scope: Scope, prefix: str, resource_type: str, *names: Any) -> str:
    types = resource_type.split("/")
    path = "/".join(f"{t}/{to_string(n)}" for t, n in zip(types[1:], names, strict=True))
    return f"{prefix}/providers/{types[0]}/{path}"


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "empty": lambda s, v: v is None or len(v) == 0,
    "length": lambda s, v: len(v),
    "union": lambda s, *v: deep_union(*v),
    "concat": lambda s, *v: [x for part in v for x in part] if isinstance(v[0], list) else "".join(map(to_string, v)),
    "contains": lambda s, container, item: (item in container) if not isinstance(container, str) else item in container,
    "startsWith": lambda s, a, b: a.lower().startswith(b.lower()),
    "endsWith": lambda s, a, b: a.lower().endswith(b.lower()),
    "toLower": lambda s, v: v.lower(),
    "toUpper": lambda s, v: v.upper(),
    "take": lambda s, v, n: v[:n],
    "skip": lambda s, v, n: v[n:],
    "first": lambda s, v: v[0],
    "last": lambda s, v: v[-1],
    "split": lambda s, v, d: v.split(d),
    "trim": lambda s, v: v.strip(),
    "replace": lambda s, v, a, b: v.replace(a, b),
    "substring": lambda s, v, start, length=None: v[start:] if length is None else v[start:start + length],
    "indexOf": lambda s, v, part: v.lower().find(part.lower()) if isinstance(v, str) else v.index(part),
    "string": lambda s, v: v if isinstance(v, Unknown) else to_string(v),
    "int": lambda s, v: int(v),
    "bool": lambda s, v: v if isinstance(v, bool) else str(v).lower() == "true",
    "max": lambda s, *v: max(v[0]) if len(v) == 1 else max(v),
    "min": lambda s, *v: min(v[0]) if len(v) == 1 else min(v),
    "range": lambda s, start, count: list(range(start, start + count)),
    "filter": lambda s, items, keep: [i for i in items if keep(i)],
    "map": lambda s, items, f: [f(i) for i in items],
    "toObject": lambda s, items, key, value=None: {key(i): (value(i) if value else i) for i in items},
    "coalesce": lambda s, *v: next((x for x in v if x is not None), None),
    "any": lambda s, v: v,
    "json": lambda s, v: v if isinstance(v, Unknown) else json.loads(v),
    "uniqueString": lambda s, *v: unique_string(*v),
    "guid": lambda s, *v: str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(to_string(x) for x in v))),
    "environment": lambda s: ENVIRONMENT,
    "tenant": lambda s: {"tenantId": TENANT_ID},
    "subscription": lambda s: {"id": f"/subscriptions/{SUBSCRIPTION_ID}", "subscriptionId": SUBSCRIPTION_ID,
                               "tenantId": TENANT_ID},
    "resourceGroup": lambda s, *v: {
        "id": f"/subscriptions/{v[0] if len(v) == 2 else SUBSCRIPTION_ID}/resourceGroups/"
              f"{to_string(v[-1]) if v else s.resource_group}",
        "name": to_string(v[-1]) if v else s.resource_group, "resourceGroupName": to_string(v[-1]) if v else
        s.resource_group, "location": Unknown("resourceGroup().location")},
    "deployment": lambda s: {"name": s.deployment_name},
    "resourceId": lambda s, t, *n: _resource_id(
        s, f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{s.resource_group}", t, *n),
    "subscriptionResourceId": lambda s, t, *n: _resource_id(s, f"/subscriptions/{SUBSCRIPTION_ID}", t, *n),
    "loadTextContent": lambda s, p: (s.template.path.parent / p).read_text(encoding="utf-8"),
    "loadJsonContent": lambda s, p: json.loads((s.template.path.parent / p).read_text(encoding="utf-8")),
}


def deploy(path: Path, params: dict[str, Any], *, resource_group: str = "rg-test") -> Deployment:
    """What deploying ``path`` with ``params`` creates; raises DeploymentFailed where Azure would refuse."""
    template = Template.load(path)
    return Scope(template, params, resource_group, path.stem).run()


def arm_template(deployment: Deployment, suppressions: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The deployed resources as one flat ARM template (what checkov's ARM checks read).

    Values only Azure knows become their ``$(...)`` text. ``suppressions`` maps a resource id to checkov
    suppressions (``"CKV_AZURE_222: reason"``), written where checkov's ARM runner reads them (metadata.checkov)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, (Unknown, ResourceRef, Properties, ModuleRef)):
            return str(value)
        return value

    resources = []
    for resource in deployment.all_resources():
        entry = {"type": resource.type, "apiVersion": resource.api_version, "name": resource.name,
                 **plain({k: v for k, v in resource.body.items() if k != "name"})}
        if resource.scope:
            entry["scope"] = resource.scope
        if suppressions and resource.id in suppressions:
            entry["metadata"] = {"checkov": suppressions[resource.id]}
        resources.append(entry)
    return {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "resources": resources}
