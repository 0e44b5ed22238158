"""JSON merge patch (RFC 7386) computed from an old and a wanted document: the status writer's diff.

Keys absent from `wanted` are left alone (other writers may own them); a key set to None in `wanted` is
removed. An empty patch means "nothing to write".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_patch(old: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> dict[str, Any]:
    old = old or {}
    patch: dict[str, Any] = {}
    for key, value in wanted.items():
        if value is None:
            if key in old:
                patch[key] = None
            continue
        current = old.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            nested = merge_patch(current, value)
            if nested:
                patch[key] = nested
        elif current != value:
            patch[key] = _strip_nulls(value)
    return patch


def apply_merge_patch(document: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 application (used by tests and by the status writer's write-through)."""
    result = dict(document or {})
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            current = result.get(key)
            result[key] = apply_merge_patch(current if isinstance(current, Mapping) else {}, value)
        else:
            result[key] = value
    return result


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value
