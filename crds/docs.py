"""Render docs/api.md, the API reference, from the registry and the generated schemas.

The reference is generated rather than written so that it cannot drift from what the API server enforces: a unit
test fails when the committed file differs from `render()`. Run `python -m crds.docs` to refresh it.
"""

from __future__ import annotations

import json
import pathlib
import re
import sys
from collections.abc import Iterator
from typing import Any

from crds.common import KindInfo
from crds.registry import KINDS
from crds.schema import Schema, kind_schema, validations

DOC_PATH = pathlib.Path(__file__).resolve().parent.parent / "docs" / "api.md"

_DEFAULT_SENTENCE = re.compile(r" Defaults to .*$")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _code(value: Any) -> str:
    return f"`{json.dumps(value)}`"


def _is_conditions(node: Schema) -> bool:
    return node.get("x-kubernetes-list-map-keys") == ["type"] and "status" in node.get("items", {}).get(
        "properties", {}
    )


def _type_name(node: Schema) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    if _is_conditions(node):
        return "[]Condition"
    kind = node.get("type", "")
    if "enum" in node:
        return " | ".join(f"`{value}`" for value in node["enum"])
    if kind == "array":
        return f"[]{_type_name(node.get('items', {}))}"
    if kind == "object":
        if node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties"):
            return "object (free-form)"
        if isinstance(node.get("additionalProperties"), dict):
            return f"map[string]{_type_name(node['additionalProperties'])}"
        return "object"
    if "format" in node:
        return f"{kind} ({node['format']})"
    return str(kind)


def _constraints(node: Schema) -> list[str]:
    words = []
    for key, label in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("maxProperties", "max entries"),
    ):
        if key in node and not (key == "maxLength" and "enum" in node):
            words.append(f"{label} {node[key]}")
    if "pattern" in node and not node.get("x-kubernetes-int-or-string"):
        words.append(f"pattern `{node['pattern']}`")
    if node.get("x-kubernetes-int-or-string"):
        words.append("quantity")
    for rule in node.get("x-kubernetes-validations", ()):
        if rule["rule"] == "self == oldSelf":
            words.append("immutable")
    return words


def _rule_required(node: Schema) -> set[str]:
    return {
        rule["fieldPath"].lstrip(".")
        for rule in node.get("x-kubernetes-validations", ())
        if rule.get("reason") == "FieldValueRequired" and rule.get("message", "").endswith("is required")
    }


def _rows(node: Schema, path: str) -> Iterator[str]:
    required = set(node.get("required", ()))
    by_rule = _rule_required(node)
    for key, child in node.get("properties", {}).items():
        child_path = f"{path}.{key}"
        needed = "yes" if key in required or key in by_rule else ""
        default = _code(child["default"]) if "default" in child else ""
        description = _DEFAULT_SENTENCE.sub("", child.get("description", ""))
        notes = _constraints(child)
        items = child.get("items", {})
        if items.get("type") not in (None, "object"):
            notes.extend(f"each item: {note}" for note in _constraints(items))
        if notes:
            description = f"{description} ({'; '.join(notes)})"
        yield (f"| `{child_path}` | {_cell(_type_name(child))} | {needed} | {_cell(default)} | {_cell(description)} |")
        if _is_conditions(child):
            continue
        if child.get("type") == "object":
            yield from _rows(child, child_path)
        elif child.get("type") == "array" and child.get("items", {}).get("type") == "object":
            yield from _rows(child["items"], f"{child_path}[]")


def _kind_section(info: KindInfo) -> Iterator[str]:
    schema = kind_schema(info)
    yield f"## {info.kind} — `{info.api_version}`"
    yield ""
    yield str(schema["description"])
    yield ""
    yield f"- Resource: `{info.plural}` (singular `{info.singular}`), {info.scope.lower()} scope"
    if info.short_names:
        yield f"- Short names: {', '.join(f'`{name}`' for name in info.short_names)}"
    if info.categories:
        yield f"- Categories: {', '.join(f'`{name}`' for name in info.categories)}"
    subresources = ["status"] if info.status_subresource else []
    if info.scale is not None:
        subresources.append(
            f"scale (replicas `{info.scale.spec_replicas_path}`, status `{info.scale.status_replicas_path}`, "
            f"selector `{info.scale.label_selector_path}`)"
        )
    yield f"- Subresources: {', '.join(subresources) or 'none'}"
    columns = ", ".join(
        f"`{column.name}` ({column.json_path}{', wide' if column.priority else ''})" for column in info.printer_columns
    )
    yield f"- Printer columns: {columns}"
    yield f"- Compatible with: {info.origin}"
    yield f"- `spec` is {'required' if info.spec_required else 'optional'}"
    yield ""
    yield "### What the controller builds"
    yield ""
    yield info.builds.rstrip()
    yield ""
    yield "### Fields"
    yield ""
    yield "| field | type | required | default | description |"
    yield "|---|---|---|---|---|"
    for part in ("spec", "status"):
        node = schema["properties"][part]
        needed = "yes" if part in schema.get("required", ()) else ""
        yield f"| `{part}` | object | {needed} |  | {_cell(node['description'])} |"
        yield from _rows(node, part)
    rules = validations(info)
    if rules:
        yield ""
        yield "### Validation rules (CEL, enforced by the API server)"
        yield ""
        yield "| on | rule | message |"
        yield "|---|---|---|"
        for path, rule in rules:
            rule_text = rule["rule"].replace("|", "\\|")
            yield f"| `{path}` | `{rule_text}` | {_cell(rule['message'])} |"
    yield ""


def _condition_section() -> Iterator[str]:
    yield "## Condition"
    yield ""
    yield "Every kind's `status.conditions` is a list of conditions, one per `type` (merged by type):"
    yield ""
    yield "| field | type | required | description |"
    yield "|---|---|---|---|"
    conditions = kind_schema(KINDS[0])["properties"]["status"]["properties"]["conditions"]["items"]
    for key, node in conditions["properties"].items():
        needed = "yes" if key in conditions.get("required", ()) else ""
        notes = _constraints(node)
        description = node["description"] + (f" ({'; '.join(notes)})" if notes else "")
        yield f"| `{key}` | {_cell(_type_name(node))} | {needed} | {_cell(description)} |"
    yield ""


def render() -> str:
    """The whole reference as Markdown."""
    lines = [
        "# tenantgate API reference",
        "",
        "Generated from the models in `crds/` (`python -m crds.docs`); the CustomResourceDefinitions in",
        "`deploy/chart/crds/` come from the same models. Every kind has a `status` subresource whose",
        "`conditions` follow the Condition shape below. Defaults are applied by the API server.",
        "",
        "| kind | apiVersion | scope | short names | compatible with |",
        "|---|---|---|---|---|",
    ]
    for info in KINDS:
        lines.append(
            f"| [{info.kind}](#{info.kind.lower()}--{info.api_version.replace('.', '').replace('/', '')}) "
            f"| `{info.api_version}` | {info.scope} | {', '.join(info.short_names)} | {info.origin} |"
        )
    lines.append("")
    for info in KINDS:
        lines.extend(_kind_section(info))
    lines.extend(_condition_section())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write docs/api.md (or the path given as the only argument)."""
    args = sys.argv[1:] if argv is None else argv
    target = pathlib.Path(args[0]) if args else DOC_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
