"""Structured `key=value` log lines.

Admission logs are read by people grepping for one review's uid or one object's namespace/name, and by
log pipelines that split on spaces: every line is `event key=value ...`, values quoted only when they
need it, so both readers get a stable shape without a JSON logging dependency.
"""

from __future__ import annotations

from collections.abc import Mapping

_NEEDS_QUOTES = frozenset(' "=\\\n\r\t')


def _render(value: object) -> str:
    text = "" if value is None else str(value)
    if text and not any(ch in _NEEDS_QUOTES for ch in text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def kv(event: str, fields: Mapping[str, object] | None = None, /, **more: object) -> str:
    """Render `event key=value ...`; fields keep their given order (uid first reads best)."""
    parts = [event]
    for source in (fields or {}, more):
        for key, value in source.items():
            parts.append(f"{key}={_render(value)}")
    return " ".join(parts)
