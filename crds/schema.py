"""Convert the pydantic models into structural OpenAPI v3 schemas for CustomResourceDefinitions.

pydantic's own `model_json_schema()` is the wrong tool: it emits `$ref`, `anyOf` for optional fields and
`title` noise, none of which a structural schema (apiextensions.k8s.io/v1) allows. This module walks the model
fields instead and emits, for every node, exactly what the API server needs: a `type` (or int-or-string, or
preserve-unknown-fields), a `description`, constraints, defaults, list and map semantics, and CEL rules.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Iterable, Iterator
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from crds.common import (
    ApiModel,
    CelRule,
    Format,
    Immutable,
    IntOrString,
    KindInfo,
    ListType,
    PreserveUnknownFields,
    RequiredBy,
    SchemaRequired,
)

Schema = dict[str, Any]

# The order keys appear in within one schema node; anything else is a programming error.
_KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "anyOf",
    "items",
    "properties",
    "additionalProperties",
    "required",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
)
_KEY_RANK = {key: rank for rank, key in enumerate(_KEY_ORDER)}


class SchemaError(TypeError):
    """A model cannot be expressed as a structural schema (a bug in the API package, caught at generation)."""


def _ordered(node: Schema) -> Schema:
    unknown = set(node) - set(_KEY_RANK)
    if unknown:
        raise SchemaError(f"unexpected schema keys {sorted(unknown)}")
    return {key: node[key] for key in sorted(node, key=_KEY_RANK.__getitem__)}


def _expand_hints(hints: Iterable[Any]) -> Iterator[Any]:
    """Flatten `FieldInfo` objects used inside `Annotated` into their constraint metadata."""
    for hint in hints:
        if isinstance(hint, FieldInfo):
            yield from _expand_hints(hint.metadata)
        else:
            yield hint


def _rule_node(rule: CelRule) -> Schema:
    node: Schema = {"rule": rule.rule, "message": rule.message}
    if rule.message_expression:
        node["messageExpression"] = rule.message_expression
    if rule.field_path:
        node["fieldPath"] = rule.field_path
    if rule.reason:
        node["reason"] = rule.reason
    return node


def plain_default(value: Any) -> Any:
    """A model default as JSON: nested models shrink to what differs from their own defaults."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, list):
        return [plain_default(item) for item in value]
    if isinstance(value, dict):
        return {key: plain_default(item) for key, item in value.items()}
    return value


def field_default(info: FieldInfo) -> Any:
    """The schema default of a field, or `PydanticUndefined` when there is none (None counts as none)."""
    value = info.get_default(call_default_factory=True, validated_data={})
    if value is PydanticUndefined or value is None:
        return PydanticUndefined
    return plain_default(value)


def _describe_default(description: str, default: Any) -> str:
    if default is PydanticUndefined or "Defaults to" in description:
        return description
    if default == {}:
        return f"{description} Defaults to an empty object, so the defaults of its fields apply."
    return f"{description} Defaults to {json.dumps(default)}."


def _scalar(tp: Any) -> Schema | None:
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    return None


