"""The API server's own checks of a custom object, offline: strict decoding, null pruning, defaulting, the
structural schema and its CEL rules, in the API server's order and with its wording.

`tenantgate review` must never say "admitted" for an object the API server refuses, so it runs the generated
CRD's `openAPIV3Schema` itself instead of trusting the models to agree with it. The messages are the API
server's (`spec.availability: Unsupported value: "extreme": supported values: "high", "standard"`), so a user
who reads review's output recognises what `kubectl apply` would print.

Only what the generated schemas use is implemented: types and formats (int32, int64, date-time), enums,
required, patterns, string, list and object bounds, int-or-string, preserve-unknown-fields, map semantics,
defaults, and CEL rules (`self`, `oldSelf`, `has()`, `size()`, comparisons, string concatenation in message
expressions), evaluated with a CEL library (`cel`, compiled once per rule).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from crds.common import KindInfo
from crds.schema import Schema, kind_schema, validations

Stage = Literal["decode", "schema", "cel"]

_RFC3339: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_INT_RANGES: Final = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_TOP_LEVEL: Final = frozenset({"apiVersion", "kind", "metadata"})


@dataclass(frozen=True, slots=True)
class ApiError:
    """One refusal as the API server words it: `<path>: <message>` (path empty for decode errors)."""

    stage: Stage
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _quote(value: Any) -> str:
    """A value as the API server's field errors show it (`"text"`, `5`, `true`)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    if value is None:
        return '"null"'
    return str(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---------------------------------------------------------------------------------------------------------------
# Decoding: unknown fields (strict field validation) and nulls.


def unknown_fields(value: Any, schema: Schema, path: str = "") -> Iterator[str]:
    """Paths of fields the schema does not know (what strict field validation reports), in document order."""
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}[{index}]")
        return
    if not isinstance(value, dict) or schema.get("type") not in ("object", None):
        return
    properties = schema.get("properties", {})
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        if not path and key in _TOP_LEVEL:
            continue
        if key in properties:
            yield from unknown_fields(item, properties[key], _child(path, key))
        elif isinstance(additional, dict):
            yield from unknown_fields(item, additional, f"{path}[{key}]")
        elif not schema.get("x-kubernetes-preserve-unknown-fields") and not additional:
            yield _child(path, key)


def prune_nulls(value: Any, schema: Schema) -> Any:
    """The value without nulls of non-nullable fields (the API server drops them before defaulting)."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        result = {}
        for key, item in value.items():
            child = properties.get(key) or (additional if isinstance(additional, dict) else None)
            if item is None and child is not None and not child.get("nullable"):
                continue
            result[key] = prune_nulls(item, child) if child is not None else item
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune_nulls(item, schema["items"]) for item in value]
    return value


def apply_defaults(value: Any, schema: Schema) -> Any:
    """The value with the schema's defaults set where fields are absent (recursively, into defaults too)."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        result = dict(value)
        for key, child in properties.items():
            if key not in result and "default" in child:
                result[key] = copy.deepcopy(child["default"])
            if key in result:
                result[key] = apply_defaults(result[key], child)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in list(result):
                if key not in properties:
                    result[key] = apply_defaults(result[key], additional)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in value]
    return value


# ---------------------------------------------------------------------------------------------------------------
# The structural schema.


def _type_errors(value: Any, schema: Schema, path: str) -> list[ApiError]:
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [
                ApiError(
                    "schema",
                    path,
                    f"Invalid value: {_quote(value)}: {path} in body must be of type integer,string: {_quote(value)}",
                )
            ]
        return []
    expected = schema.get("type")
    if expected is None:
        return []
    actual = _type_name(value)
    if actual == expected or (expected == "number" and actual == "integer"):
        return []
    return [
        ApiError(
            "schema",
            path,
            f"Invalid value: {json.dumps(actual)}: {path} in body must be of type {expected}: {json.dumps(actual)}",
        )
    ]


