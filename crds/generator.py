"""Render the served kinds as CustomResourceDefinitions (`tenantgate crds`).

The output is deterministic: documents are built in a fixed key order and sorted by name, and YAML is written
with a fixed width, so generating twice gives identical bytes and a diff of the committed files shows only real
API changes.
"""

from __future__ import annotations

import copy
import pathlib
import sys
from typing import Any

import yaml

from crds.common import KindInfo
from crds.registry import KINDS
from crds.schema import kind_schema

PART_OF_LABEL = {"app.kubernetes.io/part-of": "tenantgate"}


def _printer_columns(info: KindInfo) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = []
    for column in info.printer_columns:
        entry: dict[str, Any] = {
            "name": column.name,
            "type": column.type,
            "description": column.description,
            "jsonPath": column.json_path,
        }
        if column.priority:
            entry["priority"] = column.priority
        columns.append(entry)
    return columns


def _subresources(info: KindInfo) -> dict[str, Any]:
    subresources: dict[str, Any] = {}
    if info.status_subresource:
        subresources["status"] = {}
    if info.scale is not None:
        scale = {
            "specReplicasPath": info.scale.spec_replicas_path,
            "statusReplicasPath": info.scale.status_replicas_path,
        }
        if info.scale.label_selector_path:
            scale["labelSelectorPath"] = info.scale.label_selector_path
        subresources["scale"] = scale
    return subresources


def crd_for(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": info.list_kind,
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.categories:
        names["categories"] = list(info.categories)
    version: dict[str, Any] = {
        "name": info.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": kind_schema(info)},
    }
    subresources = _subresources(info)
    if subresources:
        version["subresources"] = subresources
    if info.printer_columns:
        version["additionalPrinterColumns"] = _printer_columns(info)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name, "labels": dict(PART_OF_LABEL)},
        "spec": {"group": info.group, "names": names, "scope": info.scope, "versions": [version]},
    }


def generate_crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition, sorted by name. Pure: builds new dictionaries on each call."""
    documents = [crd_for(info) for info in KINDS]
    documents.sort(key=lambda document: str(document["metadata"]["name"]))
    # kind_schema is cached: hand out copies so callers may modify what they get.
    return copy.deepcopy(documents)


class _Dumper(yaml.SafeDumper):
    """Block style, insertion order, no aliases (the same rule dict may appear twice)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(document: dict[str, Any]) -> str:
    """One document as deterministic YAML."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def file_name(document: dict[str, Any]) -> str:
    """`<plural>.<group>.yaml`, the CRD's own name."""
    return f"{document['metadata']['name']}.yaml"


def render_files() -> dict[str, str]:
    """File name to content, for every CRD."""
    return {file_name(document): to_yaml(document) for document in generate_crds()}


def run_cli(output: pathlib.Path | None) -> int:
    """Write one file per CRD into `output`, or every CRD to stdout as a multi-document stream."""
    files = render_files()
    if output is None:
        sys.stdout.write("".join(f"---\n{content}" for content in files.values()))
        return 0
    output.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = output / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    return 0
