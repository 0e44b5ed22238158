"""How rules name things in their messages: quoted values, `Kind "name"`, the verb of the operation.

Deny messages follow one shape (the field path, the offending value, the rule, what is allowed instead); these
small readers keep the pieces identical across rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from admission.protocol import AdmissionRequest
from admission.verdict import MalformedObject


def q(value: object) -> str:
    """A value quoted for a message: strings in double quotes (JSON escaping), others as JSON."""
    if isinstance(value, str) and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # the common case, without the encoder
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def spec_of(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def list_at(container: Mapping[str, Any], key: str, path: str) -> list[Any]:
    """`container[key]` as a list, empty when absent or null; another type raises `MalformedObject` naming `path`."""
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedObject(path, "an array", value)
    return value


def metadata_of(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = (obj or {}).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def object_name(request: AdmissionRequest) -> str:
    return str(metadata_of(request.subject).get("name") or request.name or "<generated>")


def describe(request: AdmissionRequest) -> str:
    """`Shop "web"` for messages."""
    return f"{request.kind.kind} {q(object_name(request))}"


def verb(request: AdmissionRequest) -> str:
    return {"CREATE": "create", "UPDATE": "update", "DELETE": "delete"}.get(request.operation, "change")


def being_deleted(request: AdmissionRequest) -> bool:
    """An UPDATE of an object that already has a deletionTimestamp (finalizer removal must always pass)."""
    return request.operation == "UPDATE" and bool(metadata_of(request.object).get("deletionTimestamp"))