def type_schema(tp: Any, hints: tuple[Any, ...], path: str) -> Schema:
    """The schema of one Python type annotation, with the hints found around it."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(tp)
        return type_schema(base, (*metadata, *hints), path)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if any(isinstance(hint, IntOrString) for hint in hints):
            return _apply_hints({"x-kubernetes-int-or-string": True}, hints, path)
        if len(members) != 1:
            raise SchemaError(f"{path}: unions other than `X | None` are not structural")
        return type_schema(members[0], hints, path)
    node = _scalar(tp)
    if node is None:
        if origin is typing.Literal:
            values = typing.get_args(tp)
            if not all(isinstance(value, str) for value in values):
                raise SchemaError(f"{path}: only string enums are supported")
            node = {"type": "string", "enum": list(values)}
        elif origin is list:
            (item,) = typing.get_args(tp)
            node = {"type": "array", "items": type_schema(item, (), f"{path}[]")}
        elif origin is dict:
            key, value = typing.get_args(tp)
            if key is not str:
                raise SchemaError(f"{path}: map keys must be strings")
            if any(isinstance(hint, PreserveUnknownFields) for hint in hints):
                node = {"type": "object"}
            else:
                node = {"type": "object", "additionalProperties": type_schema(value, (), f"{path}[]")}
        elif isinstance(tp, type) and issubclass(tp, ApiModel):
            node = object_schema(tp, path)
        else:
            raise SchemaError(f"{path}: unsupported type {tp!r}")
    return _apply_hints(node, hints, path)


def _apply_hints(node: Schema, hints: tuple[Any, ...], path: str) -> Schema:
    node = dict(node)
    kind = node.get("type")
    sizes = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems")}
    low_key, high_key = sizes.get(kind or "", ("minProperties", "maxProperties"))
    expanded = tuple(_expand_hints(hints))
    for hint in expanded:
        if isinstance(hint, Format):
            node["format"] = hint.name
        elif isinstance(hint, IntOrString):
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            node["x-kubernetes-int-or-string"] = True
            if hint.pattern:
                node["pattern"] = hint.pattern
            if hint.minimum is not None:
                node["minimum"] = hint.minimum
        elif isinstance(hint, PreserveUnknownFields):
            node["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(hint, ListType):
            node["x-kubernetes-list-type"] = hint.kind
            if hint.keys:
                node["x-kubernetes-list-map-keys"] = list(hint.keys)
        elif isinstance(hint, annotated_types.MinLen):
            node[low_key] = hint.min_length
        elif isinstance(hint, annotated_types.MaxLen):
            node[high_key] = hint.max_length
        elif isinstance(hint, annotated_types.Ge):
            node["minimum"] = hint.ge
        elif isinstance(hint, annotated_types.Le):
            node["maximum"] = hint.le
        elif isinstance(hint, annotated_types.Gt | annotated_types.Lt):
            raise SchemaError(f"{path}: use ge/le, exclusive bounds are not used in this API")
        elif getattr(hint, "pattern", None):
            node["pattern"] = hint.pattern
    if any(isinstance(hint, Immutable) for hint in expanded):
        if "enum" in node and "maxLength" not in node:
            # The CEL cost estimator ignores enums: bound the length so the rule's cost is known.
            node["maxLength"] = max(len(value) for value in node["enum"])
        node.setdefault("x-kubernetes-validations", []).append(_immutable_rule(node, path))
    return _ordered(node)


def _immutable_rule(node: Schema, path: str) -> Schema:
    """The transition rule of an immutable field; strings name the old and new value in the message."""
    if node.get("type") != "string":
        return _rule_node(CelRule("self == oldSelf", f"{path} is immutable"))
    if "maxLength" not in node:
        raise SchemaError(f"{path}: an immutable string needs maxLength to bound the CEL cost")
    expression = f"'{path} is immutable: it was \"' + oldSelf + '\", now \"' + self + '\"'"
    return _rule_node(CelRule("self == oldSelf", f"{path} is immutable", message_expression=expression))


def _hints_of(info: FieldInfo) -> tuple[Any, ...]:
    return tuple(_expand_hints(info.metadata))


def wire_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


def object_schema(model: type[ApiModel], path: str) -> Schema:
    """The schema of an object model: properties (sorted by wire name), required, rules, semantics."""
    properties: dict[str, Schema] = {}
    required: list[str] = []
    rules: list[Schema] = []
    for name, info in model.model_fields.items():
        wire = wire_name(name, info)
        hints = _hints_of(info)
        properties[wire] = field_schema(info, f"{path}.{wire}" if path else wire)
        required_by = next((hint for hint in hints if isinstance(hint, RequiredBy)), None)
        if required_by is not None:
            check = f"has(self.{wire})"
            if properties[wire].get("type") == "string" and properties[wire].get("minLength", 0) > 0:
                check += f" && size(self.{wire}) > 0"
            rules.append(_rule_node(CelRule(check, required_by.message, f".{wire}", "FieldValueRequired")))
        elif info.is_required() or any(isinstance(hint, SchemaRequired) for hint in hints):
            required.append(wire)
    rules.extend(_rule_node(rule) for rule in model.cel_rules)
    node: Schema = {"type": "object", "properties": dict(sorted(properties.items()))}
    if required:
        node["required"] = sorted(required)
    if model.preserve_unknown_fields:
        node["x-kubernetes-preserve-unknown-fields"] = True
    if model.map_type:
        node["x-kubernetes-map-type"] = model.map_type
    if rules:
        node["x-kubernetes-validations"] = rules
    return _ordered(node)


def field_schema(info: FieldInfo, path: str) -> Schema:
    """The schema of one field: its type's schema plus description and default."""
    if not info.description:
        raise SchemaError(f"{path}: every field needs a description")
    node = type_schema(info.annotation, _hints_of(info), path)
    default = field_default(info)
    node["description"] = _describe_default(info.description, default)
    if default is not PydanticUndefined:
        node["default"] = default
    return _ordered(node)


@functools.cache
def kind_schema(info: KindInfo) -> Schema:
    """The `openAPIV3Schema` of a kind (cached: the models are immutable after import)."""
    model = info.model
    fields = model.model_fields
    properties: dict[str, Schema] = {
        "apiVersion": field_schema(fields["api_version"], "apiVersion"),
        "kind": field_schema(fields["kind"], "kind"),
        # The API server owns metadata validation; a CRD may only say it is an object.
        "metadata": {"type": "object"},
        "spec": field_schema(fields["spec"], "spec"),
        "status": field_schema(fields["status"], "status"),
    }
    node: Schema = {"description": info.description, "type": "object", "properties": properties}
    if info.spec_required:
        node["required"] = ["spec"]
    return _ordered(node)


def schema_at(root: Schema, path: Iterable[str | int]) -> Schema | None:
    """The schema node describing the value at `path` (object keys and list indices), if the schema has one."""
    node: Schema | None = root
    for step in path:
        if node is None:
            return None
        if isinstance(step, int):
            node = node.get("items")
        elif step in node.get("properties", {}):
            node = node["properties"][step]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    return node


def validations(info: KindInfo) -> list[tuple[str, Schema]]:
    """Every CEL rule of a kind as (path of the object it is attached to, rule), in schema order."""
    found: list[tuple[str, Schema]] = []

    def walk(node: Schema, path: str) -> None:
        for rule in node.get("x-kubernetes-validations", ()):
            found.append((path, rule))
        for key, child in node.get("properties", {}).items():
            walk(child, f"{path}.{key}" if path else key)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}[*]")

    walk(kind_schema(info), "")
    return found
