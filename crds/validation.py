"""Typed access to served objects and field-level validation errors for admission messages.

`parse` turns a raw object into its typed model (chosen by apiVersion and kind). `validation_errors` reports
what the API server would refuse: schema violations (from pydantic, rephrased per field), the CEL rules that
have a Python twin, and, given the old object, changes to immutable fields. Rule violations carry the rule's
message verbatim, so admission, offline review and the API server say the same thing.
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from crds.common import ApiModel, CustomResource, Immutable, KindInfo
from crds.registry import KINDS, UnknownKindError, by_api_version
from crds.schema import Schema, kind_schema, schema_at, wire_name


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: where (`spec.availability`, `spec.env[0].name`) and what is wrong with it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidObjectError(ValueError):
    """`parse` was given an object its kind's schema rejects."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = tuple(errors)


def kind_of(raw: Any) -> KindInfo:
    """The served kind of a raw object, by apiVersion and kind; UnknownKindError otherwise."""
    api_version = raw.get("apiVersion") if isinstance(raw, dict) else None
    kind = raw.get("kind") if isinstance(raw, dict) else None
    info = by_api_version(str(api_version), str(kind))
    if info is None:
        raise UnknownKindError(f'kind "{kind}" of apiVersion "{api_version}" is not served by tenantgate')
    return info


def parse(raw: dict[str, Any]) -> CustomResource:
    """The typed model of a raw object (a fresh instance; the raw object is not modified).

    Defaults are filled in, unknown keys are kept as extras. Only the schema is checked (not CEL rules: use
    `validation_errors`). Raises UnknownKindError or InvalidObjectError.
    """
    info = kind_of(raw)
    try:
        return info.model.model_validate(raw)
    except ValidationError as error:
        raise InvalidObjectError(_field_errors(info, error)) from None


def validation_errors(raw: dict[str, Any], old: dict[str, Any] | None = None) -> list[FieldError]:
    """Everything the API server would refuse in `raw` (an update from `old` when given); empty when valid.

    Raises UnknownKindError for an object that is not of a served kind.
    """
    return validated(raw, old)[1]


def validated(raw: dict[str, Any], old: dict[str, Any] | None = None) -> tuple[CustomResource | None, list[FieldError]]:
    """The typed model of `raw` (None when its schema refuses it) and what the API server would refuse in it.

    One validation serves both, for callers that judge the model further (admission). Raises UnknownKindError.
    """
    info = kind_of(raw)
    try:
        obj = info.model.model_validate(raw)
    except ValidationError as error:
        return None, _field_errors(info, error)
    errors = list(_rule_errors(obj, ""))
    if old is not None:
        errors.extend(_transition_errors(info, obj, old))
    return obj, errors


# ---------------------------------------------------------------------------------------------------------------
# Schema errors


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _render_path(schema: Schema, loc: Sequence[str | int]) -> str:
    """`spec.env[0].name` style: properties dotted, list indices and map keys in brackets."""
    text = ""
    node: Schema | None = schema
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
            node = node.get("items") if node else None
            continue
        if node is not None and step not in node.get("properties", {}) and "additionalProperties" in node:
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
        node = schema_at(node, (step,)) if node is not None else None
    return text


def _required_by_message(schema: Schema, loc: Sequence[str | int]) -> str | None:
    """The verbatim message of the CEL rule that makes the field at `loc` required, if one does."""
    parent = schema_at(schema, loc[:-1])
    if parent is None:
        return None
    for rule in parent.get("x-kubernetes-validations", ()):
        if rule.get("reason") == "FieldValueRequired" and rule.get("fieldPath") == f".{loc[-1]}":
            message: str = rule["message"]
            return message
    return None


