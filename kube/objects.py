"""Small accessors over raw Kubernetes objects (plain dicts as they come off the wire).

The engine works on the raw JSON rather than on typed models so that fields it does not know are never lost on the
way through a cache, a patch or a status write; these helpers keep the `obj.get("metadata", {}).get(...)`
noise out of the logic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]
"""A Kubernetes object as decoded JSON."""


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid", ""))


def generation_of(obj: Mapping[str, Any]) -> int:
    value = meta(obj).get("generation")
    return int(value) if isinstance(value, int) else 0


def resource_version_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("resourceVersion", ""))


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    value = meta(obj).get("labels")
    return value if isinstance(value, Mapping) else {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    value = meta(obj).get("annotations")
    return value if isinstance(value, Mapping) else {}


def finalizers_of(obj: Mapping[str, Any]) -> list[str]:
    value = meta(obj).get("finalizers")
    return [str(f) for f in value] if isinstance(value, list) else []


def owner_references_of(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = meta(obj).get("ownerReferences")
    return [ref for ref in value if isinstance(ref, Mapping)] if isinstance(value, list) else []


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def object_key(obj: Mapping[str, Any]) -> str:
    """The cache and queue key: `namespace/name`, or `name` for cluster-scoped objects (as in client-go)."""
    return make_key(namespace_of(obj), name_of(obj))


def make_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """`ns/name` -> (ns, name); `name` -> ("", name)."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def group_of(api_version: str) -> str:
    """`apps/v1` -> `apps`; `v1` -> `` (the core group)."""
    return api_version.rpartition("/")[0]


def describe(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name` for log lines and Event notes."""
    return f"{obj.get('kind', '?')} {object_key(obj)}"


LABEL_NAME_MAX = 63


def fit_name(base: str, suffix: str, limit: int = LABEL_NAME_MAX) -> str:
    """`<base>-<suffix>`, shortened to `limit` characters without losing uniqueness.

    Child names must be DNS labels (Services, and Jobs whose name becomes a label value). Plain truncation would
    give two long owners with a common prefix the same child; a short hash of the full base keeps them apart.
    """
    name = f"{base}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    room = limit - len(suffix) - len(digest) - 2
    return f"{base[: max(room, 1)].rstrip('-')}-{digest}-{suffix}"