def _scalar_errors(value: Any, schema: Schema, path: str) -> Iterator[ApiError]:
    shown = _quote(value)
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(option) for option in sorted(schema["enum"]))
        yield ApiError("schema", path, f"Unsupported value: {shown}: supported values: {allowed}")
        return
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield ApiError("schema", path, f"Too long: may not be more than {schema['maxLength']} bytes")
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield ApiError(
                "schema",
                path,
                f"Invalid value: {shown}: {path} in body should be at least {schema['minLength']} chars long",
            )
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield ApiError("schema", path, f"Invalid value: {shown}: {path} in body should match '{schema['pattern']}'")
        if schema.get("format") == "date-time" and not _RFC3339.match(value):
            yield ApiError("schema", path, f"Invalid value: {shown}: {path} in body must be of type date-time: {shown}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        bounds = _INT_RANGES.get(schema.get("format", ""))
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            yield ApiError(
                "schema",
                path,
                f"Invalid value: {shown}: {path} in body should be "
                f"{'less' if value > bounds[1] else 'greater'} than or equal to "
                f"{bounds[1] if value > bounds[1] else bounds[0]}",
            )
        if "minimum" in schema and value < schema["minimum"]:
            yield ApiError(
                "schema",
                path,
                f"Invalid value: {shown}: {path} in body should be greater than or equal to {schema['minimum']}",
            )
        if "maximum" in schema and value > schema["maximum"]:
            yield ApiError(
                "schema",
                path,
                f"Invalid value: {shown}: {path} in body should be less than or equal to {schema['maximum']}",
            )


def schema_errors(value: Any, schema: Schema, path: str = "") -> list[ApiError]:
    """What the structural schema refuses in `value` (after pruning and defaulting), as the API server says it."""
    errors = _type_errors(value, schema, path) if path else []
    if errors:
        return errors
    found = list(_scalar_errors(value, schema, path))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(
                ApiError("schema", path, f"Too many: {len(value)}: must have at most {schema['maxItems']} items")
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            found.append(
                ApiError(
                    "schema",
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least {schema['minItems']} items",
                )
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                found.extend(schema_errors(item, items, f"{path}[{index}]"))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                found.append(ApiError("schema", _child(path, key), "Required value"))
        for key, item in value.items():
            if key in properties:
                if path or key not in _TOP_LEVEL:
                    found.extend(schema_errors(item, properties[key], _child(path, key)))
            elif isinstance(schema.get("additionalProperties"), dict):
                found.extend(schema_errors(item, schema["additionalProperties"], _child(path, key)))
    return found


# ---------------------------------------------------------------------------------------------------------------
# CEL rules.


@functools.cache
def _program(expression: str) -> Any:
    # Imported on first use: the package also loads its interactive shell (~12 MiB, ~1 s), which the webhook,
    # judging objects the API server has already validated, needs only on a refusal's path, if ever.
    import cel

    return cel.compile(expression)


def _evaluate(expression: str, context: dict[str, Any]) -> Any:
    return _program(expression).execute(context)


def cel_errors(value: Any, old: Any, schema: Schema, path: str = "", *, has_old: bool = False) -> list[ApiError]:
    """What the `x-kubernetes-validations` rules refuse, bottom-up as the API server evaluates them.

    A transition rule (one naming `oldSelf`) runs only where an old value exists (an UPDATE with the field set
    before and after). Rules run only on values that passed the schema.
    """
    found: list[ApiError] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties and (path or key not in _TOP_LEVEL):
                child_old = old.get(key) if isinstance(old, dict) else None
                child_has_old = has_old and isinstance(old, dict) and key in old
                found.extend(cel_errors(item, child_old, properties[key], _child(path, key), has_old=child_has_old))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found.extend(cel_errors(item, None, schema["items"], f"{path}[{index}]"))
    for rule in schema.get("x-kubernetes-validations", ()):
        transition = "oldSelf" in rule["rule"]
        if transition and not has_old:
            continue
        context = {"self": value, "oldSelf": old} if transition else {"self": value}
        if _evaluate(rule["rule"], context) is True:
            continue
        message = rule.get("message", "")
        if rule.get("messageExpression"):
            message = str(_evaluate(rule["messageExpression"], context))
        where = path + rule["fieldPath"] if rule.get("fieldPath") else path
        if rule.get("reason") == "FieldValueRequired":
            found.append(ApiError("cel", where, f"Required value: {message}"))
        else:
            found.append(ApiError("cel", where, f"Invalid value: {json.dumps(_type_name(value))}: {message}"))
    return found


# ---------------------------------------------------------------------------------------------------------------
# The whole sequence.


@dataclass(frozen=True, slots=True)
class Decoded:
    """The object as the API server decodes it (nulls pruned), or why it refused.

    The schema's defaults are left to the mutating webhook, which sets exactly the same ones and so shows them
    as a patch; `validate` applies them again (idempotently) in case a webhook was not in the path.
    """

    obj: dict[str, Any]
    errors: tuple[ApiError, ...]


def decode(info: KindInfo, raw: dict[str, Any]) -> Decoded:
    """Strict decoding and null pruning, in the API server's order (before admission)."""
    schema = kind_schema(info)
    unknown = list(unknown_fields(raw, schema))
    if unknown:
        fields = ", ".join(f'unknown field "{field}"' for field in unknown)
        message = (
            f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: strict decoding '
            f"error: {fields}"
        )
        return Decoded(raw, (ApiError("decode", "", message),))
    return Decoded(prune_nulls(raw, schema), ())


def validate(info: KindInfo, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[ApiError]:
    """The schema's and the CEL rules' refusals of an object after mutating admission (an update from `old`)."""
    schema = kind_schema(info)
    obj = apply_defaults(obj, schema)
    errors = schema_errors(obj, schema)
    if any(_blocks_cel(error) for error in errors):
        # The API server says so only for kinds that have CEL rules at all.
        return [*errors, ApiError("schema", "<nil>", CEL_NOT_CHECKED)] if validations(info) else errors
    if old is not None:
        old = apply_defaults(old, schema)
    return [*errors, *cel_errors(obj, old, schema, has_old=old is not None)]


CEL_NOT_CHECKED: Final = (
    'Invalid value: "null": some validation rules were not checked because the object was invalid; correct the '
    "existing errors to complete validation"
)
_BLOCKING: Final = ("Unsupported value:", "Required value", "Too long:", "Too many:")


def _blocks_cel(error: ApiError) -> bool:
    """Whether the API server skips the CEL rules because of this error (a wrong type, enum, size or absence)."""
    return error.message.startswith(_BLOCKING) or " must be of type " in error.message


def invalid_message(info: KindInfo, name: str, errors: list[ApiError]) -> str:
    """The text kubectl prints for an invalid object: `The Shop "tea" is invalid: <error>`, one `* ` line each."""
    if errors and errors[0].stage == "decode":
        return errors[0].message
    if len(errors) == 1:
        return f'The {info.kind} "{name}" is invalid: {errors[0]}'
    listed = "".join(f"\n* {error}" for error in errors)
    return f'The {info.kind} "{name}" is invalid: {listed}'