def _message(schema: Schema, error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind in ("missing", "string_too_short"):
        message = _required_by_message(schema, loc)
        if message is not None:
            return message
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        node = schema_at(schema, loc) or {}
        allowed = ", ".join(f'"{option}"' for option in node.get("enum", ()))
        return f"must be one of {allowed}; got {_show(value)}"
    simple = {
        "string_type": "must be a string",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be an integer",
        "bool_type": "must be a boolean",
        "bool_parsing": "must be a boolean",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
    }
    if kind in simple:
        return f"{simple[kind]}; got {_show(value)}"
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long; got {len(str(value))}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} items"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "greater_than_equal":
        return f"must be greater than or equal to {ctx.get('ge')}; got {_show(value)}"
    if kind == "less_than_equal":
        return f"must be less than or equal to {ctx.get('le')}; got {_show(value)}"
    if kind == "string_pattern_mismatch":
        return f'must match the pattern "{ctx.get("pattern")}"; got {_show(value)}'
    return f"{error['msg']}; got {_show(value)}"


def _field_errors(info: KindInfo, error: ValidationError) -> list[FieldError]:
    schema = kind_schema(info)
    found: dict[FieldError, None] = {}  # ordered and deduplicated in linear time, whatever the input's size
    for detail in error.errors(include_url=False):
        found.setdefault(FieldError(_render_path(schema, detail["loc"]), _message(schema, detail)))
    return list(found)


# ---------------------------------------------------------------------------------------------------------------
# CEL rules with a Python twin


@functools.cache
def _has_rules_below(model: type[BaseModel]) -> bool:
    """Whether a model or anything nested in it carries a CEL rule with a Python twin."""
    if issubclass(model, ApiModel) and any(rule.check for rule in model.cel_rules):
        return True
    return any(_has_rules_below(nested) for nested in _nested_models(model))


def _nested_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    def walk(tp: Any) -> Iterator[type[BaseModel]]:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            yield tp
        for arg in typing.get_args(tp):
            yield from walk(arg)

    for info in model.model_fields.values():
        yield from walk(info.annotation)


def _rule_errors(value: Any, path: str) -> Iterator[FieldError]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _rule_errors(item, f"{path}[{index}]")
        return
    if not isinstance(value, ApiModel) or not _has_rules_below(type(value)):
        return
    for rule in value.cel_rules:
        if rule.check is not None and not rule.check(value):
            where = f"{path}{rule.field_path}" if rule.field_path else path
            yield FieldError(where, rule.message)
    for name, info in type(value).model_fields.items():
        child = getattr(value, name)
        key = wire_name(name, info)
        yield from _rule_errors(child, f"{path}.{key}" if path else key)


# ---------------------------------------------------------------------------------------------------------------
# Immutable fields


Steps = tuple[tuple[str, str], ...]


def _immutable_paths(model: type[BaseModel], prefix: Steps) -> Iterator[Steps]:
    """Paths, as (attribute, wire name) steps, of every immutable field reachable through nested objects."""
    for name, info in model.model_fields.items():
        step = (*prefix, (name, wire_name(name, info)))
        if any(isinstance(hint, Immutable) for hint in info.metadata):
            yield step
        candidates = typing.get_args(info.annotation) or (info.annotation,)
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, ApiModel):
                yield from _immutable_paths(candidate, step)


_IMMUTABLE: dict[type[BaseModel], tuple[Steps, ...]] = {
    info.model: tuple(_immutable_paths(info.model, ())) for info in KINDS
}


def _lookup(obj: Any, steps: Steps) -> Any:
    for attribute, _ in steps:
        obj = getattr(obj, attribute, None)
        if obj is None:
            return None
    return obj


def _transition_errors(info: KindInfo, new: CustomResource, old_raw: dict[str, Any]) -> Iterator[FieldError]:
    paths = _IMMUTABLE[info.model]
    if not paths:
        return
    try:
        old = info.model.model_validate(old_raw)
    except ValidationError:
        return
    for steps in paths:
        before, after = _lookup(old, steps), _lookup(new, steps)
        if before is not None and after is not None and before != after:
            path = ".".join(wire for _, wire in steps)
            yield FieldError(path, f'{path} is immutable: it was "{before}", now "{after}"')
