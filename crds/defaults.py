"""Structural defaulting, as the API server does it, computed without touching the object.

The mutating webhook must report the defaults it applies as patch operations against the raw object (so unknown
fields survive and no deep copy or diff is needed on the hot path). `missing_defaults` therefore lists, in
parent-before-child order, each default that is absent from the raw object: a key that is missing, or null,
inside an object that exists, including objects that are themselves being defaulted. Applying the list in order
(JSON Patch `add`) yields what the API server's defaulting would. The defaults come from the generated schemas,
which come from the models: one source.

Walk plans are compiled per kind at import time, so a call only visits the parts of the object that can hold
defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crds.registry import KINDS, UnknownKindError
from crds.schema import Schema, kind_schema

Path = tuple[str | int, ...]
Default = tuple[Path, Any]


def _factory(value: Any) -> Callable[[], Any]:
    """A maker of fresh copies: the caller may insert and modify what it gets."""
    if isinstance(value, dict):
        return dict if not value else lambda: copy.deepcopy(value)
    if isinstance(value, list):
        return list if not value else lambda: copy.deepcopy(value)
    return lambda: value


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where defaults can appear below one schema node."""

    properties: tuple[tuple[str, Callable[[], Any] | None, _Plan | None], ...]
    items: _Plan | None
    values: _Plan | None


def _compile(schema: Schema) -> _Plan | None:
    """The plan for a schema node, or None when nothing below it has a default."""
    properties: list[tuple[str, Callable[[], Any] | None, _Plan | None]] = []
    for key, child in schema.get("properties", {}).items():
        plan = _compile(child)
        make = _factory(child["default"]) if "default" in child else None
        if make is not None or plan is not None:
            properties.append((key, make, plan))
    items = _compile(schema["items"]) if isinstance(schema.get("items"), dict) else None
    additional = schema.get("additionalProperties")
    values = _compile(additional) if isinstance(additional, dict) else None
    if not properties and items is None and values is None:
        return None
    return _Plan(tuple(properties), items, values)


_PLANS: dict[tuple[str, str], _Plan | None] = {(info.group, info.kind): _compile(kind_schema(info)) for info in KINDS}


def _visit(plan: _Plan, value: Any, path: Path, found: list[Default]) -> None:
    if isinstance(value, dict):
        for key, make, child in plan.properties:
            current = value.get(key)
            if current is None:
                if make is None:
                    continue
                current = make()
                found.append(((*path, key), current))
            if child is not None:
                _visit(child, current, (*path, key), found)
        if plan.values is not None:
            for key, item in value.items():
                _visit(plan.values, item, (*path, key), found)
    elif isinstance(value, list) and plan.items is not None:
        for index, item in enumerate(value):
            _visit(plan.items, item, (*path, index), found)


def missing_defaults(group: str, kind: str, raw_object: dict[str, Any]) -> list[Default]:
    """Each (path from the object root, value) default the API server would add to `raw_object`.

    Parent before child: a defaulted object comes before the defaults inside it. Values are fresh copies.
    The input is not modified. Raises UnknownKindError for a kind that is not served.
    """
    try:
        plan = _PLANS[(group, kind)]
    except KeyError:
        raise UnknownKindError(f"{kind}.{group} is not a kind served by tenantgate") from None
    found: list[Default] = []
    if plan is not None:
        _visit(plan, raw_object, (), found)
    return found


def with_defaults(group: str, kind: str, raw_object: dict[str, Any]) -> dict[str, Any]:
    """A defaulted deep copy of `raw_object` (for offline review and tests; admission uses missing_defaults)."""
    result = copy.deepcopy(raw_object)
    for path, value in missing_defaults(group, kind, raw_object):
        parent: Any = result
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value
    return result
